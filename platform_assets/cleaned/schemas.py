"""Pandera models of the cleaned tables: the single source of truth for their schemas.

Each field's `metadata["normalize"]` names the normalizer the cleaned layer applies to the raw
text of that column (see `platform_assets.cleaned.transform.NORMALIZERS`); its dtype and checks
are what the written table must satisfy. The DuckDB tables are created from frames validated
against these models, so the warehouse schema follows them.
"""

from typing import Annotated, Any

import pandera.polars as pa
import polars as pl

from platform_assets.contract import ENUMS, SOURCES

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
E164_PATTERN = r"^\+[1-9]\d{6,14}$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"

UtcTimestamp = Annotated[pl.Datetime, "us", "UTC"]
Money = Annotated[pl.Decimal, 18, 2]


def _id(**kwargs: Any) -> Any:
    return pa.Field(nullable=False, metadata={"normalize": "identifier"}, **kwargs)


def _optional(kind: str, **kwargs: Any) -> Any:
    metadata = {"normalize": kind} | kwargs.pop("metadata", {})
    return pa.Field(nullable=True, metadata=metadata, **kwargs)


def _enum(name: str, *, nullable: bool) -> Any:
    return pa.Field(
        nullable=nullable, isin=list(ENUMS[name]), metadata={"normalize": "enum", "enum": name}
    )


class CleanedTable(pa.DataFrameModel):
    """Lineage every cleaned row carries back to its landing file and line."""

    # Aliases: pandera ignores attributes that start with an underscore.
    partition_date: pl.Date = pa.Field(nullable=False, alias="_partition_date")
    source_file: str = pa.Field(nullable=False, alias="_source_file")
    row_number: pl.Int64 = pa.Field(nullable=False, ge=1, alias="_row_number")

    class Config:
        strict = True
        unique = ["_source_file", "_row_number"]


class PersonFields(CleanedTable):
    first_name: str = _optional("name")
    last_name: str = _optional("name")
    email: str = _optional("email", str_matches=EMAIL_PATTERN)
    phone: str = _optional("phone", str_matches=E164_PATTERN, metadata={"region_from": "country"})
    date_of_birth: pl.Date = _optional("date", metadata={"plausible": "birth_date"})
    street_address: str = _optional("text")
    city: str = _optional("name")
    postcode: str = _optional("postcode")
    region: str = _optional("text")
    country: str = _optional("country", str_matches=COUNTRY_PATTERN)
    created_at: UtcTimestamp = _optional("timestamp")
    updated_at: UtcTimestamp = pa.Field(nullable=False, metadata={"normalize": "timestamp"})


class CrmContacts(PersonFields):
    """One row per CRM contact: the latest version landed that day."""

    contact_id: str = _id()

    class Config:
        unique = ["contact_id"]


class ShopCustomers(PersonFields):
    """One row per e-commerce account: the latest version landed that day."""

    customer_id: str = _id()

    class Config:
        unique = ["customer_id"]


class Orders(CleanedTable):
    """One row per order line (order_id, line_number), as last landed that day."""

    order_id: str = _id()
    line_number: pl.Int64 = pa.Field(nullable=False, ge=1, metadata={"normalize": "integer"})
    customer_id: str = _id()
    ordered_at: UtcTimestamp = pa.Field(nullable=False, metadata={"normalize": "timestamp"})
    status: str = _enum("order_status", nullable=True)
    sku: str = _id()
    quantity: pl.Int64 = _optional("integer", gt=0)
    unit_price: Money = _optional("decimal", ge=0)
    currency: str = _optional("currency", str_matches=CURRENCY_PATTERN)

    class Config:
        unique = ["order_id", "line_number"]


class Products(CleanedTable):
    """One row per catalog item (sku): the latest version landed that day."""

    sku: str = _id()
    name: str = _optional("text")
    category: str = _optional("text")
    brand: str = _optional("text")
    price: Money = _optional("decimal", ge=0, metadata={"plausible": "non_negative"})
    currency: str = _optional("currency", str_matches=CURRENCY_PATTERN)
    updated_at: UtcTimestamp = pa.Field(nullable=False, metadata={"normalize": "timestamp"})

    class Config:
        unique = ["sku"]


class WebEvents(CleanedTable):
    """One row per tracked web event (event_id), first delivery kept."""

    event_id: str = _id()
    occurred_at: UtcTimestamp = pa.Field(nullable=False, metadata={"normalize": "timestamp"})
    anonymous_id: str = _optional("identifier")
    user_id: str = _optional("identifier")
    email: str = _optional("email", str_matches=EMAIL_PATTERN)
    event_type: str = _enum("web_event_type", nullable=False)
    url: str = _optional("text")
    sku: str = _optional("identifier")
    quantity: pl.Int64 = _optional("integer")
    price: Money = _optional("decimal")
    utm_source: str = _optional("label")
    utm_campaign: str = _optional("identifier")
    device_type: str = _enum("device_type", nullable=True)

    class Config:
        unique = ["event_id"]


class SupportTickets(CleanedTable):
    """One row per support ticket: the latest version landed that day."""

    ticket_id: str = _id()
    opened_at: UtcTimestamp = pa.Field(nullable=False, metadata={"normalize": "timestamp"})
    closed_at: UtcTimestamp = _optional("timestamp")
    requester_email: str = _optional("email", str_matches=EMAIL_PATTERN)
    requester_name: str = _optional("name")
    requester_phone: str = _optional("phone", str_matches=E164_PATTERN)
    channel: str = _enum("ticket_channel", nullable=True)
    category: str = _optional("label")
    status: str = _enum("ticket_status", nullable=True)
    priority: str = _enum("ticket_priority", nullable=True)
    csat_score: pl.Int64 = _optional("integer", ge=1, le=5, metadata={"plausible": "csat_score"})
    updated_at: UtcTimestamp = pa.Field(nullable=False, metadata={"normalize": "timestamp"})

    class Config:
        unique = ["ticket_id"]


class EmailEvents(CleanedTable):
    """One row per email-platform event (event_id), first delivery kept."""

    event_id: str = _id()
    occurred_at: UtcTimestamp = pa.Field(nullable=False, metadata={"normalize": "timestamp"})
    email: str = pa.Field(
        nullable=False, str_matches=EMAIL_PATTERN, metadata={"normalize": "email"}
    )
    campaign_id: str = _optional("identifier")
    event_type: str = _enum("email_event_type", nullable=False)
    url: str = _optional("text")

    class Config:
        unique = ["event_id"]


class Consent(CleanedTable):
    """One row per distinct consent statement (subject, purpose, status, time)."""

    subject_email: str = pa.Field(
        nullable=False, str_matches=EMAIL_PATTERN, metadata={"normalize": "email"}
    )
    purpose: str = pa.Field(nullable=False, metadata={"normalize": "label"})
    status: str = _enum("consent_status", nullable=False)
    recorded_at: UtcTimestamp = pa.Field(nullable=False, metadata={"normalize": "timestamp"})
    source: str = _optional("label")

    class Config:
        unique = ["subject_email", "purpose", "status", "recorded_at"]


# The sources whose records the identity graph links; an override must name one of them.
RECORD_KEY_PATTERN = r"^(crm_contacts|shop_customers|support_tickets|email_events|web_events):\S.*$"


class IdentityOverrides(CleanedTable):
    """One row per overridden pair of person records: the last decision landed that day."""

    left_record_key: str = _id(str_matches=RECORD_KEY_PATTERN)
    right_record_key: str = _id(str_matches=RECORD_KEY_PATTERN)
    rule: str = _enum("override_rule", nullable=False)
    reason: str = _optional("text")
    decided_at: UtcTimestamp = _optional("timestamp")

    class Config:
        unique = ["left_record_key", "right_record_key"]


CUSTOMER_ID_PATTERN = r"^cus_[0-9]{12}$"


class ProfileCorrections(CleanedTable):
    """One row per correction a person asked for: a field of their golden record and its new
    value, applied by the identity layer as the most trusted source."""

    customer_id: str = _id(str_matches=CUSTOMER_ID_PATTERN)
    field: str = _enum("profile_field", nullable=False)
    value: str = pa.Field(nullable=False, metadata={"normalize": "text"})
    reason: str = _optional("text")
    requested_at: UtcTimestamp = pa.Field(nullable=False, metadata={"normalize": "timestamp"})

    class Config:
        unique = ["customer_id", "field", "requested_at"]


MODELS: dict[str, type[CleanedTable]] = {
    "crm_contacts": CrmContacts,
    "shop_customers": ShopCustomers,
    "orders": Orders,
    "products": Products,
    "web_events": WebEvents,
    "support_tickets": SupportTickets,
    "email_events": EmailEvents,
    "consent": Consent,
    "identity_overrides": IdentityOverrides,
    "profile_corrections": ProfileCorrections,
}


LINEAGE_COLUMNS = ("_partition_date", "_source_file", "_row_number")


def cleaned_columns(source: str) -> list[str]:
    """Contract columns in contract order, lineage last: the column order of the table."""
    columns = list(MODELS[source].to_schema().columns)
    ordered = [c for c in SOURCES[source].columns if c in columns] + list(LINEAGE_COLUMNS)
    if sorted(ordered) != sorted(columns):
        raise ValueError(f"model of {source} does not cover its contract: {ordered} vs {columns}")
    return ordered


def _lineage_columns() -> dict[str, pa.Column]:
    return {
        "_partition_date": pa.Column(pl.Date, nullable=False),
        "_source_file": pa.Column(pl.Utf8, nullable=False),
        "_row_number": pa.Column(pl.Int64, nullable=False, checks=pa.Check.ge(1)),
    }


def quarantine_schema() -> pa.DataFrameSchema:
    """Row-level quarantine: the whole raw row, the rules it failed, where it came from."""
    return pa.DataFrameSchema(
        _lineage_columns()
        | {
            "failed_rules": pa.Column(pl.Utf8, nullable=False),
            "original_record": pa.Column(pl.Utf8, nullable=False),
        },
        strict=True,
        unique=["_source_file", "_row_number"],
    )


def value_quarantine_schema() -> pa.DataFrameSchema:
    """Value-level quarantine: one nulled value per row, its original text and its rule."""
    return pa.DataFrameSchema(
        _lineage_columns()
        | {
            "column_name": pa.Column(pl.Utf8, nullable=False),
            "original_value": pa.Column(pl.Utf8, nullable=False),
            "rule": pa.Column(pl.Utf8, nullable=False),
        },
        strict=True,
        unique=["_source_file", "_row_number", "column_name"],
    )


def superseded_schema() -> pa.DataFrameSchema:
    """Rows replaced by a newer version or repeated, with the row that was kept instead."""
    return pa.DataFrameSchema(
        _lineage_columns()
        | {
            "record_key": pa.Column(pl.Utf8, nullable=False),
            "reason": pa.Column(
                pl.Utf8,
                nullable=False,
                checks=pa.Check.isin(
                    [
                        "older_version",
                        "same_version_landed_again",
                        "repeated_delivery",
                        "re_sent_later",
                    ]
                ),
            ),
            "kept_source_file": pa.Column(pl.Utf8, nullable=False),
            "kept_row_number": pa.Column(pl.Int64, nullable=False),
        },
        strict=True,
        unique=["_source_file", "_row_number"],
    )
