"""The cleaned transform on tiny frames: normalization, quarantine, reconciliation, conservation."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from platform_assets.checks import schema_verdict
from platform_assets.cleaned.schemas import MODELS
from platform_assets.cleaned.transform import clean_partition
from platform_assets.contract import SOURCES
from platform_assets.raw.parse import EXTRA_COLUMNS

AS_OF = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def raw_frame(
    source: str, rows: list[dict[str, str | None]], files: list[str] | None = None
) -> pl.DataFrame:
    """Raw rows as the raw layer stores them: text columns plus lineage."""
    columns = SOURCES[source].columns
    return pl.DataFrame(
        {
            **{c: pl.Series(c, [r.get(c) for r in rows], pl.Utf8) for c in columns},
            EXTRA_COLUMNS: pl.Series([None] * len(rows), dtype=pl.Utf8),
            "_partition_date": pl.Series([date(2026, 11, 3)] * len(rows), dtype=pl.Date),
            "_source_file": files or [f"{source}/2026-11-03/a.csv"] * len(rows),
            "_row_number": pl.Series(range(1, len(rows) + 1), dtype=pl.Int64),
        }
    )


def _contact(contact_id: str, updated_at: str, **values: str | None) -> dict[str, str | None]:
    return {"contact_id": contact_id, "updated_at": updated_at, **values}


GOOD_ROWS: dict[str, dict[str, str | None]] = {
    "crm_contacts": _contact("c1", "2026-11-03", email="a@b.com", phone="+442079460958"),
    "shop_customers": {"customer_id": "s1", "updated_at": "2026-11-03", "country": "fr"},
    "orders": {
        "order_id": "o1",
        "line_number": "1",
        "customer_id": "s1",
        "ordered_at": "2026-11-03",
        "sku": "A",
        "quantity": "2",
        "unit_price": "3.5",
        "status": "paid",
    },
    "products": {"sku": "A", "price": "3.50", "currency": "EUR", "updated_at": "20261103"},
    "web_events": {
        "event_id": "w1",
        "occurred_at": "1762164000",
        "event_type": "add_to_cart",
        "quantity": "1",
    },
    "support_tickets": {
        "ticket_id": "t1",
        "opened_at": "2026-11-03",
        "updated_at": "2026-11-03",
        "csat_score": "5",
    },
    "email_events": {
        "event_id": "e1",
        "occurred_at": "2026-11-03",
        "email": "a@b.com",
        "event_type": "click",
    },
    "consent": {
        "subject_email": "a@b.com",
        "purpose": "Email Marketing",
        "status": "granted",
        "recorded_at": "2026-11-03",
    },
    "identity_overrides": {
        "left_record_key": "crm_contacts:C1",
        "right_record_key": "shop_customers:S1",
        "rule": "Never-Link",
        "reason": "two people",
    },
    "profile_corrections": {
        "customer_id": "cus_000000000001",
        "field": "First_Name",
        "value": "Annie",
        "requested_at": "2026-11-03T09:00:00Z",
    },
}


def test_person_fields_are_normalized() -> None:
    raw = raw_frame(
        "crm_contacts",
        [
            _contact(
                " c1 ",
                "2026-11-03 08:00:00",
                first_name="  ANNE-MARIE ",
                last_name="o'brien",
                email="  Anne.OBrien@Example.COM ",
                phone="020 7946 0958",
                country="United Kingdom",
                date_of_birth="31/12/1980",
                postcode=" sw1a  1aa",
            )
        ],
    )
    row = clean_partition("crm_contacts", raw, AS_OF).cleaned.to_dicts()[0]
    assert row["contact_id"] == "c1"
    assert (row["first_name"], row["last_name"]) == ("Anne-Marie", "O'Brien")
    assert row["email"] == "anne.obrien@example.com"
    assert row["phone"] == "+442079460958"
    assert row["country"] == "GB"
    assert row["date_of_birth"] == date(1980, 12, 31)
    assert row["postcode"] == "SW1A 1AA"
    assert row["updated_at"] == datetime(2026, 11, 3, 8, 0, tzinfo=UTC)


def test_national_phone_is_read_in_the_rows_country() -> None:
    raw = raw_frame(
        "crm_contacts",
        [
            _contact("c1", "2026-11-03", phone="030 901820", country="DE"),
            _contact("c2", "2026-11-03", phone="(212) 555-0147", country="USA"),
        ],
    )
    phones = clean_partition("crm_contacts", raw, AS_OF).cleaned["phone"].to_list()
    assert phones == ["+4930901820", "+12125550147"]


def test_bad_optional_value_is_nulled_and_kept_with_its_rule() -> None:
    raw = raw_frame(
        "crm_contacts",
        [
            _contact(
                "c1",
                "2026-11-03",
                email="ann@",
                phone="12",
                date_of_birth="2090-01-01",
                country="Atlantis",
            )
        ],
    )
    result = clean_partition("crm_contacts", raw, AS_OF)
    row = result.cleaned.to_dicts()[0]
    assert row["email"] is None and row["phone"] is None and row["date_of_birth"] is None
    issues = {
        r["column_name"]: (r["original_value"], r["rule"]) for r in result.value_issues.to_dicts()
    }
    assert issues == {
        "email": ("ann@", "invalid_email"),
        "phone": ("12", "invalid_phone"),
        "date_of_birth": ("2090-01-01", "implausible_birth_date"),
        "country": ("Atlantis", "unknown_country"),
    }


def test_missing_required_value_quarantines_the_row_with_its_original_values() -> None:
    raw = raw_frame("crm_contacts", [_contact(None, "2026-11-03", first_name="Ann")])  # type: ignore[arg-type]
    result = clean_partition("crm_contacts", raw, AS_OF)
    assert result.cleaned.is_empty()
    quarantined = result.quarantined.to_dicts()[0]
    assert quarantined["failed_rules"] == "missing_required:contact_id"
    assert '"first_name":"Ann"' in quarantined["original_record"]


def test_latest_version_wins_and_older_versions_are_superseded() -> None:
    raw = raw_frame(
        "crm_contacts",
        [
            _contact("c1", "2026-11-03 09:00:00", city="Leeds"),
            _contact("c1", "2026-11-03 10:00:00", city="York"),
            _contact("c1", "2026-11-03 08:00:00", city="Hull"),
        ],
    )
    result = clean_partition("crm_contacts", raw, AS_OF)
    assert result.cleaned["city"].to_list() == ["York"]
    assert result.superseded.select("_row_number", "reason", "kept_row_number").to_dicts() == [
        {"_row_number": 1, "reason": "older_version", "kept_row_number": 2},
        {"_row_number": 3, "reason": "older_version", "kept_row_number": 2},
    ]


def test_version_tie_goes_to_the_file_landed_later_then_the_later_line() -> None:
    raw = raw_frame(
        "crm_contacts",
        [
            _contact("c1", "2026-11-03 09:00:00", city="A"),
            _contact("c1", "2026-11-03 09:00:00", city="B"),
            _contact("c1", "2026-11-03 09:00:00", city="C"),
        ],
        files=["crm/a.csv", "crm/b.csv", "crm/b.csv"],
    )
    result = clean_partition("crm_contacts", raw, AS_OF)
    assert result.cleaned["city"].to_list() == ["C"]
    assert set(result.superseded["reason"]) == {"same_version_landed_again"}


def test_repeated_event_is_kept_once_first_delivery_wins() -> None:
    event = {
        "event_id": "e1",
        "occurred_at": "1762164000",
        "email": "a@b.com",
        "event_type": "OPENED",
    }
    raw = raw_frame("email_events", [event, event | {"event_type": "open"}])
    result = clean_partition("email_events", raw, AS_OF)
    assert result.cleaned.select("_row_number", "event_type").to_dicts() == [
        {"_row_number": 1, "event_type": "open"}
    ]
    assert result.superseded["reason"].to_list() == ["repeated_delivery"]


def test_order_line_resent_later_replaces_the_earlier_status() -> None:
    line = {
        "order_id": "o1",
        "line_number": "1",
        "customer_id": "s1",
        "ordered_at": "2026-11-03T09:00:00Z",
        "sku": "SKU-1",
        "quantity": "1",
        "unit_price": "5.00",
        "currency": "gbp",
    }
    raw = raw_frame("orders", [line | {"status": "paid"}, line | {"status": "Shipped"}])
    result = clean_partition("orders", raw, AS_OF)
    assert result.cleaned.select("status", "currency").to_dicts() == [
        {"status": "shipped", "currency": "GBP"}
    ]
    assert result.superseded["reason"].to_list() == ["re_sent_later"]


def test_ticket_closed_before_it_opened_is_quarantined() -> None:
    raw = raw_frame(
        "support_tickets",
        [
            {
                "ticket_id": "t1",
                "opened_at": "2026-11-03T10:00:00",
                "closed_at": "2026-11-03T09:00:00",
                "updated_at": "2026-11-03T10:00:00",
            }
        ],
    )
    result = clean_partition("support_tickets", raw, AS_OF)
    assert result.quarantined["failed_rules"].to_list() == ["closed_before_opened"]


@pytest.mark.parametrize("source", list(SOURCES))
def test_every_row_lands_in_exactly_one_place(source: str) -> None:
    # A valid row, the same row delivered again and a row of nulls: each source keeps one of
    # the two copies in cleaned (the later version, or the first delivery of an event) and the
    # other in cleaned or superseded, quarantines the third, and loses none.
    contract = SOURCES[source]
    good = GOOD_ROWS[source]
    raw = raw_frame(source, [good, good, {column: None for column in contract.columns}])
    result = clean_partition(source, raw, AS_OF)
    placed = [
        *result.cleaned["_row_number"],
        *result.quarantined["_row_number"],
        *result.superseded["_row_number"],
    ]
    assert sorted(placed) == [1, 2, 3]
    assert {1, 2} & set(result.cleaned["_row_number"]), result.quarantined.to_dicts()
    assert result.quarantined["_row_number"].to_list() == [3]


@pytest.mark.parametrize("source", list(SOURCES))
def test_cleaned_output_satisfies_its_pandera_model(source: str) -> None:
    result = clean_partition(source, raw_frame(source, [GOOD_ROWS[source]]), AS_OF)
    assert result.cleaned.height == 1, result.quarantined.to_dicts()
    verdict = schema_verdict(MODELS[source], result.cleaned)
    assert verdict.passed, verdict.metadata


def test_pandera_model_rejects_a_frame_breaking_its_rules() -> None:
    raw = raw_frame(
        "email_events",
        [{"event_id": "e1", "occurred_at": "2026-11-03", "email": "a@b.com", "event_type": "open"}],
    )
    cleaned = clean_partition("email_events", raw, AS_OF).cleaned
    broken = cleaned.with_columns(
        pl.lit("not-an-email").alias("email"), pl.lit("hover").alias("event_type")
    )
    verdict = schema_verdict(MODELS["email_events"], broken)
    assert not verdict.passed and verdict.metadata["failures"] == 2


def test_model_required_fields_match_the_contract() -> None:
    for source, contract in SOURCES.items():
        schema = MODELS[source].to_schema()
        required = {
            name
            for name, column in schema.columns.items()
            if not column.nullable and not name.startswith("_")
        }
        assert required == set(contract.required), source


def test_schema_check_fails_when_the_table_types_differ_from_the_validated_rows() -> None:
    raw = raw_frame(
        "email_events",
        [{"event_id": "e1", "occurred_at": "2026-11-03", "email": "a@b.com", "event_type": "open"}],
    )
    cleaned = clean_partition("email_events", raw, AS_OF).cleaned
    drifted = pl.Schema({**cleaned.schema, "occurred_at": pl.Utf8})
    verdict = schema_verdict(MODELS["email_events"], cleaned, drifted)
    assert not verdict.passed
    assert verdict.metadata == {
        "occurred_at": "table String vs rows Datetime(time_unit='us', time_zone='UTC')"
    }


def test_quarantine_value_issue_and_superseded_rows_match_their_schemas() -> None:
    from platform_assets.cleaned.schemas import (
        quarantine_schema,
        superseded_schema,
        value_quarantine_schema,
    )

    raw = raw_frame(
        "crm_contacts",
        [
            _contact("c1", "2026-11-03 09:00:00", phone="12"),
            _contact("c1", "2026-11-03 10:00:00", email="ann@"),
            _contact(None, "2026-11-03 10:00:00"),  # type: ignore[arg-type]
        ],
    )
    result = clean_partition("crm_contacts", raw, AS_OF)
    assert result.quarantined.height == result.superseded.height == 1
    assert result.value_issues.height == 2
    for schema, rows in (
        (quarantine_schema(), result.quarantined),
        (value_quarantine_schema(), result.value_issues),
        (superseded_schema(), result.superseded),
    ):
        verdict = schema_verdict(schema, rows)
        assert verdict.passed, verdict.metadata


@pytest.mark.parametrize("source", list(SOURCES))
def test_the_order_of_the_raw_rows_changes_nothing(source: str) -> None:
    # The cleaned layer reads a day's raw rows unordered: a shuffled day gives the same frames.
    contract = SOURCES[source]
    good = GOOD_ROWS[source]
    rows = [good, {column: None for column in contract.columns}, good, good]
    files = [f"{source}/2026-11-03/{name}.csv" for name in ("a", "a", "b", "a")]
    raw = raw_frame(source, rows, files)
    ordered = clean_partition(source, raw, AS_OF)
    shuffled = clean_partition(source, raw.reverse(), AS_OF)
    assert ordered.superseded.height == 2 and ordered.quarantined.height == 1
    for name in ("cleaned", "quarantined", "value_issues", "superseded"):
        assert getattr(shuffled, name).equals(getattr(ordered, name)), name
