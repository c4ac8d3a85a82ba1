"""Pandera schemas of the export tables, from the column lists the builder shapes frames into."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from platform_assets.cleaned.schemas import EMAIL_PATTERN
from platform_assets.exports.build import TABLE_COLUMNS
from platform_assets.exports.settings import EXCLUSION_REASONS
from resources.export_dir import FILE_NAME

# One name per layer: the Dagster group, the asset key prefix and the DuckDB schema.
LAYER = "exports"

REQUIRED = {
    "audiences": {
        "as_of_date",
        "audience_id",
        "audience_name",
        "description",
        "size",
        "segment_members",
        "consent_snapshot_sha256",
        *(f"excluded_{reason}" for reason in EXCLUSION_REASONS),
    },
    "people": {"as_of_date", "customer_id", "email"},
    "audience_memberships": {"as_of_date", "audience_id", "customer_id"},
}
KEYS = {
    "audiences": ["as_of_date", "audience_id"],
    "people": ["as_of_date", "customer_id"],
    "audience_memberships": ["as_of_date", "audience_id", "customer_id"],
}
COLUMNS: dict[str, dict[str, type[pl.DataType]]] = TABLE_COLUMNS
CHECKS = {
    "size": [pa.Check.ge(0)],
    "segment_members": [pa.Check.ge(0)],
    **{f"excluded_{reason}": [pa.Check.ge(0)] for reason in EXCLUSION_REASONS},
    "consent_snapshot_sha256": [pa.Check.str_matches(r"^[0-9a-f]{64}$")],
    "email": [pa.Check.str_matches(EMAIL_PATTERN)],
    # The audience id becomes the CSV file name: a name the export directory would refuse fails
    # this blocking check, before any file is written.
    "audience_id": [pa.Check.str_matches(FILE_NAME.pattern)],
}


def export_schema(table: str) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            name: pa.Column(
                dtype, nullable=name not in REQUIRED[table], checks=CHECKS.get(name, [])
            )
            for name, dtype in COLUMNS[table].items()
        },
        strict=True,
        ordered=True,
        unique=KEYS[table],
        name=f"{LAYER}.{table}",
    )


SCHEMAS = {table: export_schema(table) for table in COLUMNS}
