"""pandera models of the identity tables: the contract of `docs/identity-graph.md` as code."""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl

from platform_assets.cleaned.schemas import RECORD_KEY_PATTERN

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


MODELS: dict[str, type[pa.DataFrameModel]] = {
    "person_records": PersonRecords,
    "edges": Edges,
    "customer_records": CustomerRecords,
    "identity_events": IdentityEvents,
    "golden_customers": GoldenCustomers,
}
