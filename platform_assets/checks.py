"""Check logic shared by every layer: verdicts from counts and frames, then Dagster results."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandera.errors
import pandera.polars as pa
import polars as pl

from platform_assets.settings import VOLUME_HIGH_RATIO, VOLUME_LOW_RATIO


@dataclass(frozen=True)
class Verdict:
    passed: bool
    description: str
    metadata: dict[str, Any]


def column_schema(schema: pa.DataFrameSchema, order: list[str] | None = None) -> dg.TableSchema:
    """A pandera schema as the column list the Dagster UI shows on the asset."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                str(schema.columns[name].dtype),
                constraints=dg.TableColumnConstraints(nullable=schema.columns[name].nullable),
            )
            for name in order or list(schema.columns)
        ]
    )


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


def volume_verdict(current_rows: int, trailing_rows: list[int]) -> Verdict:
    """Compare a partition's row count to the median of the trailing partitions."""
    if not trailing_rows:
        return Verdict(True, "no earlier partitions to compare with", {"rows": current_rows})
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
