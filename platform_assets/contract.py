"""The landing-zone contract: which sources exist, their columns, and what identifies a record.

This module is data, not logic. `docs/landing-contract.md` documents the same table for people
and a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal

FILE_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".parquet")

# How several rows with the same key are reconciled in the cleaned layer:
# - "latest_version": keep the row with the greatest version column (a record that is re-sent
#   whenever it changes, e.g. a CRM contact);
# - "first_seen": keep the first row landed (an immutable event that may be delivered twice);
# - "last_landed": keep the last row landed (a record re-sent without a version timestamp).
Reconciliation = Literal["latest_version", "first_seen", "last_landed"]


@dataclass(frozen=True)
class SourceContract:
    name: str
    description: str  # what one row is
    columns: tuple[str, ...]
    required: tuple[str, ...]
    key: tuple[str, ...]
    reconciliation: Reconciliation
    version_column: str | None = None

    def __post_init__(self) -> None:
        missing = [c for c in (*self.required, *self.key) if c not in self.columns]
        if missing:
            raise ValueError(f"{self.name}: key/required columns {missing} are not in columns")
        if (self.reconciliation == "latest_version") != (self.version_column is not None):
            raise ValueError(f"{self.name}: latest_version needs a version_column, and only it")


_PERSON_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "street_address",
    "city",
    "postcode",
    "region",
    "country",
    "created_at",
    "updated_at",
)

SOURCES: dict[str, SourceContract] = {
    contract.name: contract
    for contract in (
        SourceContract(
            name="crm_contacts",
            description="a CRM contact version",
            columns=("contact_id", *_PERSON_COLUMNS),
            required=("contact_id", "updated_at"),
            key=("contact_id",),
            reconciliation="latest_version",
            version_column="updated_at",
        ),
        SourceContract(
            name="shop_customers",
            description="an e-commerce account version",
            columns=("customer_id", *_PERSON_COLUMNS),
            required=("customer_id", "updated_at"),
            key=("customer_id",),
            reconciliation="latest_version",
            version_column="updated_at",
        ),
        SourceContract(
            name="orders",
            description="an order line",
            columns=(
                "order_id",
                "line_number",
                "customer_id",
                "ordered_at",
                "status",
                "sku",
                "quantity",
                "unit_price",
                "currency",
            ),
            required=("order_id", "line_number", "customer_id", "ordered_at", "sku"),
            key=("order_id", "line_number"),
            # An order line is re-sent when its status changes; the contract has no version
            # column, so the line landed last is the current one.
            reconciliation="last_landed",
        ),
        SourceContract(
            name="products",
            description="a catalog item version",
            columns=("sku", "name", "category", "brand", "price", "currency", "updated_at"),
            required=("sku", "updated_at"),
            key=("sku",),
            reconciliation="latest_version",
            version_column="updated_at",
        ),
        SourceContract(
            name="web_events",
            description="one tracked event",
            columns=(
                "event_id",
                "occurred_at",
                "anonymous_id",
                "user_id",
                "email",
                "event_type",
                "url",
                "sku",
                "quantity",
                "price",
                "utm_source",
                "utm_campaign",
                "device_type",
            ),
            required=("event_id", "occurred_at", "event_type"),
            key=("event_id",),
            reconciliation="first_seen",
        ),
        SourceContract(
            name="support_tickets",
            description="a ticket version",
            columns=(
                "ticket_id",
                "opened_at",
                "closed_at",
                "requester_email",
                "requester_name",
                "requester_phone",
                "channel",
                "category",
                "status",
                "priority",
                "csat_score",
                "updated_at",
            ),
            required=("ticket_id", "opened_at", "updated_at"),
            key=("ticket_id",),
            reconciliation="latest_version",
            version_column="updated_at",
        ),
        SourceContract(
            name="email_events",
            description="an email-platform event",
            columns=("event_id", "occurred_at", "email", "campaign_id", "event_type", "url"),
            required=("event_id", "occurred_at", "email", "event_type"),
            key=("event_id",),
            reconciliation="first_seen",
        ),
        SourceContract(
            name="consent",
            description="a consent statement",
            columns=("subject_email", "purpose", "status", "recorded_at", "source"),
            required=("subject_email", "purpose", "status", "recorded_at"),
            # A consent log is append-only: the same statement landed twice counts once.
            key=("subject_email", "purpose", "status", "recorded_at"),
            reconciliation="first_seen",
        ),
        SourceContract(
            name="identity_overrides",
            description="a steward's decision that two person records are or are not one person",
            columns=("left_record_key", "right_record_key", "rule", "reason", "decided_at"),
            required=("left_record_key", "right_record_key", "rule"),
            # The last decision landed about a pair wins, in whichever order the keys came.
            key=("left_record_key", "right_record_key"),
            reconciliation="last_landed",
        ),
        SourceContract(
            name="profile_corrections",
            description="a person's request to correct one field of their profile",
            columns=("customer_id", "field", "value", "reason", "requested_at"),
            required=("customer_id", "field", "value", "requested_at"),
            # Every request is kept; the golden record applies the latest per field.
            key=("customer_id", "field", "requested_at"),
            reconciliation="first_seen",
        ),
    )
}

# Enumerations of the contract. Values arriving in another case or spelling are mapped onto
# these by `platform_assets.settings.ENUM_SYNONYMS`; `ENUMS` names them for both.
ORDER_STATUSES = ("placed", "paid", "shipped", "cancelled", "refunded")
WEB_EVENT_TYPES = (
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "checkout_started",
    "order_completed",
)
EMAIL_EVENT_TYPES = (
    "sent",
    "delivered",
    "open",
    "click",
    "bounce",
    "unsubscribe",
    "spam_complaint",
)
CONSENT_STATUSES = ("granted", "withdrawn")
DEVICE_TYPES = ("desktop", "mobile", "tablet", "other")
TICKET_CHANNELS = ("email", "phone", "chat", "web", "social")
TICKET_STATUSES = ("open", "pending", "solved", "closed")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
OVERRIDE_RULES = ("never_link", "always_link")
# The golden record's fields a person may correct (identity.settings.GOLDEN_FIELDS).
CORRECTABLE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "street_address",
    "city",
    "postcode",
    "country",
)

ENUMS: dict[str, tuple[str, ...]] = {
    "order_status": ORDER_STATUSES,
    "web_event_type": WEB_EVENT_TYPES,
    "email_event_type": EMAIL_EVENT_TYPES,
    "consent_status": CONSENT_STATUSES,
    "device_type": DEVICE_TYPES,
    "ticket_channel": TICKET_CHANNELS,
    "ticket_status": TICKET_STATUSES,
    "ticket_priority": TICKET_PRIORITIES,
    "override_rule": OVERRIDE_RULES,
    "profile_field": CORRECTABLE_FIELDS,
}


def selected_sources(
    selected_keys: Collection[object], key_of: Callable[[str], object]
) -> list[SourceContract]:
    """The contracts whose asset (`key_of(name)`) a step was asked to materialize, in order."""
    return [contract for name, contract in SOURCES.items() if key_of(name) in selected_keys]
