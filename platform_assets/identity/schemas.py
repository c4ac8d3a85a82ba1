"""pandera models of the identity tables: the contract of `docs/identity-graph.md` as code."""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl

from platform_assets.cleaned.schemas import RECORD_KEY_PATTERN
from platform_assets.identity.settings import GOLDEN_FIELDS

UtcTimestamp = Annotated[pl.Datetime, "us", "UTC"]
CUSTOMER_ID_PATTERN = r"^cus_\d{12}$"
EDGE_TYPES = ["same_email", "email_anchor", "web_login", "shop_account", "splink", "always_link"]
EVENT_TYPES = ["new", "merge", "split"]


class PersonRecords(pa.DataFrameModel):
    """One row per version of a person-bearing record."""

    record_key: str = pa.Field(str_matches=RECORD_KEY_PATTERN)
    source: str
    source_record_id: str
    first_name: str = pa.Field(nullable=True)
    last_name: str = pa.Field(nullable=True)
    email: str = pa.Field(nullable=True)
    phone: str = pa.Field(nullable=True)
    date_of_birth: pl.Date = pa.Field(nullable=True)
    street_address: str = pa.Field(nullable=True)
    city: str = pa.Field(nullable=True)
    postcode: str = pa.Field(nullable=True)
    country: str = pa.Field(nullable=True)
    observed_at: UtcTimestamp = pa.Field(nullable=True)
    record_hash: str
    valid_from: pl.Date
    valid_to: pl.Date = pa.Field(nullable=True)


class Edges(pa.DataFrameModel):
    """One row per version of an edge; the smaller record key on the left."""

    left_record_key: str
    right_record_key: str
    edge_type: str = pa.Field(isin=EDGE_TYPES)
    match_probability: float = pa.Field(ge=0, le=1)
    match_weight: float = pa.Field(nullable=True)
    valid_from: pl.Date
    valid_to: pl.Date = pa.Field(nullable=True)

    @pa.dataframe_check
    def ordered_pair(cls, data: pa.PolarsData) -> pl.LazyFrame:  # type: ignore[misc]  # noqa: N805
        return data.lazyframe.select(pl.col("left_record_key") < pl.col("right_record_key"))


class CustomerRecords(pa.DataFrameModel):
    """One row per version of a record's customer."""

    source: str
    source_record_id: str
    record_key: str
    customer_id: str = pa.Field(str_matches=CUSTOMER_ID_PATTERN)
    valid_from: pl.Date
    valid_to: pl.Date = pa.Field(nullable=True)


class IdentityEvents(pa.DataFrameModel):
    """One row per merge, split or new customer."""

    event_type: str = pa.Field(isin=EVENT_TYPES)
    customer_id: str = pa.Field(str_matches=CUSTOMER_ID_PATTERN)
    other_customer_id: str = pa.Field(nullable=True)
    record_count: int = pa.Field(nullable=True, ge=1)
    reason: str
    model_version: str
    partition_date: pl.Date
    recorded_at: UtcTimestamp


class GoldenCustomers(pa.DataFrameModel):
    """One row per current customer (only the key columns are constrained here)."""

    customer_id: str = pa.Field(str_matches=CUSTOMER_ID_PATTERN, unique=True)
    record_count: int = pa.Field(ge=1)
    sources: str
    updated_partition: pl.Date


def golden_customers_schema() -> pa.DataFrameSchema:
    """Every column of `identity.golden_customers`: the constrained keys, then per golden field
    its value, the record it came from and when (golden.py), then the summary columns."""
    people = PersonRecords.to_schema().columns
    keys = GoldenCustomers.to_schema()
    columns: dict[str, pa.Column] = {"customer_id": keys.columns["customer_id"]}
    for field in GOLDEN_FIELDS:
        columns[field] = pa.Column(people[field].dtype, nullable=True)
        columns[f"{field}_source"] = pa.Column(pl.Utf8, nullable=True)
        columns[f"{field}_observed_at"] = pa.Column(pl.Datetime("us", "UTC"), nullable=True)
    columns["record_count"] = keys.columns["record_count"]
    columns["sources"] = keys.columns["sources"]
    columns["first_seen_at"] = pa.Column(pl.Datetime("us", "UTC"), nullable=True)
    columns["last_seen_at"] = pa.Column(pl.Datetime("us", "UTC"), nullable=True)
    columns["updated_partition"] = keys.columns["updated_partition"]
    return pa.DataFrameSchema(columns, name="GoldenCustomers")


class ReviewQueue(pa.DataFrameModel):
    """The pairs stewards should decide: uncertain, or cut by a guard."""

    partition_date: pl.Date
    kind: str = pa.Field(isin=["uncertain", "cut_by_guard"])
    left_record_key: str = pa.Field(str_matches=RECORD_KEY_PATTERN)
    right_record_key: str = pa.Field(str_matches=RECORD_KEY_PATTERN)
    left_customer_id: str = pa.Field(str_matches=CUSTOMER_ID_PATTERN)
    right_customer_id: str = pa.Field(str_matches=CUSTOMER_ID_PATTERN)
    match_probability: float = pa.Field(ge=0, le=1)
    match_weight: float = pa.Field(nullable=True)
    left_first_name: str = pa.Field(nullable=True)
    right_first_name: str = pa.Field(nullable=True)
    left_last_name: str = pa.Field(nullable=True)
    right_last_name: str = pa.Field(nullable=True)
    left_email: str = pa.Field(nullable=True)
    right_email: str = pa.Field(nullable=True)
    left_phone: str = pa.Field(nullable=True)
    right_phone: str = pa.Field(nullable=True)
    left_date_of_birth: str = pa.Field(nullable=True)
    right_date_of_birth: str = pa.Field(nullable=True)
    left_street_address: str = pa.Field(nullable=True)
    right_street_address: str = pa.Field(nullable=True)
    left_city: str = pa.Field(nullable=True)
    right_city: str = pa.Field(nullable=True)
    left_postcode: str = pa.Field(nullable=True)
    right_postcode: str = pa.Field(nullable=True)
    contributions: str = pa.Field(nullable=True)
    suggested_decision: str = pa.Field(isin=["always_link", "never_link"])
    reason: str


MODELS: dict[str, type[pa.DataFrameModel]] = {
    "person_records": PersonRecords,
    "edges": Edges,
    "customer_records": CustomerRecords,
    "identity_events": IdentityEvents,
    "golden_customers": GoldenCustomers,
    "review_queue": ReviewQueue,
}

# What each table is validated against and shown with in the UI.
SCHEMAS: dict[str, pa.DataFrameSchema] = {
    **{table: model.to_schema() for table, model in MODELS.items()},
    "golden_customers": golden_customers_schema(),
}
