"""Check logic shared by every layer: verdicts from counts and frames, then Dagster results."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandera.errors
import pandera.polars as pa
import polars as pl

from platform_assets.columns import describe
from platform_assets.settings import (
    VOLUME_BASELINE_PARTITIONS,
    VOLUME_HIGH_RATIO,
    VOLUME_LOW_RATIO,
    VOLUME_TRAILING_PARTITIONS,
)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    description: str
    metadata: dict[str, Any]


def column_schema(
    schema: pa.DataFrameSchema, order: list[str] | None = None, note: str = ""
) -> dg.TableSchema:
    """A pandera schema as the column list the Dagster UI shows on the asset, each column
    described by its pandera description or else by `platform_assets.columns`; `note` is put
    before every description (raw: the values are as they landed)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                warehouse_type(schema.columns[name].dtype.type),
                description=_described(
                    schema.columns[name].description or describe(name),
                    # Lineage columns (`_source_file`, ...) are the platform's, not the file's.
                    "" if name.startswith("_") else note,
                ),
                constraints=dg.TableColumnConstraints(nullable=schema.columns[name].nullable),
            )
            for name in order or list(schema.columns)
        ]
    )


def warehouse_type(dtype: pl.DataType) -> str:
    """A polars type by the name DuckDB gives it, as the dbt models' columns are shown."""
    if isinstance(dtype, pl.Datetime):
        return "timestamp with time zone" if dtype.time_zone else "timestamp"
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision},{dtype.scale})"
    names = {pl.String: "varchar", pl.Int64: "bigint", pl.Int32: "integer",
             pl.Float64: "double", pl.Boolean: "boolean", pl.Date: "date"}  # fmt: skip
    return names.get(dtype.base_type(), str(dtype).lower())


def create_table_sql(table: str, schema: pa.DataFrameSchema) -> str:
    """`create table if not exists` from a pandera schema, so a table's columns, their types and
    which may be null are written down once (the schema check validates against the same)."""
    columns = ", ".join(
        f"{name} {warehouse_type(column.dtype.type)}{'' if column.nullable else ' not null'}"
        for name, column in schema.columns.items()
    )
    return f"create table if not exists {table} ({columns});"


def _described(description: str | None, note: str) -> str | None:
    return f"{note}{description}" if description else None


def check_results(
    verdicts: dict[str, Verdict], warnings: set[str], asset_key: dg.AssetKey | None = None
) -> list[dg.AssetCheckResult]:
    """One result per named verdict; those named in `warnings` only warn when they fail.

    `asset_key` names the checked asset where one step materializes several (a multi-asset).
    """
    return [
        dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=name,
            passed=verdict.passed,
            severity=dg.AssetCheckSeverity.WARN
            if name in warnings
            else dg.AssetCheckSeverity.ERROR,
            description=verdict.description,
            metadata=verdict.metadata,
        )
        for name, verdict in verdicts.items()
    ]


VOLUME_DESCRIPTION = (
    f"The partition's row count is within {VOLUME_LOW_RATIO:.0%} to {VOLUME_HIGH_RATIO:.0%} of"
    f" the median of the trailing {VOLUME_TRAILING_PARTITIONS} partitions that have rows, once"
    f" {VOLUME_BASELINE_PARTITIONS} exist."
)


def volume_verdict(current_rows: int, trailing_rows: list[int]) -> Verdict:
    """Compare a partition's row count to the median of the trailing partitions."""
    if len(trailing_rows) < VOLUME_BASELINE_PARTITIONS:
        # A source's first day is often a full snapshot and the next ones deltas: one or two
        # earlier days are no baseline, and judging against them warns on every new source.
        return Verdict(
            True,
            f"{len(trailing_rows)} earlier partition(s): judged once"
            f" {VOLUME_BASELINE_PARTITIONS} exist",
            {"rows": current_rows, "trailing_partitions": len(trailing_rows)},
        )
    median = statistics.median(trailing_rows)
    ratio = current_rows / median if median else (1.0 if current_rows == 0 else float("inf"))
    passed = VOLUME_LOW_RATIO <= ratio <= VOLUME_HIGH_RATIO
    description = (
        f"{current_rows} rows is {ratio:.0%} of the trailing median {median:g}"
        f" (expected {VOLUME_LOW_RATIO:.0%} to {VOLUME_HIGH_RATIO:.0%})"
    )
    return Verdict(
        passed,
        description,
        {
            "rows": current_rows,
            "trailing_median": float(median),
            "ratio": round(ratio, 3) if ratio != float("inf") else "inf",
            "trailing_partitions": len(trailing_rows),
        },
    )


def schema_verdict(
    schema: pa.DataFrameSchema | type[pa.DataFrameModel],
    frame: pl.DataFrame,
    table_schema: pl.Schema | None = None,
) -> Verdict:
    """Validate the collected rows written (a LazyFrame would only have its schema checked),
    and that the warehouse table has exactly the columns and types of those rows."""
    if table_schema is not None and dict(table_schema) != dict(frame.schema):
        differences = {
            name: f"table {table_schema.get(name)} vs rows {frame.schema.get(name)}"
            for name in sorted({*table_schema, *frame.schema})
            if table_schema.get(name) != frame.schema.get(name)
        }
        return Verdict(False, "table columns differ from the validated rows", differences)
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        failures = errors.failure_cases
        examples = failures.head(10).to_dicts() if isinstance(failures, pl.DataFrame) else []
        return Verdict(
            False,
            f"{len(failures)} schema failure(s)",
            {"failures": len(failures), "examples": examples},
        )
    return Verdict(True, f"{frame.height} rows match the schema", {"rows": frame.height})
