"""Everything the platform holds about one person, found through the identity graph.

`find_subject` turns an email address or a customer id into the person's customer ids, identity
records and addresses; `subject_tables` lists, per table, the predicate that selects that
person's rows from it. The subject export reads them all; erasure will delete the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from resources import WarehouseSession

# Per source table (raw and cleaned alike): which of the subject's identifiers select its rows.
# `ids:<source>` are the source's record ids of the person's identity records, `emails` their
# addresses (trimmed, lower-cased), `visitors`/`users` the web analytics ids, `customer_ids`
# the platform's ids (which a correction request names).
SOURCE_ROWS: dict[str, list[tuple[str, str]]] = {
    "crm_contacts": [("contact_id", "ids:crm_contacts"), ("email", "emails")],
    "shop_customers": [("customer_id", "ids:shop_customers"), ("email", "emails")],
    "orders": [("customer_id", "ids:shop_customers")],
    "support_tickets": [("ticket_id", "ids:support_tickets"), ("requester_email", "emails")],
    "email_events": [("email", "emails")],
    "web_events": [("anonymous_id", "visitors"), ("user_id", "users"), ("email", "emails")],
    "consent": [("subject_email", "emails")],
    "profile_corrections": [("customer_id", "customer_ids")],
}
# Tables keyed on the customer id the identity graph issued.
CUSTOMER_TABLES = (
    "identity.customer_records",
    "identity.golden_customers",
    "identity.issued_customer_ids",
    "identity.identity_events",
    "segments.segment_membership",
    "segments.segment_history",
    "exports.consent_state",
    "exports.people",
    "exports.audience_memberships",
)


@dataclass(frozen=True)
class Subject:
    customer_ids: list[str]
    record_keys: list[str]
    emails: list[str]
    identifiers: dict[str, list[str]] = field(default_factory=dict)


def normalized(email: str) -> str:
    return email.strip().lower()


def find_subject(
    db: WarehouseSession, *, email: str | None = None, customer_id: str | None = None
) -> Subject:
    """The person behind an address or a customer id: every customer id the graph ever gave
    their records, the records themselves, and every address those records carry."""
    customer_ids: set[str] = {customer_id} if customer_id else set()
    emails: set[str] = {normalized(email)} if email else set()
    if email and db.table_exists("identity.person_records"):
        customer_ids |= set(
            db.query(
                """select distinct customer_records.customer_id
                from identity.person_records
                join identity.customer_records using (record_key)
                where lower(trim(person_records.email)) = ?""",
                [normalized(email)],
            )["customer_id"].to_list()
        )
    records = (
        db.query(
            "select distinct record_key, source, source_record_id from identity.customer_records"
            " where customer_id in (select unnest(?::varchar[]))",
            [sorted(customer_ids)],
        )
        if db.table_exists("identity.customer_records")
        else None
    )
    keys = sorted(records["record_key"].to_list()) if records is not None else []
    if keys and db.table_exists("identity.person_records"):
        emails |= {
            normalized(value)
            for value in db.query(
                "select distinct email from identity.person_records"
                " where record_key in (select unnest(?::varchar[])) and email is not null",
                [keys],
            )["email"].to_list()
        }
    identifiers: dict[str, list[str]] = {
        "emails": sorted(emails),
        "customer_ids": sorted(customer_ids),
    }
    if records is not None:
        for source in SOURCE_ROWS:
            identifiers[f"ids:{source}"] = sorted(
                records.filter(records["source"] == source)["source_record_id"].to_list()
            )
        web = records.filter(records["source"] == "web_events")["source_record_id"].to_list()
        identifiers["visitors"] = sorted(
            v.removeprefix("anon:") for v in web if v.startswith("anon:")
        )
        identifiers["users"] = sorted(v.removeprefix("user:") for v in web if v.startswith("user:"))
    return Subject(sorted(customer_ids), keys, sorted(emails), identifiers)


def subject_tables(db: WarehouseSession, subject: Subject) -> dict[str, tuple[str, list[Any]]]:
    """Per existing table: a where clause and its parameters selecting the subject's rows."""
    tables: dict[str, tuple[str, list[Any]]] = {}
    for table_of, field_of in (
        ("raw.{}", "{}"),
        ("cleaned.{}", "{}"),
        # a quarantined row keeps the row as it landed, as JSON
        ("cleaned.{}_quarantine", "json_extract_string(original_record, '$.{}')"),
    ):
        for source, columns in SOURCE_ROWS.items():
            table = table_of.format(source)
            if not db.table_exists(table):
                continue
            clauses, parameters = [], []
            for column, identifier in columns:
                values = subject.identifiers.get(identifier, [])
                if values:
                    field_value = field_of.format(column)
                    value = f"lower(trim({field_value}))" if identifier == "emails" else field_value
                    clauses.append(f"{value}::varchar in (select unnest(?::varchar[]))")
                    parameters.append(values)
            if clauses:
                tables[table] = (" or ".join(clauses), parameters)
    keys = subject.record_keys
    any_key = "in (select unnest(?::varchar[]))"
    for table, where, parameters in (
        ("identity.person_records", f"record_key {any_key}", [keys]),
        ("identity.edges", f"left_record_key {any_key} or right_record_key {any_key}", [keys] * 2),
        (
            "identity.review_queue",
            f"left_record_key {any_key} or right_record_key {any_key}",
            [keys] * 2,
        ),
    ):
        if keys and db.table_exists(table):
            tables[table] = (where, parameters)
    ids = subject.customer_ids
    for table in CUSTOMER_TABLES:
        if ids and db.table_exists(table):
            if table == "identity.identity_events":
                tables[table] = (f"customer_id {any_key} or other_customer_id {any_key}", [ids] * 2)
            else:
                tables[table] = (f"customer_id {any_key}", [ids])
    return tables


def subject_export(db: WarehouseSession, subject: Subject) -> dict[str, Any]:
    """One JSON-ready document: the subject's identifiers and, per table, their rows."""
    rows = {
        table: db.query(f"select * from {table} where {where}", parameters).to_dicts()
        for table, (where, parameters) in subject_tables(db, subject).items()
    }
    return {
        "customer_ids": subject.customer_ids,
        "emails": subject.emails,
        "record_keys": subject.record_keys,
        "tables": {table: found for table, found in rows.items() if found},
    }
