"""Profiles for the email platform's templates: one row per customer, published as a file.

`exports/profile_snapshot` builds them from the golden records, the one consent source, the
day's segment memberships (with their reasons) and the export's tokens, and publishes them as
a Parquet file swapped in whole. `cdp serve` answers `GET /v1/profiles` from that file, so the
API never waits for, nor blocks, the warehouse's single writer.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import polars as pl

PROFILE_COLUMNS: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "email": pl.String(),
    "first_name": pl.String(),
    "last_name": pl.String(),
    "country": pl.String(),
    "consent": pl.String(),  # JSON: purpose -> {may_send, exclusion_reason, latest_status, ...}
    "segments": pl.String(),  # JSON: [{segment, reason}]
    "tokens": pl.String(),  # JSON: the personalization tokens
    "as_of_date": pl.Date(),
}
TOKEN_COLUMNS = ("last_purchased_product", "favourite_category", "because_you_bought")


def recommended_products(person: dict[str, Any]) -> list[dict[str, Any]]:
    """An exports.people row's recommendations as the templates read them: name and SKU."""
    return [
        {"name": person[column], "sku": person.get(f"{column}_sku")}
        for column in (f"recommended_product_{rank}" for rank in range(1, 10))
        if person.get(column)
    ]


def _by_customer(frame: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in frame.iter_rows(named=True):
        grouped.setdefault(row.pop("customer_id"), []).append(row)
    return grouped


def build_profiles(
    day: date,
    customers: pl.DataFrame,  # customer_id, email, first_name, last_name, country
    # customer_id, purpose, may_send, exclusion_reason, latest_status, stated_at
    consent: pl.DataFrame,
    memberships: pl.DataFrame,  # customer_id, segment, reason
    people: pl.DataFrame,  # exports.people of the day (tokens), may lack a customer
    send_hours: dict[str, int],
    default_send_hour: int,
) -> pl.DataFrame:
    """One profile per customer of the golden records."""
    consents = _by_customer(consent)
    segments = _by_customer(memberships.sort("customer_id", "segment"))
    exported = {row["customer_id"]: row for row in people.iter_rows(named=True)}
    rows = []
    for customer in customers.sort("customer_id").iter_rows(named=True):
        customer_id = customer["customer_id"]
        person = exported.get(customer_id, {})
        tokens: dict[str, Any] = {
            column: person.get(column) for column in TOKEN_COLUMNS if person.get(column)
        }
        tokens["recommended_products"] = recommended_products(person)
        tokens["best_send_hour"] = send_hours.get(customer_id, default_send_hour)
        rows.append(
            {
                "customer_id": customer_id,
                "email": (customer.get("email") or "").strip().lower() or None,
                "first_name": customer.get("first_name"),
                "last_name": customer.get("last_name"),
                "country": customer.get("country"),
                "consent": json.dumps(
                    {
                        entry["purpose"]: {k: v for k, v in entry.items() if k != "purpose"}
                        for entry in consents.get(customer_id, [])
                    },
                    sort_keys=True,
                    default=str,
                ),
                "segments": json.dumps(segments.get(customer_id, []), sort_keys=True),
                "tokens": json.dumps(tokens, sort_keys=True, default=str),
                "as_of_date": day,
            }
        )
    return pl.DataFrame(rows, schema=PROFILE_COLUMNS)


def profile_document(row: dict[str, Any]) -> dict[str, Any]:
    """A snapshot row as the API answers it."""
    return {
        "customer_id": row["customer_id"],
        "email": row["email"],
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "country": row["country"],
        "consent": json.loads(row["consent"] or "{}"),
        "segments": json.loads(row["segments"] or "[]"),
        "tokens": json.loads(row["tokens"] or "{}"),
        "as_of_date": str(row["as_of_date"]),
    }
