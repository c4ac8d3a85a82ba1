"""The identity graph's plan for one partition, on frames: what a window changes, decided
without a warehouse (resolve.plan_partition over a hand-made GraphState).

The records carry only an email, so no Splink model is needed: the deterministic email rules
decide. test_identity.py runs the same code through the warehouse and Splink.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import duckdb
import polars as pl

from platform_assets import checks
from platform_assets.identity import graph, records, resolve
from platform_assets.identity.schemas import SCHEMAS

DAY = date(2026, 11, 2)
# Splink is never asked: no record names a person.
NO_MODEL = "{}"


def _recipients(*rows: tuple[str, str, str]) -> pl.DataFrame:
    """Email recipients (`key`, `email`, `record_hash`): records that carry only an address."""
    schema = {
        **{column: pl.Utf8 for column in records.PERSON_COLUMNS},
        "date_of_birth": pl.Date,
        "observed_at": pl.Datetime("us", "UTC"),
        "record_hash": pl.Utf8,
    }
    people = []
    for key, email, record_hash in rows:
        person: dict[str, object] = dict.fromkeys(schema)
        person.update(
            record_key=f"email_events:{key}",
            source="email_events",
            source_record_id=key,
            email=email,
            observed_at=datetime(2026, 11, 1, tzinfo=UTC),
            record_hash=record_hash,
        )
        people.append(person)
    return pl.DataFrame(people, schema=schema)


def _empty_graph(window: pl.DataFrame) -> resolve.GraphState:
    edges = pl.DataFrame(schema=records.EDGE_SCHEMA)
    return resolve.GraphState(
        partition=DAY,
        window_after=None,
        window=window,
        person_records=window.clear(),
        edges=edges,
        customers=pl.DataFrame(schema={"record_key": pl.Utf8, "customer_id": pl.Utf8}),
        overrides=pl.DataFrame(
            schema={"left_record_key": pl.Utf8, "right_record_key": pl.Utf8, "rule": pl.Utf8}
        ),
        logins=[],
        next_customer_number=1,
        reissuable={},
        corrected=pl.Series("customer_id", [], dtype=pl.Utf8),
    )


def _after(state: resolve.GraphState, plan: resolve.PartitionPlan) -> resolve.GraphState:
    """The state the next partition reads once `plan` is written (what write_plan stores)."""
    customers = state.customers.update(plan.reassigned, on="record_key", how="full")
    edges = pl.concat(
        [
            state.edges.join(
                plan.retired, on=["left_record_key", "right_record_key", "edge_type"], how="anti"
            ),
            plan.added,
        ]
    )
    person_records = pl.concat(
        [
            state.person_records.join(plan.changed, on="record_key", how="anti"),
            plan.changed,
        ]
    )
    return replace(
        state,
        window_after=state.partition,
        person_records=person_records,
        edges=edges,
        customers=customers,
        next_customer_number=state.next_customer_number + plan.issued.height,
    )


def _customer_of(state: resolve.GraphState) -> dict[str, str]:
    return dict(state.customers.select("record_key", "customer_id").iter_rows())


def test_two_carriers_of_one_address_become_one_new_customer() -> None:
    window = _recipients(("a", "ann@example.org", "h1"), ("b", "ann@example.org", "h2"))
    plan = resolve.plan_partition(_empty_graph(window), NO_MODEL)

    assert plan.changed.height == 2 and plan.result.new_records == 2
    assert plan.added.select("left_record_key", "right_record_key", "edge_type").rows() == [
        ("email_events:a", "email_events:b", "same_email")
    ]
    assert plan.retired.is_empty()
    assert plan.issued["customer_id"].to_list() == [graph.format_customer_id(1)]
    assert set(plan.reassigned["customer_id"]) == {graph.format_customer_id(1)}
    assert plan.events["event_type"].to_list() == ["new"]
    assert plan.golden_customers.to_list() == [graph.format_customer_id(1)]


def test_a_window_that_repeats_what_the_graph_holds_changes_nothing() -> None:
    window = _recipients(("a", "ann@example.org", "h1"), ("b", "ann@example.org", "h2"))
    first = _empty_graph(window)
    built = _after(first, resolve.plan_partition(first, NO_MODEL))

    again = resolve.plan_partition(replace(built, partition=date(2026, 11, 3)), NO_MODEL)

    assert again.changed.is_empty() and again.result.records_in_window == 2
    assert again.added.is_empty() and again.retired.is_empty()
    assert again.reassigned.is_empty() and again.issued.is_empty() and again.events.is_empty()


def test_a_changed_address_retires_the_edge_and_splits_off_a_new_customer() -> None:
    first = _empty_graph(
        _recipients(("a", "ann@example.org", "h1"), ("b", "ann@example.org", "h2"))
    )
    built = _after(first, resolve.plan_partition(first, NO_MODEL))
    moved = _recipients(("b", "bob@example.org", "h3"))

    plan = resolve.plan_partition(
        replace(built, partition=date(2026, 11, 3), window=moved), NO_MODEL
    )
    after = _customer_of(_after(built, plan))

    assert plan.result.changed_records == 1 and plan.changed["record_hash"].to_list() == ["h3"]
    assert plan.retired.select("left_record_key", "right_record_key").rows() == [
        ("email_events:a", "email_events:b")
    ]
    assert plan.added.is_empty()
    # The larger part keeps the id (a tie goes to the smallest record); the other gets a new one.
    assert after["email_events:a"] == graph.format_customer_id(1)
    assert after["email_events:b"] == graph.format_customer_id(2)
    assert set(plan.events["event_type"]) == {"split"}
    assert set(plan.golden_customers) == {graph.format_customer_id(1), graph.format_customer_id(2)}


def test_a_never_link_override_keeps_two_carriers_of_one_address_apart() -> None:
    window = _recipients(("a", "ann@example.org", "h1"), ("b", "ann@example.org", "h2"))
    state = replace(
        _empty_graph(window),
        overrides=pl.DataFrame(
            {
                "left_record_key": ["email_events:a"],
                "right_record_key": ["email_events:b"],
                "rule": ["never_link"],
            }
        ),
    )
    plan = resolve.plan_partition(state, NO_MODEL)

    customer_of = dict(plan.reassigned.select("record_key", "customer_id").iter_rows())
    assert customer_of["email_events:a"] != customer_of["email_events:b"]
    assert plan.issued.height == 2


def test_the_contract_tables_are_created_from_the_schemas_their_checks_validate() -> None:
    connection = duckdb.connect()
    resolve.ensure_tables(connection)
    for table in resolve.CONTRACT_TABLES:
        created = connection.execute(
            "select column_name, data_type, is_nullable = 'YES' from information_schema.columns"
            " where table_schema = 'identity' and table_name = ? order by ordinal_position",
            [table],
        ).fetchall()
        expected = [
            (name, checks.warehouse_type(column.dtype.type).upper(), column.nullable)
            for name, column in SCHEMAS[table].columns.items()
        ]
        assert created == expected, table
