"""Turn the parsed files of one source and day into the rows the raw layer writes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

import pandera.polars as pa
import polars as pl

from platform_assets.contract import SourceContract
from platform_assets.raw.parse import (
    EXTRA_COLUMNS,
    ROW_NUMBER,
    FileRejected,
    empty_rows,
    parse_landing_file,
)

PARTITION_DATE = "_partition_date"
SOURCE_FILE = "_source_file"
LOADED_AT = "_loaded_at"

LANDED_FILES_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "source": pl.Utf8,
    PARTITION_DATE: pl.Date,
    "file": pl.Utf8,
    "size_bytes": pl.Int64,
    "sha256": pl.Utf8,
    "status": pl.Utf8,  # loaded | rejected
    "reason": pl.Utf8,
    "rows_loaded": pl.Int64,
    "lines_rejected": pl.Int64,
    "duplicate_of": pl.Utf8,
    # The file had vanished from the landing zone; its archived copy was loaded.
    "from_archive": pl.Boolean,
    LOADED_AT: pl.Datetime("us", "UTC"),
}

REJECTED_LINES_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "source": pl.Utf8,
    PARTITION_DATE: pl.Date,
    "file": pl.Utf8,
    "row_number": pl.Int64,
    "raw_text": pl.Utf8,
    "reason": pl.Utf8,
    LOADED_AT: pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class LandedBytes:
    relative_path: str
    content: bytes
    sha256: str
    from_archive: bool = False


@dataclass
class PartitionLoad:
    rows: pl.DataFrame
    landed_files: pl.DataFrame
    rejected_lines: pl.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def rejected_files(self) -> pl.DataFrame:
        return self.landed_files.filter(pl.col("status") == "rejected")

    @property
    def duplicate_files(self) -> pl.DataFrame:
        return self.landed_files.filter(pl.col("duplicate_of").is_not_null())


def raw_table_schema(contract: SourceContract) -> pa.DataFrameSchema:
    """The raw table: every contract column as text, unknown columns as JSON, then lineage."""
    columns = {name: pa.Column(pl.Utf8, nullable=True) for name in contract.columns}
    columns[EXTRA_COLUMNS] = pa.Column(pl.Utf8, nullable=True)
    columns[ROW_NUMBER] = pa.Column(pl.Int64, nullable=False, checks=pa.Check.ge(1))
    columns[PARTITION_DATE] = pa.Column(pl.Date, nullable=False)
    columns[SOURCE_FILE] = pa.Column(pl.Utf8, nullable=False)
    columns[LOADED_AT] = pa.Column(pl.Datetime("us", "UTC"), nullable=False)
    return pa.DataFrameSchema(
        columns, strict=True, ordered=True, unique=[SOURCE_FILE, ROW_NUMBER], name=contract.name
    )


def load_partition(
    contract: SourceContract,
    partition_date: date,
    files: Iterable[LandedBytes],
    loaded_at: datetime,
) -> PartitionLoad:
    """Parse every file of the day. A rejected file is recorded, never fatal for the others.

    Identical content landed twice under another name is loaded both times (nothing is dropped
    here) and flagged; the cleaned layer then counts the second copy's rows as duplicates.
    """
    frames = [empty_rows(contract).with_columns(pl.lit(None, pl.Utf8).alias(SOURCE_FILE))]
    landed = []
    rejected_lines = []
    notes = []
    first_file_by_hash: dict[str, str] = {}
    for landed_bytes in files:
        record = {
            "source": contract.name,
            PARTITION_DATE: partition_date,
            "file": landed_bytes.relative_path,
            "size_bytes": len(landed_bytes.content),
            "sha256": landed_bytes.sha256,
            "duplicate_of": first_file_by_hash.get(landed_bytes.sha256),
            "from_archive": landed_bytes.from_archive,
            LOADED_AT: loaded_at,
        }
        first_file_by_hash.setdefault(landed_bytes.sha256, landed_bytes.relative_path)
        try:
            parsed = parse_landing_file(landed_bytes.relative_path, landed_bytes.content, contract)
        except FileRejected as rejection:
            landed.append(
                record
                | {"status": "rejected", "reason": str(rejection), "rows_loaded": 0}
                | {"lines_rejected": 0}
            )
            continue
        frames.append(
            parsed.rows.with_columns(pl.lit(landed_bytes.relative_path).alias(SOURCE_FILE))
        )
        notes += [f"{landed_bytes.relative_path}: {note}" for note in parsed.notes]
        landed.append(
            record
            | {"status": "loaded", "reason": "; ".join(parsed.notes) or None}
            | {"rows_loaded": parsed.rows.height, "lines_rejected": len(parsed.rejected_lines)}
        )
        rejected_lines += [
            {
                "source": contract.name,
                PARTITION_DATE: partition_date,
                "file": landed_bytes.relative_path,
                "row_number": line.row_number,
                "raw_text": line.raw_text,
                "reason": line.reason,
                LOADED_AT: loaded_at,
            }
            for line in parsed.rejected_lines
        ]
    rows = pl.concat(frames, how="vertical").with_columns(
        pl.lit(partition_date, pl.Date).alias(PARTITION_DATE),
        pl.lit(loaded_at, pl.Datetime("us", "UTC")).alias(LOADED_AT),
    )
    return PartitionLoad(
        rows=rows.select(list(raw_table_schema(contract).columns)),
        landed_files=pl.DataFrame(landed, schema=LANDED_FILES_SCHEMA),
        rejected_lines=pl.DataFrame(rejected_lines, schema=REJECTED_LINES_SCHEMA),
        notes=notes,
    )
