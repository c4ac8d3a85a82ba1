"""The export tables and files of one day, built from frames: no warehouse, no Dagster."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import polars as pl

from platform_assets.exports.consent import (
    consent_snapshot_sha256,
    member_exclusions,
)
from platform_assets.exports.recommendations import recommend_products, recommendation_tokens
from platform_assets.exports.settings import (
    AUDIENCE_DESCRIPTIONS,
    COUNTED_ORDER_STATUSES,
    EXCLUSION_REASONS,
    RECOMMENDATIONS_PER_PERSON,
)

AUDIENCE_COLUMNS = {
    "as_of_date": pl.Date,
    "audience_id": pl.String,
    "audience_name": pl.String,
    "description": pl.String,
    "size": pl.Int64,
    "segment_members": pl.Int64,
    # segment_members = size + every excluded_<reason>: the day's manifest reconciles it
    **{f"excluded_{reason}": pl.Int64 for reason in EXCLUSION_REASONS},
    "consent_snapshot_sha256": pl.String,
}
PEOPLE_COLUMNS = {
    "as_of_date": pl.Date,
    "customer_id": pl.String,
    "email": pl.String,
    "first_name": pl.String,
    "last_purchased_product": pl.String,
    "favourite_category": pl.String,
    **{
        column: pl.String
        for rank in range(1, RECOMMENDATIONS_PER_PERSON + 1)
        for column in (f"recommended_product_{rank}", f"recommended_product_{rank}_sku")
    },
    "because_you_bought": pl.String,
}
MEMBERSHIP_COLUMNS = {"as_of_date": pl.Date, "audience_id": pl.String, "customer_id": pl.String}
# The export tables by name (`exports.<name>` in the warehouse), each with its columns in order.
TABLE_COLUMNS: dict[str, dict[str, type[pl.DataType]]] = {
    "audiences": AUDIENCE_COLUMNS,
    "people": PEOPLE_COLUMNS,
    "audience_memberships": MEMBERSHIP_COLUMNS,
}
# A file is the people table for one audience, keyed by email as email platforms import it.
FILE_COLUMNS = ["email", *(c for c in PEOPLE_COLUMNS if c not in ("as_of_date", "email"))]


def no_audiences() -> pl.DataFrame:
    """No earlier audience: the first export day, or a warehouse without exports yet."""
    return pl.DataFrame(schema={"audience_id": pl.String})


UNREADABLE_CONSENT_SCHEMA = {
    "email": pl.String,
    "source": pl.String,
    "source_file": pl.String,
    "row_number": pl.Int64,
    "rule": pl.String,
    "landed_on": pl.Date,
}


def no_unreadable_consent() -> pl.DataFrame:
    return pl.DataFrame(schema=UNREADABLE_CONSENT_SCHEMA)


@dataclass(frozen=True)
class ExportInputs:
    """What the exports of one day read. Column lists are in `platform_assets.exports.inputs`."""

    members: pl.DataFrame  # customer_id, segment
    customers: pl.DataFrame  # customer_id, email, first_name
    features: pl.DataFrame  # customer_id, favourite_category, last_purchased_product
    # customer_id, exclusion_reason: exports.consent_state of the day's marketing purpose
    consent_state: pl.DataFrame
    order_lines: pl.DataFrame  # order_id, customer_id, sku, status
    products: pl.DataFrame  # sku, name, category
    # audience_id: audiences exported with members in the last AUDIENCE_CARRY_DAYS days.
    recent_audiences: pl.DataFrame = field(default_factory=no_audiences)
    # email (may be null), source, source_file, row_number, rule, landed_on: consent and
    # suppression rows the cleaned layer quarantined.
    unreadable_consent: pl.DataFrame = field(default_factory=no_unreadable_consent)


_EXCLUDED_COLUMNS = {reason: f"excluded_{reason}" for reason in EXCLUSION_REASONS}


@dataclass(frozen=True)
class Exports:
    tables: dict[str, pl.DataFrame]  # by table name, as TABLE_COLUMNS
    exclusions: pl.DataFrame  # customer_id, email, exclusion_reason: every segment member


def end_of_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


def audience_name(segment: str) -> str:
    return segment.replace("_", " ").capitalize()


def build_exports(inputs: ExportInputs, day: date) -> Exports:
    """The day's audiences, exportable people with their tokens, and memberships."""
    members = inputs.members.select("customer_id", "segment").unique()
    candidates = (
        members.select("customer_id")
        .unique()
        .join(inputs.customers.select("customer_id", "email"), on="customer_id", how="left")
    )
    states = inputs.consent_state
    exclusions = member_exclusions(candidates, states)
    exportable = exclusions.filter(pl.col("exclusion_reason").is_null()).select("customer_id")

    people_features = exportable.join(inputs.features, on="customer_id", how="left")
    recommendations = recommend_products(
        people_features.select("customer_id", "favourite_category"),
        inputs.order_lines,
        inputs.products,
        per_person=RECOMMENDATIONS_PER_PERSON,
        counted_statuses=COUNTED_ORDER_STATUSES,
    )
    people = (
        people_features.join(
            inputs.customers.select("customer_id", "email", "first_name"),
            on="customer_id",
            how="left",
        )
        .join(
            recommendation_tokens(recommendations, RECOMMENDATIONS_PER_PERSON),
            on="customer_id",
            how="left",
        )
        .with_columns(pl.lit(day).alias("as_of_date"))
    )
    memberships = members.join(exportable, on="customer_id", how="semi").select(
        pl.lit(day).alias("as_of_date"), pl.col("segment").alias("audience_id"), "customer_id"
    )
    sizes = memberships.group_by("audience_id").agg(pl.len().cast(pl.Int64).alias("size"))
    member_counts = (
        members.join(exclusions.select("customer_id", "exclusion_reason"), on="customer_id")
        .group_by(pl.col("segment").alias("audience_id"))
        .agg(
            pl.len().cast(pl.Int64).alias("segment_members"),
            *(
                (pl.col("exclusion_reason") == reason).sum().cast(pl.Int64).alias(excluded)
                for reason, excluded in _EXCLUDED_COLUMNS.items()
            ),
        )
    )
    # An audience that had members lately and has none today is exported empty: an email
    # platform that replaces its list from the file then empties it instead of keeping
    # yesterday's people (and the size guard sees the drop).
    emptied = (
        inputs.recent_audiences.select(pl.col("audience_id").cast(pl.String))
        .unique()
        .join(member_counts, on="audience_id", how="anti")
        .with_columns(
            pl.lit(0, dtype=pl.Int64).alias(column)
            for column in ["segment_members", *_EXCLUDED_COLUMNS.values()]
        )
    )
    audiences = (
        pl.concat([member_counts, emptied])
        .join(sizes, on="audience_id", how="left")
        .with_columns(
            pl.lit(day).alias("as_of_date"),
            pl.col("audience_id")
            .map_elements(audience_name, return_dtype=pl.String)
            .alias("audience_name"),
            pl.col("audience_id")
            .map_elements(
                lambda segment: AUDIENCE_DESCRIPTIONS.get(
                    segment, f"Consenting members of the segment `{segment}`."
                ),
                return_dtype=pl.String,
            )
            .alias("description"),
            pl.col("size").fill_null(0),
            pl.lit(consent_snapshot_sha256(states)).alias("consent_snapshot_sha256"),
        )
    )
    return Exports(
        tables={
            "audiences": _shape(audiences, AUDIENCE_COLUMNS, "audience_id"),
            "people": _shape(people, PEOPLE_COLUMNS, "customer_id"),
            "audience_memberships": _shape(
                memberships, MEMBERSHIP_COLUMNS, "audience_id", "customer_id"
            ),
        },
        exclusions=exclusions,
    )


def day_manifest(
    day: date, run_id: str, audiences: pl.DataFrame, people_exported: int
) -> dict[str, Any]:
    """What the day's files hold and why: the consent snapshot they were decided on, and per
    audience its members, the people exported and the people excluded by reason (the export
    directory adds each file's rows and checksum)."""
    hashes = sorted(set(audiences["consent_snapshot_sha256"].to_list()))
    return {
        "as_of_date": day.isoformat(),
        "run_id": run_id,
        "consent_snapshot_sha256": hashes[0] if len(hashes) == 1 else hashes,
        "people_exported": people_exported,
        "audiences": {
            row["audience_id"]: {
                "size": row["size"],
                "segment_members": row["segment_members"],
                "excluded_by_reason": {
                    reason: row[column] for reason, column in _EXCLUDED_COLUMNS.items()
                },
            }
            for row in audiences.sort("audience_id").iter_rows(named=True)
        },
    }


def files_by_audience(
    audiences: pl.DataFrame, people: pl.DataFrame, memberships: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """One frame per audience of a day (empty audiences included), in FILE_COLUMNS, its text
    safe to open in a spreadsheet."""
    return {
        audience_id: without_formulas(
            memberships.filter(pl.col("audience_id") == audience_id)
            .select("customer_id")
            .join(people, on="customer_id", how="inner")
            .select(FILE_COLUMNS)
            .sort("customer_id")
        )
        for audience_id in audiences["audience_id"].sort()
    }


# A cell a spreadsheet would run as a formula (OWASP's CSV injection): a product name or first
# name landed as `=HYPERLINK(...)` reaches a marketer's Excel through the audience file.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def without_formulas(frame: pl.DataFrame, keep: tuple[str, ...] = ("email",)) -> pl.DataFrame:
    """Every text cell that starts like a formula gets a leading `'`, which spreadsheets show
    as text. The email address is left as it is: the email platform keys on it, and an address
    that fails the export's email pattern never reaches a file."""
    starts = "^[" + "".join(FORMULA_START).replace("-", "\\-") + "]"
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(starts))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String and name not in keep
    )


def _shape(
    frame: pl.DataFrame, columns: Mapping[str, type[pl.DataType]], *order: str
) -> pl.DataFrame:
    """Exactly `columns`, in order and type, even for an empty day: tables are created from it."""
    return frame.select([pl.col(name).cast(dtype) for name, dtype in columns.items()]).sort(
        list(order)
    )
