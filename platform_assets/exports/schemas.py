"""Pandera schemas of the export tables, from the column lists the builder shapes frames into."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from platform_assets.cleaned.schemas import EMAIL_PATTERN
from platform_assets.exports.build import AUDIENCE_COLUMNS, MEMBERSHIP_COLUMNS, PEOPLE_COLUMNS

REQUIRED = {
    "audiences": {"as_of_date", "audience_id", "audience_name", "description", "size"},
    "people": {"as_of_date", "customer_id", "email"},
    "audience_memberships": {"as_of_date", "audience_id", "customer_id"},
}
KEYS = {
    "audiences": ["as_of_date", "audience_id"],
    "people": ["as_of_date", "customer_id"],
    "audience_memberships": ["as_of_date", "audience_id", "customer_id"],
}
COLUMNS: dict[str, dict[str, type[pl.DataType]]] = {
    "audiences": AUDIENCE_COLUMNS,
    "people": PEOPLE_COLUMNS,
    "audience_memberships": MEMBERSHIP_COLUMNS,
}
CHECKS = {
    "size": [pa.Check.ge(0)],
    "segment_members": [pa.Check.ge(0)],
    "email": [pa.Check.str_matches(EMAIL_PATTERN)],
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
        name=f"exports.{table}",
    )
