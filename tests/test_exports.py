"""Audience exports: consent rules and recommendations on tiny frames, then the assets on a real
DuckDB file with hand-made upstream tables (segments and identity are not materialized here)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest

from platform_assets import settings as platform_settings
from platform_assets.cli import main as cli_main
from platform_assets.exports import assets as export_assets_module
from platform_assets.exports import audience_files, consent_state, export_tables
from platform_assets.exports import build as build_module
from platform_assets.exports import settings as export_settings
from platform_assets.exports.build import FILE_COLUMNS, end_of_day
from platform_assets.exports.consent import (
    address_evidence,
    address_states,
    customer_states,
    member_exclusions,
)
from platform_assets.exports.recommendations import recommend_products
from platform_assets.exports.schemas import COLUMNS
from platform_assets.exports.settings import EXCLUSION_REASONS
from platform_assets.exports.verification import manifest_problems, size_changes
from platform_assets.partitions import daily_partitions
from resources import Warehouse
from resources.export_dir import ExportDirectory

DOCS = Path(__file__).resolve().parents[1] / "docs"
DAY = date(2026, 11, 3)
DAY_END = end_of_day(DAY)


def at(day_offset: float) -> datetime:
    """A moment relative to the start of DAY."""
    return datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(days=day_offset)


def consent(*statements: tuple[str, str, datetime]) -> pl.DataFrame:
    return pl.DataFrame(
        statements,
        schema={"email": pl.String, "status": pl.String, "recorded_at": pl.Datetime("us", "UTC")},
        orient="row",
    )


def events(*rows: tuple[str, str, datetime]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "email": pl.String,
            "event_type": pl.String,
            "occurred_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )


def reason_of(email: str, statements: pl.DataFrame, email_events: pl.DataFrame) -> str | None:
    states = address_states(statements, email_events, DAY_END)
    found = states.filter(pl.col("email") == email)["exclusion_reason"].to_list()
    assert len(found) == 1
    return found[0]


# Consent, one address at a time ------------------------------------------------------------


def test_withdrawal_after_a_grant_excludes_the_address() -> None:
    statements = consent(("a@x.com", "granted", at(-30)), ("a@x.com", "withdrawn", at(-1)))
    assert reason_of("a@x.com", statements, events()) == "withdrawn"


def test_grant_after_a_withdrawal_makes_the_address_sendable_again() -> None:
    statements = consent(("a@x.com", "withdrawn", at(-30)), ("a@x.com", "granted", at(-1)))
    assert reason_of("a@x.com", statements, events()) is None


def test_grant_and_withdrawal_at_the_same_instant_is_a_withdrawal() -> None:
    statements = consent(("a@x.com", "withdrawn", at(-1)), ("a@x.com", "granted", at(-1)))
    assert reason_of("a@x.com", statements, events()) == "withdrawn"


def test_grant_after_the_day_does_not_count_but_a_withdrawal_after_it_does() -> None:
    late_grant = consent(("a@x.com", "withdrawn", at(-5)), ("a@x.com", "granted", at(2)))
    assert reason_of("a@x.com", late_grant, events()) == "withdrawn"
    late_withdrawal = consent(("a@x.com", "granted", at(-5)), ("a@x.com", "withdrawn", at(2)))
    assert reason_of("a@x.com", late_withdrawal, events()) == "withdrawn"


def test_an_address_only_seen_in_email_events_has_no_consent() -> None:
    assert reason_of("a@x.com", consent(), events(("a@x.com", "open", at(-1)))) == "no_consent"


def test_unsubscribe_is_lifted_only_by_a_grant_made_after_it() -> None:
    unsubscribed = events(("a@x.com", "unsubscribe", at(-2)))
    before = consent(("a@x.com", "granted", at(-10)))
    assert reason_of("a@x.com", before, unsubscribed) == "unsubscribed"
    after = consent(("a@x.com", "granted", at(-10)), ("a@x.com", "granted", at(-1)))
    assert reason_of("a@x.com", after, unsubscribed) is None


def test_spam_complaint_is_never_lifted_by_a_new_grant() -> None:
    statements = consent(("a@x.com", "granted", at(-10)), ("a@x.com", "granted", at(-1)))
    assert reason_of("a@x.com", statements, events(("a@x.com", "spam_complaint", at(-5)))) == (
        "complaint"
    )


def test_bounce_is_hard_until_a_later_delivery_made_by_the_end_of_the_day() -> None:
    statements = consent(("a@x.com", "granted", at(-10)))
    bounced = ("a@x.com", "bounce", at(-3))
    assert reason_of("a@x.com", statements, events(bounced)) == "hard_bounce"
    recovered = events(bounced, ("a@x.com", "delivered", at(-2)))
    assert reason_of("a@x.com", statements, recovered) is None
    recovered_too_late = events(bounced, ("a@x.com", "delivered", at(3)))
    assert reason_of("a@x.com", statements, recovered_too_late) == "hard_bounce"
    # A grant says nothing about whether the mailbox exists.
    regranted = consent(("a@x.com", "granted", at(-10)), ("a@x.com", "granted", at(-1)))
    assert reason_of("a@x.com", regranted, events(bounced)) == "hard_bounce"


def test_addresses_match_whatever_their_case_and_spaces() -> None:
    statements = consent((" A@X.com", "granted", at(-3)), ("a@x.COM", "withdrawn", at(-1)))
    assert reason_of("a@x.com", statements, events()) == "withdrawn"


def test_every_member_gets_one_reason_or_none() -> None:
    statements = consent(
        ("ok@x.com", "granted", at(-1)),
        ("shared@x.com", "granted", at(-1)),
        ("gone@x.com", "withdrawn", at(-1)),
    )
    members = pl.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
            "email": [
                "ok@x.com",
                None,
                "unknown@x.com",
                "gone@x.com",
                "shared@x.com",
                "SHARED@x.com",
            ],
        }
    )
    addresses = members.with_columns(send_address=pl.lit(True))
    states = customer_states(address_evidence(statements, events(), DAY_END), addresses)
    exclusions = member_exclusions(members, states)
    assert dict(exclusions.select("customer_id", "exclusion_reason").iter_rows()) == {
        "c1": None,
        "c2": "no_email",
        "c3": "no_consent",
        "c4": "withdrawn",
        # The email platform keys contacts on the address: only the first holder is exported.
        "c5": None,
        "c6": "shared_email",
    }


# Consent, one person over all their addresses ----------------------------------------------


def person_reason(
    addresses: dict[str, bool], statements: pl.DataFrame, email_events: pl.DataFrame | None = None
) -> str | None:
    """The exclusion reason of one customer whose records carry `addresses` (address -> is the
    one they are emailed at)."""
    frame = pl.DataFrame(
        {"customer_id": "c1", "email": list(addresses), "send_address": list(addresses.values())}
    )
    evidence = address_evidence(
        statements, events() if email_events is None else email_events, DAY_END
    )
    states = customer_states(evidence, frame)
    assert states.height == 1
    return states["exclusion_reason"][0]


def test_a_merge_of_a_granted_and_a_withdrawn_record_is_withdrawn_until_a_newer_grant() -> None:
    merged = {"crm@x.com": True, "shop@x.com": False}
    statements = consent(("crm@x.com", "granted", at(-3)), ("shop@x.com", "withdrawn", at(-2)))
    assert person_reason(merged, statements) == "withdrawn"
    # the grant on the other address is older than the withdrawal: still withdrawn
    assert person_reason(
        merged, statements.vstack(consent(("crm@x.com", "granted", at(-2.5))))
    ) == ("withdrawn")
    # a grant recorded after it, on either address, is the newer explicit statement
    regranted = statements.vstack(consent(("shop@x.com", "granted", at(-1))))
    assert person_reason(merged, regranted) is None


def test_a_withdrawal_in_the_crm_re_granted_later_may_be_emailed_again() -> None:
    statements = consent(
        ("ann@x.com", "granted", at(-30)),
        ("ann@x.com", "withdrawn", at(-10)),
        ("ann@x.com", "granted", at(-1)),
    )
    assert person_reason({"ann@x.com": True}, statements) is None


def test_an_unsubscribe_is_not_undone_by_a_later_update_that_restates_an_older_grant() -> None:
    # The CRM syncs the contact again after the unsubscribe, restating the consent it recorded
    # months ago: that grant is older than the unsubscribe, so it changes nothing.
    statements = consent(("ann@x.com", "granted", at(-90)), ("ann@x.com", "granted", at(-90)))
    unsubscribed = events(("ann@x.com", "unsubscribe", at(-5)))
    assert person_reason({"ann@x.com": True}, statements, unsubscribed) == "unsubscribed"
    # an unsubscribe from another address of the same person suppresses them too
    both = {"ann@x.com": True, "ann.work@x.com": False}
    other = events(("ann.work@x.com", "unsubscribe", at(-5)))
    assert person_reason(both, statements, other) == "unsubscribed"
    # only an explicit grant recorded after it lifts it
    regranted = statements.vstack(consent(("ann@x.com", "granted", at(-1))))
    assert person_reason({"ann@x.com": True}, regranted, unsubscribed) is None


def test_a_complaint_on_any_address_suppresses_but_a_bounce_only_on_the_send_address() -> None:
    both = {"ann@x.com": True, "old@x.com": False}
    statements = consent(("ann@x.com", "granted", at(-30)))
    assert person_reason(both, statements, events(("old@x.com", "spam_complaint", at(-3)))) == (
        "complaint"
    )
    assert person_reason(both, statements, events(("old@x.com", "bounce", at(-3)))) is None
    assert person_reason(both, statements, events(("ann@x.com", "bounce", at(-3)))) == (
        "hard_bounce"
    )


# Recommendations ---------------------------------------------------------------------------

PRODUCTS = pl.DataFrame(
    {
        "sku": ["TENT", "STOVE", "MAT", "LAMP", "MUG", "BOOT", "SOCK"],
        "name": ["Tent", "Stove", "Mat", "Lamp", "Mug", "Boot", "Sock"],
        "category": ["camp", "camp", "camp", "camp", "camp", "shoes", "shoes"],
    }
)


def order_lines(
    *orders: tuple[str, str | None, list[str]], status: str = "shipped"
) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"order_id": order_id, "customer_id": customer, "sku": sku, "status": status}
            for order_id, customer, skus in orders
            for sku in skus
        ],
        schema={
            "order_id": pl.String,
            "customer_id": pl.String,
            "sku": pl.String,
            "status": pl.String,
        },
    )


def recommend(customers: dict[str, str | None], lines: pl.DataFrame) -> pl.DataFrame:
    return recommend_products(
        pl.DataFrame(
            {"customer_id": list(customers), "favourite_category": list(customers.values())},
            schema={"customer_id": pl.String, "favourite_category": pl.String},
        ),
        lines,
        PRODUCTS,
        per_person=3,
        counted_statuses=("placed", "paid", "shipped"),
    )


def test_recommendations_follow_co_purchases_and_never_repeat_an_owned_product() -> None:
    lines = order_lines(
        ("o1", "alice", ["TENT"]),
        ("o2", "alice", ["MAT"]),
        ("o3", None, ["TENT", "STOVE", "MAT"]),
        ("o4", None, ["TENT", "STOVE"]),
        ("o5", None, ["TENT", "LAMP"]),
        ("o6", None, ["BOOT", "SOCK"]),
    )
    recommended = recommend({"alice": "camp"}, lines)
    # STOVE: with TENT twice and MAT once (3); LAMP: with TENT once (1); then the camp best
    # seller MUG is never sold, so the overall best seller BOOT (tie with SOCK, by sku) fills.
    assert recommended["sku"].to_list() == ["STOVE", "LAMP", "BOOT"]
    assert recommended["basis"].to_list() == ["co_purchase", "co_purchase", "best_seller"]
    assert recommended["because_name"].to_list()[:2] == ["Tent", "Tent"]
    assert not set(recommended["sku"]) & {"TENT", "MAT"}


def test_an_owned_product_is_never_recommended_even_from_a_cancelled_order() -> None:
    lines = pl.concat(
        [
            order_lines(("o1", "bob", ["TENT"]), ("o2", None, ["TENT", "STOVE"])),
            order_lines(("o3", "bob", ["STOVE"]), status="cancelled"),
        ]
    )
    assert "STOVE" not in recommend({"bob": "camp"}, lines)["sku"].to_list()


def test_without_co_purchases_the_favourite_categorys_best_sellers_fill_in() -> None:
    lines = order_lines(
        ("o1", "carol", ["BOOT"]),
        ("o2", None, ["MAT"]),
        ("o3", None, ["MAT"]),
        ("o4", None, ["LAMP"]),
        ("o5", None, ["TENT"]),
        ("o6", None, ["TENT"]),
    )
    recommended = recommend({"carol": "camp"}, lines)
    # MAT and TENT tie on two orders each: sku order decides.
    assert recommended["sku"].to_list() == ["MAT", "TENT", "LAMP"]
    assert set(recommended["basis"]) == {"category_best_seller"}


def test_recommendations_are_the_same_whatever_the_row_order() -> None:
    lines = order_lines(
        ("o1", "dan", ["TENT"]),
        ("o2", None, ["TENT", "STOVE"]),
        ("o3", None, ["TENT", "LAMP"]),
        ("o4", None, ["TENT", "MAT"]),
        ("o5", "erin", ["BOOT"]),
    )
    expected = recommend({"dan": "camp", "erin": "shoes"}, lines)
    for seed in range(5):
        shuffled = lines.sample(fraction=1.0, shuffle=True, seed=seed)
        assert recommend({"dan": "camp", "erin": "shoes"}, shuffled).equals(expected)
    # Three products tie on one order with TENT: sku order decides.
    assert expected.filter(pl.col("customer_id") == "dan")["sku"].to_list() == [
        "LAMP",
        "MAT",
        "STOVE",
    ]


# Size guard --------------------------------------------------------------------------------


def test_size_guard_trips_on_a_large_relative_and_absolute_jump_only() -> None:
    current = pl.DataFrame(
        {"audience_id": ["big", "small", "new", "steady"], "size": [40, 8, 50, 98]}
    )
    previous = pl.DataFrame({"audience_id": ["big", "small", "steady"], "size": [100, 2, 100]})
    changes = size_changes(current, previous, max_ratio=0.5, min_people=10)
    assert dict(changes.select("audience_id", "breaches_guard").iter_rows()) == {
        "big": True,  # -60 %, 60 people
        "new": False,  # nothing to compare with
        "small": False,  # +300 %, but 6 people
        "steady": False,
    }


def test_size_guard_passes_a_steady_climb_and_a_return_to_the_usual_size() -> None:
    current = pl.DataFrame({"audience_id": ["climbing", "back", "jumped"], "size": [180, 100, 400]})
    # usual size (median of the last days) and the last export
    previous = pl.DataFrame(
        {
            "audience_id": ["climbing", "back", "jumped"],
            "size": [95, 100, 100],
            "last_size": [160, 400, 110],
        }
    )
    changes = size_changes(current, previous, max_ratio=0.5, min_people=10)
    assert dict(changes.select("audience_id", "breaches_guard").iter_rows()) == {
        "climbing": False,  # +89 % on the median, +12 % on yesterday
        "back": False,  # -75 % on yesterday's blocked jump, at its usual size
        "jumped": True,  # +300 % on both
    }


# The documented contract -------------------------------------------------------------------

DUCKDB_TYPES = {pl.Date: "DATE", pl.String: "VARCHAR", pl.Int64: "BIGINT"}


def _documented_tables() -> dict[str, list[tuple[str, str]]]:
    text = (DOCS / "exports.md").read_text()
    section = text.split("<!-- export-tables:start -->")[1].split("<!-- export-tables:end -->")[0]
    tables: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for line in section.splitlines():
        heading = re.match(r"^### `exports\.(\w+)`", line)
        if heading:
            current = heading.group(1)
            tables[current] = []
        row = re.match(r"^\| `(\w+)` \| (\w+) \|", line)
        if row and current:
            tables[current].append((row.group(1), row.group(2)))
    return tables


def test_documented_tables_and_columns_match_the_code() -> None:
    assert _documented_tables() == {
        table: [(name, DUCKDB_TYPES[dtype]) for name, dtype in columns.items()]  # type: ignore[index]
        for table, columns in COLUMNS.items()
    }


def test_documented_file_columns_match_the_code() -> None:
    text = (DOCS / "exports.md").read_text()
    section = text.split("<!-- export-file:start -->")[1].split("<!-- export-file:end -->")[0]
    assert re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE) == FILE_COLUMNS


def test_documented_thresholds_are_the_current_settings() -> None:
    text = (DOCS / "exports.md").read_text()
    # "`SIZE_CHANGE_MAX_RATIO` (75 %)": a ratio documented as a percentage, a count as is.
    documented = {
        name: float(number) / 100 if percent else float(number)
        for name, number, percent in re.findall(r"`([A-Z][A-Z_]+)` \((\d+(?:\.\d+)?)( %)?\)", text)
    }
    settings = {
        "SIZE_CHANGE_MAX_RATIO": export_settings.SIZE_CHANGE_MAX_RATIO,
        "SIZE_CHANGE_MIN_PEOPLE": export_settings.SIZE_CHANGE_MIN_PEOPLE,
        "SIZE_GUARD_BASELINE_DAYS": export_settings.SIZE_GUARD_BASELINE_DAYS,
        "SIZE_GUARD_MIN_HISTORY": export_settings.SIZE_GUARD_MIN_HISTORY,
        "AUDIENCE_CARRY_DAYS": export_settings.AUDIENCE_CARRY_DAYS,
        "VOLUME_LOW_RATIO": platform_settings.VOLUME_LOW_RATIO,
        "VOLUME_HIGH_RATIO": platform_settings.VOLUME_HIGH_RATIO,
        "VOLUME_TRAILING_PARTITIONS": platform_settings.VOLUME_TRAILING_PARTITIONS,
    }
    assert documented == pytest.approx(settings)


# The assets on a real DuckDB file ----------------------------------------------------------

SEGMENT = "campers"
PEOPLE_IN_SEGMENT = 80
WITHDRAWN = "cus_000000000007"  # granted long ago, withdrew yesterday
PARTITION = DAY.isoformat()
PREVIOUS_DAY = DAY - timedelta(days=1)
PREVIOUS_PARTITION = PREVIOUS_DAY.isoformat()


def _customer_id(index: int) -> str:
    return f"cus_{index:012d}"


def _email(index: int) -> str:
    return f"person{index}@example.org"


def _write_tables(database: Path, tables: dict[str, pl.DataFrame]) -> None:
    with duckdb.connect(str(database)) as connection:
        for name, frame in tables.items():
            connection.execute(f"create schema if not exists {name.split('.')[0]}")
            connection.register("frame", frame.to_arrow())
            connection.execute(f"create or replace table {name} as select * from frame")
            connection.unregister("frame")


def _members(day: date, indexes: range) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [_customer_id(i) for i in indexes],
            "segment": SEGMENT,
            "as_of_date": day,
            "reason": "bought camping gear",
        }
    )


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    """PEOPLE_IN_SEGMENT consenting campers on two days; person 7 withdrew the day before
    DAY."""
    database = tmp_path / "warehouse.duckdb"
    people = range(1, PEOPLE_IN_SEGMENT + 1)
    timestamp = pl.Datetime("us", "UTC")
    statements = [
        (_email(i), "email_marketing", "granted", at(-400), "signup_form") for i in people
    ]
    statements.append((_email(7), "email_marketing", "withdrawn", at(-1), "preference_center"))
    skus = ["TENT", "STOVE", "MAT", "LAMP", "MUG"]
    orders = [
        {
            "order_id": f"o{i}",
            "line_number": line,
            "customer_id": str(1000 + i),
            "ordered_at": at(-30 + i / 10),
            "status": "shipped",
            "sku": sku,
            "quantity": 1,
            "_partition_date": date(2026, 11, 1),
            "_row_number": i * 10 + line,
        }
        for i in people
        for line, sku in enumerate([skus[i % 5], skus[(i + 1) % 5]], start=1)
    ]
    _write_tables(
        database,
        {
            "cleaned.consent": pl.DataFrame(
                statements,
                schema={
                    "subject_email": pl.String,
                    "purpose": pl.String,
                    "status": pl.String,
                    "recorded_at": timestamp,
                    "source": pl.String,
                },
                orient="row",
            ).with_columns(_partition_date=pl.lit(date(2026, 11, 1))),
            "cleaned.email_events": pl.DataFrame(
                [("e1", _email(3), "open", at(-2))],
                schema={
                    "event_id": pl.String,
                    "email": pl.String,
                    "event_type": pl.String,
                    "occurred_at": timestamp,
                },
                orient="row",
            ).with_columns(_partition_date=pl.lit(date(2026, 11, 1))),
            "cleaned.orders": pl.DataFrame(orders).with_columns(
                pl.col("ordered_at").cast(timestamp)
            ),
            "cleaned.products": PRODUCTS.filter(pl.col("category") == "camp").with_columns(
                updated_at=pl.lit(at(-100)).cast(timestamp),
                _partition_date=pl.lit(date(2026, 11, 1)),
            ),
            "identity.customer_records": pl.DataFrame(
                {
                    "source": "shop_customers",
                    "source_record_id": [str(1000 + i) for i in people],
                    "record_key": [f"shop_customers:{1000 + i}" for i in people],
                    "customer_id": [_customer_id(i) for i in people],
                    "valid_from": date(2026, 11, 1),
                    "valid_to": pl.Series([None] * len(people), dtype=pl.Date),
                }
            ),
            "identity.person_records": pl.DataFrame(
                {
                    "record_key": [f"shop_customers:{1000 + i}" for i in people],
                    "email": [_email(i) for i in people],
                    "valid_to": pl.Series([None] * len(people), dtype=pl.Date),
                }
            ),
            "identity.golden_customers": pl.DataFrame(
                {
                    "customer_id": [_customer_id(i) for i in people],
                    "first_name": [f"Camper{i}" for i in people],
                    "email": [_email(i) for i in people],
                }
            ),
            "segments.segment_membership": pl.concat(
                [_members(DAY - timedelta(days=1), people), _members(DAY, people)]
            ),
            "segments.customer_features": pl.DataFrame(
                {
                    "customer_id": [_customer_id(i) for i in people],
                    "as_of_date": DAY,
                    "favourite_category": "camp",
                    "last_purchased_sku": [skus[(i + 1) % 5] for i in people],
                    "last_purchased_product_name": [skus[(i + 1) % 5].title() for i in people],
                }
            ),
        },
    )
    return {
        "database": database,
        "warehouse": Warehouse(database=str(database)),
        "export_directory": ExportDirectory(root=str(tmp_path / "exports")),
    }


def _materialize(world: dict[str, Any], partition: str = PARTITION) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [consent_state, export_tables, audience_files],
        partition_key=partition,
        resources={
            "warehouse": world["warehouse"],
            "export_directory": world["export_directory"],
        },
        raise_on_error=False,
    )


def _checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], bool]:
    return {
        (evaluation.asset_key.to_user_string(), evaluation.check_name): evaluation.passed
        for evaluation in result.get_asset_check_evaluations()
    }


def _query(world: dict[str, Any], sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(world["database"]), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_person_who_withdrew_is_in_no_export_table_or_file(world: dict[str, Any]) -> None:
    result = _materialize(world)
    assert result.success
    assert all(_checks(result).values()), _checks(result)
    day_filter = f"as_of_date = '{PARTITION}'"
    for table in ("people", "audience_memberships"):
        customers = {
            row[0]
            for row in _query(world, f"select customer_id from exports.{table} where {day_filter}")
        }
        assert len(customers) == PEOPLE_IN_SEGMENT - 1
        assert WITHDRAWN not in customers
    csv = world["export_directory"].read_day(DAY)[SEGMENT]
    assert csv.columns == FILE_COLUMNS
    assert csv.height == PEOPLE_IN_SEGMENT - 1
    assert _email(7) not in csv["email"].to_list()
    assert _query(
        world, f"select size, segment_members from exports.audiences where {day_filter}"
    ) == [(PEOPLE_IN_SEGMENT - 1, PEOPLE_IN_SEGMENT)]
    people_metadata = result.asset_materializations_for_node("export_tables")
    excluded = {
        m.asset_key.to_user_string(): m.metadata.get("excluded_by_reason") for m in people_metadata
    }["exports/people"]
    assert isinstance(excluded, dg.JsonMetadataValue)
    assert excluded.value == {
        "no_email": 0,
        "unreadable_consent": 0,
        "no_consent": 0,
        "withdrawn": 1,
        "complaint": 0,
        "hard_bounce": 0,
        "unsubscribed": 0,
        "shared_email": 0,
    }
    # The manifest beside the files: the day's consent snapshot and who was left out, why.
    manifest = world["export_directory"].read_manifest(DAY)
    assert manifest["audiences"][SEGMENT] == {
        "size": PEOPLE_IN_SEGMENT - 1,
        "segment_members": PEOPLE_IN_SEGMENT,
        "excluded_by_reason": excluded.value,
    }
    assert (
        manifest["consent_snapshot_sha256"]
        == _query(
            world, f"select consent_snapshot_sha256 from exports.audiences where {day_filter}"
        )[0][0]
    )
    assert manifest["files"][f"{SEGMENT}.csv"]["rows"] == PEOPLE_IN_SEGMENT - 1
    assert (
        manifest["files"][f"{SEGMENT}.csv"]["sha256"]
        == hashlib.sha256(
            (world["export_directory"].day_folder(DAY) / f"{SEGMENT}.csv").read_bytes()
        ).hexdigest()
    )
    # Every token is filled from the upstream tables, and no one is offered what they own.
    owned = dict(_query(world, "select customer_id, list(sku) from cleaned.orders group by 1"))
    shop_ids = dict(
        _query(world, "select customer_id, source_record_id from identity.customer_records")
    )
    for row in csv.iter_rows(named=True):
        recommended = {row[f"recommended_product_{n}_sku"] for n in (1, 2, 3)}
        assert None not in recommended and len(recommended) == 3
        assert not recommended & set(owned[shop_ids[row["customer_id"]]])
        assert row["first_name"] and row["favourite_category"] == "camp"
    # The real tables have exactly the documented columns.
    for table, columns in COLUMNS.items():
        described = _query(world, f"describe exports.{table}")
        assert [(c[0], c[1]) for c in described] == [
            (name, DUCKDB_TYPES[dtype])
            for name, dtype in columns.items()  # type: ignore[index]
        ]


def test_rerunning_a_day_replaces_its_rows_and_files_without_duplicates(
    world: dict[str, Any],
) -> None:
    first = _materialize(world)
    second = _materialize(world)
    assert first.success and second.success
    for table in ("audiences", "people", "audience_memberships"):
        assert _query(world, f"select count(*) from exports.{table}") == [
            (1 if table == "audiences" else PEOPLE_IN_SEGMENT - 1,)
        ]
    files = world["export_directory"].day_files(DAY)
    assert [path.name for path in files] == [f"{SEGMENT}.csv"]
    assert world["export_directory"].read_day(DAY)[SEGMENT].height == PEOPLE_IN_SEGMENT - 1


def test_consent_check_fails_and_blocks_the_files_when_an_exception_slips_through(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def everyone_exportable(members: pl.DataFrame, address_state: pl.DataFrame) -> pl.DataFrame:
        return members.select(
            "customer_id", "email", pl.lit(None, dtype=pl.String).alias("exclusion_reason")
        )

    monkeypatch.setattr(build_module, "member_exclusions", everyone_exportable)
    result = _materialize(world)
    assert not result.success
    assert _checks(result)[("exports/people", "consent_safe")] is False
    evaluation = next(
        e for e in result.get_asset_check_evaluations() if e.check_name == "consent_safe"
    )
    assert evaluation.metadata["people_violations"].value == 1
    assert evaluation.metadata["example_customer_ids"].value == [WITHDRAWN]
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert dg.AssetKey(["exports", "audience_files"]) not in materialized
    assert world["export_directory"].day_files(DAY) == []


def test_consent_violation_leaves_the_days_export_tables_as_they_were(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def export_tables(day_filter: str) -> dict[str, list[tuple[Any, ...]]]:
        return {
            table: _query(world, f"select * from exports.{table} where {day_filter} order by all")
            for table in COLUMNS
        }

    assert _materialize(world).success
    before = export_tables(f"as_of_date = '{PARTITION}'")
    assert len(before["people"]) == PEOPLE_IN_SEGMENT - 1

    def everyone_exportable(members: pl.DataFrame, address_state: pl.DataFrame) -> pl.DataFrame:
        return members.select(
            "customer_id", "email", pl.lit(None, dtype=pl.String).alias("exclusion_reason")
        )

    monkeypatch.setattr(build_module, "member_exclusions", everyone_exportable)
    rerun = _materialize(world)
    assert not rerun.success
    assert _checks(rerun)[("exports/people", "consent_safe")] is False
    assert export_tables(f"as_of_date = '{PARTITION}'") == before
    # A day never exported before gets no rows at all.
    assert not _materialize(world, PREVIOUS_PARTITION).success
    assert export_tables(f"as_of_date = '{PREVIOUS_PARTITION}'") == dict.fromkeys(COLUMNS, [])


def test_file_with_an_address_that_may_not_be_emailed_fails_and_is_deleted(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_files = export_assets_module.files_by_audience

    def files_with_the_withdrawn_person(*tables: pl.DataFrame) -> dict[str, pl.DataFrame]:
        files = real_files(*tables)
        intruder = files[SEGMENT].head(1).with_columns(email=pl.lit(_email(7)))
        return {SEGMENT: pl.concat([files[SEGMENT], intruder])}

    monkeypatch.setattr(export_assets_module, "files_by_audience", files_with_the_withdrawn_person)
    result = _materialize(world)
    checks = _checks(result)
    assert checks[("exports/people", "consent_safe")] is True
    assert checks[("exports/audience_files", "consent_safe")] is False
    assert world["export_directory"].day_files(DAY) == []


def test_every_file_written_is_in_the_audit_log_and_cdp_audit_lists_it(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = _materialize(world), _materialize(world)
    assert first.success and second.success
    rows = _query(
        world,
        "select subject, partition_key, row_count, checksum, manifest_sha256, run_id"
        " from ops.audit_log where action = 'export_written' order by recorded_at",
    )
    folder = world["export_directory"].day_folder(DAY)
    file_sha = hashlib.sha256((folder / f"{SEGMENT}.csv").read_bytes()).hexdigest()
    manifest_sha = hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    # appended, one row per write: the trail keeps the first write too
    assert [row[:4] for row in rows] == [(SEGMENT, PARTITION, PEOPLE_IN_SEGMENT - 1, file_sha)] * 2
    assert rows[1][4] == manifest_sha and rows[1][5] == second.run_id != rows[0][5]
    assert all("@" not in str(value) for row in rows for value in row)
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(world["warehouse"].path))
    assert cli_main(["audit", "--action", "export_written"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and all(SEGMENT in line and file_sha[:12] in line for line in printed)
    assert second.run_id in printed[0]  # newest first


def test_a_manifest_that_does_not_reconcile_fails_the_consent_check_and_removes_the_files(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_manifest = export_assets_module.day_manifest

    def one_exclusion_forgotten(*arguments: Any) -> dict[str, Any]:
        manifest = real_manifest(*arguments)
        manifest["audiences"][SEGMENT]["excluded_by_reason"]["withdrawn"] = 0
        return manifest

    monkeypatch.setattr(export_assets_module, "day_manifest", one_exclusion_forgotten)
    result = _materialize(world)
    assert _checks(result)[("exports/audience_files", "consent_safe")] is False
    assert world["export_directory"].day_files(DAY) == []


def test_manifest_reconciliation_names_a_file_changed_after_it_was_written() -> None:
    audiences = _reconciled_audiences()
    manifest = {
        "consent_snapshot_sha256": "a" * 64,
        "audiences": {
            "campers": {
                "size": 2,
                "segment_members": 3,
                "excluded_by_reason": {r: int(r == "withdrawn") for r in EXCLUSION_REASONS},
            }
        },
        "files": {"campers.csv": {"rows": 2, "sha256": "1" * 64}},
    }
    assert manifest_problems(manifest, {"campers.csv": "1" * 64}, audiences) == []
    assert manifest_problems(manifest, {"campers.csv": "2" * 64}, audiences) == [
        "campers.csv: its checksum is not the one in the manifest"
    ]
    assert manifest_problems(None, {}, audiences) == ["manifest.json is missing or unreadable"]
    short = audiences.with_columns(segment_members=pl.lit(4, dtype=pl.Int64))
    assert "campers: 4 members, but 2 exported and 1 excluded" in manifest_problems(
        manifest, {"campers.csv": "1" * 64}, short
    )


def _reconciled_audiences() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "audience_id": ["campers"],
            "size": [2],
            "segment_members": [3],
            **{f"excluded_{r}": [int(r == "withdrawn")] for r in EXCLUSION_REASONS},
            "consent_snapshot_sha256": ["a" * 64],
        }
    )


def test_segment_name_that_is_no_file_name_fails_the_schema_check_and_writes_no_file(
    world: dict[str, Any],
) -> None:
    bad_name = _members(DAY, range(1, 4)).with_columns(segment=pl.lit("../campers"))
    _write_tables(world["database"], {"segments.segment_membership": bad_name})
    result = _materialize(world)
    assert not result.success
    assert _checks(result)[("exports/audiences", "schema")] is False
    assert world["export_directory"].day_files(DAY) == []


def _drop_to_five_campers_after(world: dict[str, Any], days_of_history: int) -> date:
    """Export the full segment on the first days of the range, then leave five campers on the
    day after them, which is returned."""
    first = date.fromisoformat(daily_partitions.get_first_partition_key())
    history = [first + timedelta(days=n) for n in range(days_of_history)]
    target = first + timedelta(days=days_of_history)
    everyone = range(1, PEOPLE_IN_SEGMENT + 1)
    _write_tables(
        world["database"],
        {
            "segments.segment_membership": pl.concat(
                [*(_members(day, everyone) for day in history), _members(target, range(1, 6))]
            )
        },
    )
    for day in history:
        assert _materialize(world, day.isoformat()).success
    return target


def test_size_jump_fails_the_guard_and_writes_no_file(world: dict[str, Any]) -> None:
    # Only five campers are left: a drop of over 70 people, over 90 %.
    day = _drop_to_five_campers_after(world, export_settings.SIZE_GUARD_MIN_HISTORY)
    result = _materialize(world, day.isoformat())
    assert not result.success
    assert _checks(result)[("exports/audiences", "size_change")] is False
    assert world["export_directory"].day_files(day) == []
    assert world["export_directory"].day_files(day - timedelta(days=1)) != []


def test_an_audience_without_enough_history_is_not_size_guarded(world: dict[str, Any]) -> None:
    # The same drop, but after fewer exports than it takes to know the audience's usual size.
    day = _drop_to_five_campers_after(world, export_settings.SIZE_GUARD_MIN_HISTORY - 1)
    result = _materialize(world, day.isoformat())
    assert result.success
    assert _checks(result)[("exports/audiences", "size_change")] is True
    assert world["export_directory"].day_files(day) != []


def test_an_audience_emptied_today_gets_a_header_only_file_so_the_platform_empties_it_too(
    world: dict[str, Any],
) -> None:
    # Yesterday the campers had members; today only a small new segment has any.
    assert _materialize(world, PREVIOUS_PARTITION).success
    hikers = _members(DAY, range(1, 4)).with_columns(segment=pl.lit("hikers"))
    _write_tables(
        world["database"],
        {
            "segments.segment_membership": pl.concat(
                [_members(PREVIOUS_DAY, range(1, PEOPLE_IN_SEGMENT + 1)), hikers]
            )
        },
    )
    result = _materialize(world)
    assert result.success, _checks(result)
    assert _query(
        world,
        "select audience_id, segment_members, size from exports.audiences"
        f" where as_of_date = '{PARTITION}' order by audience_id",
    ) == [(SEGMENT, 0, 0), ("hikers", 3, 3)]
    files = world["export_directory"].read_day(DAY)
    assert sorted(files) == [SEGMENT, "hikers"]
    assert files[SEGMENT].height == 0 and files[SEGMENT].columns == FILE_COLUMNS

    # A week without members later, the audience is no longer exported at all.
    later = DAY + timedelta(days=export_settings.AUDIENCE_CARRY_DAYS + 1)
    _write_tables(
        world["database"],
        {
            "segments.segment_membership": _members(later, range(1, 4)).with_columns(
                segment=pl.lit("hikers")
            )
        },
    )
    assert _materialize(world, later.isoformat()).success
    assert sorted(world["export_directory"].read_day(later)) == ["hikers"]


def test_audience_file_cells_that_a_spreadsheet_would_run_are_kept_as_text() -> None:
    people = pl.DataFrame(
        {name: ["x"] for name in FILE_COLUMNS}
        | {
            "customer_id": ["cus_000000000001"],
            "email": ["ann@example.com"],
            "first_name": ['=HYPERLINK("http://evil.example","Ann")'],
            "last_purchased_product": ["+SUM(A1:A9)"],
            "favourite_category": ["@cmd"],
            "recommended_product_1": ["-2+3"],
            "recommended_product_2": ["Mug - large"],
        }
    )
    files = build_module.files_by_audience(
        pl.DataFrame({"audience_id": ["a"]}),
        people,
        pl.DataFrame({"audience_id": ["a"], "customer_id": ["cus_000000000001"]}),
    )
    (row,) = files["a"].to_dicts()
    assert row["first_name"] == '\'=HYPERLINK("http://evil.example","Ann")'
    assert row["last_purchased_product"] == "'+SUM(A1:A9)"
    assert row["favourite_category"] == "'@cmd"
    assert row["recommended_product_1"] == "'-2+3"
    assert row["recommended_product_2"] == "Mug - large"  # a dash inside is plain text
    assert row["email"] == "ann@example.com"


# When in doubt, do not send ------------------------------------------------------------------


def test_consent_rows_that_cannot_be_read_hold_their_people_back(
    land: Any, materialize_day: Any, warehouse: Any
) -> None:
    """Through the real cleaned layer: a withdrawal in a status spelling nobody mapped and one
    with an unparseable timestamp are quarantined, and still keep their people out."""
    from platform_assets.exports.assets import readable_consent_verdict
    from platform_assets.exports.inputs import read_unreadable_consent

    header = "subject_email,purpose,status,recorded_at,source\n"
    land("consent", "consent.csv", header
         + "ann@x.com,email_marketing,granted,2026-10-01T09:00:00Z,signup_form\n"
         + "ann@x.com,email_marketing,w/drawn,2026-11-02T09:00:00Z,preference_centre\n"
         + "bob@x.com,email_marketing,granted,2026-10-01T09:00:00Z,signup_form\n"
         + "bob@x.com,email_marketing,withdrawn,yesterday-ish,preference_centre\n"
         + "cy@x.com,email_marketing,granted,2026-10-01T09:00:00Z,signup_form\n")  # fmt: skip
    land("email_events", "events.jsonl", rows=[
        {"event_id": "e1", "occurred_at": "2026-11-02T10:00:00Z", "email": "dee@x.com",
         "campaign_id": "c", "event_type": "unsub-request", "url": None},
    ])  # fmt: skip
    assert materialize_day('key:"cleaned/consent" or key:"cleaned/email_events"'
                           ' or key:"raw/consent" or key:"raw/email_events"').success  # fmt: skip
    with warehouse.session(read_only=True) as db:
        unreadable = read_unreadable_consent(db)
        statements = db.query(
            "select subject_email as email, status, recorded_at from cleaned.consent"
        )
    assert sorted(unreadable["email"]) == ["ann@x.com", "bob@x.com", "dee@x.com"]
    grant = consent(("dee@x.com", "granted", at(-30)))
    states = address_states(pl.concat([statements, grant]), events(), DAY_END, unreadable)
    reasons = dict(states.select("email", "exclusion_reason").iter_rows())
    assert reasons == {
        "ann@x.com": "unreadable_consent",
        "bob@x.com": "unreadable_consent",
        "cy@x.com": None,
        "dee@x.com": "unreadable_consent",
    }
    verdict = readable_consent_verdict(unreadable)
    assert not verdict.passed and "consent/2026-11-02/consent.csv line 2" in verdict.description
    assert "@" not in json.dumps(verdict.metadata) + verdict.description


def test_consent_lines_the_raw_layer_rejects_hold_back_their_address_or_the_whole_day(
    land: Any, materialize_day: Any, warehouse: Any
) -> None:
    from platform_assets.exports.inputs import consent_held_back_by, read_unreadable_consent

    landed = date(2026, 11, 2)  # the day `land` lands on
    land("consent", "consent.jsonl", "\n".join([
        '{"subject_email": "ann@x.com", "purpose": "email_marketing", "status": "granted",'
        ' "recorded_at": "2026-10-01T09:00:00Z", "source": "signup_form"}',
        '{"subject_email": "eve@x.com", "purpose": "email_marketing", "status": "withdrawn"',
    ]) + "\n")  # fmt: skip
    assert materialize_day('key:"raw/consent" or key:"cleaned/consent"').success
    with warehouse.session(read_only=True) as db:
        unreadable = read_unreadable_consent(db)
        assert consent_held_back_by(db, landed) == []
    assert unreadable["email"].to_list() == ["eve@x.com"]
    assert unreadable["rule"][0].startswith("unreadable_line:invalid JSON")
    # a line with no address in it, and a file nobody can read, may withdraw anyone
    land("consent", "more.jsonl", '{"purpose": "email_marketing", "status": \n')
    land("consent", "consent.xlsx", b"PK\x03\x04 a spreadsheet")
    assert materialize_day('key:"raw/consent" or key:"cleaned/consent"').success
    with warehouse.session(read_only=True) as db:
        held = consent_held_back_by(db, landed)
        assert consent_held_back_by(db, landed - timedelta(days=1)) == []
    assert [entry.split(":")[0] for entry in held] == [
        "consent/2026-11-02/consent.xlsx",
        "consent/2026-11-02/more.jsonl line 1",
    ]


def test_an_unreadable_consent_file_holds_the_days_exports_back(world: dict[str, Any]) -> None:
    assert _materialize(world).success
    before = world["export_directory"].day_files(DAY)
    _write_tables(
        world["database"],
        {
            "raw.landed_files": pl.DataFrame(
                {
                    "source": ["consent"],
                    "_partition_date": [DAY - timedelta(days=1)],
                    "file": ["consent/2026-11-02/consent.csv.gz"],
                    "status": ["rejected"],
                    "reason": ["not a gzip file"],
                }
            )
        },
    )
    result = _materialize(world)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    message = str(failure.event_specific_data)
    assert "held back" in message and "consent/2026-11-02/consent.csv.gz" in message
    # the files of the day stay as they were: nothing new was decided without that file
    assert world["export_directory"].day_files(DAY) == before


def test_a_readable_statement_after_the_unreadable_one_settles_it() -> None:
    unreadable = pl.DataFrame(
        [("a@x.com", "consent", "consent/2026-11-01/c.csv", 2, "invalid_required",
          DAY - timedelta(days=2))],
        schema=dict(build_module.UNREADABLE_CONSENT_SCHEMA), orient="row",
    )  # fmt: skip
    before = consent(("a@x.com", "granted", at(-2.5)))
    assert reason_of_with(unreadable, before) == "unreadable_consent"
    after = consent(("a@x.com", "granted", at(-0.5)))  # recorded after that landing day
    assert reason_of_with(unreadable, after) is None
    withdrawn_after = consent(("a@x.com", "withdrawn", at(-0.5)))
    assert reason_of_with(unreadable, withdrawn_after) == "withdrawn"


def reason_of_with(unreadable: pl.DataFrame, statements: pl.DataFrame) -> str | None:
    states = address_states(statements, events(), DAY_END, unreadable)
    return states.filter(pl.col("email") == "a@x.com")["exclusion_reason"].item()


@pytest.mark.parametrize("crash_at_rename", [1, 2])
def test_a_crash_inside_the_day_folder_swap_leaves_old_or_no_files_and_the_next_write_converges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_at_rename: int
) -> None:
    """The process dies between the swap's renames (as under SIGKILL: nothing after it runs)."""
    directory = ExportDirectory(root=str(tmp_path))
    old = {"a": pl.DataFrame({"email": ["old@x.com"]})}
    new = {
        "a": pl.DataFrame({"email": ["new@x.com", "two@x.com"]}),
        "b": pl.DataFrame({"email": ["b@x.com"]}),
    }
    directory.write_day(DAY, old)
    renames = 0
    real_rename = Path.rename

    def dying_rename(self: Path, target: Any) -> Any:
        nonlocal renames
        renames += 1
        if renames == crash_at_rename:
            raise KeyboardInterrupt("killed")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", dying_rename)
    with pytest.raises(KeyboardInterrupt):
        directory.write_day(DAY, new)
    monkeypatch.setattr(Path, "rename", real_rename)
    # What a reader sees meanwhile: the old day whole, or no day; never a mix or half a file.
    seen = {name: rows.to_dicts() for name, rows in directory.read_day(DAY).items()}
    assert seen in ({}, {"a": old["a"].to_dicts()})
    directory.write_day(DAY, new)
    assert {k: v.to_dicts() for k, v in directory.read_day(DAY).items()} == {
        k: v.to_dicts() for k, v in new.items()
    }
    assert [p.name for p in tmp_path.iterdir()] == [DAY.isoformat()]  # no leftovers
