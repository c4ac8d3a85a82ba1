"""The day's dbt data tests as one query per build phase: phases, statuses and the query itself,
on hand-made manifest nodes and a real in-memory DuckDB."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from platform_assets.transform.data_tests import (
    blocked_models,
    data_test_source,
    data_tests_by_phase,
    descendants,
    failures_query,
    failures_select,
    models_by_phase,
    outcomes,
    phase_of,
    status_of,
)
from platform_assets.transform.views import in_build_order, reused_output, views_state


def model(name: str, layer: str) -> dict[str, Any]:
    return {
        "unique_id": f"model.cdp.{name}",
        "name": name,
        "schema": layer,
        "alias": name,
        "fqn": ["cdp", layer, name],
        "config": {"schema": layer},
    }


def data_test(name: str, *reads: str, severity: str = "ERROR", **config: Any) -> dict[str, Any]:
    return {
        "unique_id": f"test.cdp.{name}",
        "fqn": ["cdp", name],
        "attached_node": f"model.cdp.{reads[0]}",
        "depends_on": {"nodes": [f"model.cdp.{read}" for read in reads]},
        "config": {"severity": severity, "fail_calc": "count(*)", "warn_if": "!= 0",
                   "error_if": "!= 0", "limit": None, **config},
    }  # fmt: skip


NODES = {
    node["unique_id"]: node
    for node in [
        model("stg_orders", "staging"),
        model("int_products", "intermediate"),
        model("dim_customer", "star"),
        model("fct_orders", "star"),
        model("segment_membership", "segments"),
        data_test("not_null_stg_orders", "stg_orders"),
        data_test("unique_fct_orders", "fct_orders"),
        # a relationship test reads its child and its parent: it runs once both are built
        data_test("relationships_segment_to_dim", "segment_membership", "dim_customer"),
        data_test("relationships_fct_to_dim", "fct_orders", "dim_customer"),
    ]
}
CHILD_MAP = {
    "model.cdp.stg_orders": ["model.cdp.fct_orders", "test.cdp.not_null_stg_orders"],
    "model.cdp.fct_orders": ["model.cdp.segment_membership", "test.cdp.unique_fct_orders"],
    "model.cdp.dim_customer": ["model.cdp.segment_membership"],
    "model.cdp.segment_membership": [],
}


def test_models_go_in_their_layers_phase_views_first() -> None:
    models = [uid for uid, node in NODES.items() if uid.startswith("model.")]
    assert models_by_phase(NODES, models) == [
        ["model.cdp.int_products", "model.cdp.stg_orders"],
        ["model.cdp.dim_customer", "model.cdp.fct_orders"],
        ["model.cdp.segment_membership"],
    ]


def test_a_layer_in_no_phase_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="BUILD_PHASES"):
        phase_of(model("report", "reports"))


def test_a_test_runs_after_the_last_phase_that_builds_what_it_reads() -> None:
    tests = [uid for uid in NODES if uid.startswith("test.")]
    models = [uid for uid in NODES if uid.startswith("model.")]
    assert data_tests_by_phase(NODES, tests, models) == [
        ["test.cdp.not_null_stg_orders"],
        ["test.cdp.relationships_fct_to_dim", "test.cdp.unique_fct_orders"],
        ["test.cdp.relationships_segment_to_dim"],
    ]
    # A test of a model this run does not build reads the table as it is: first phase.
    assert data_tests_by_phase(NODES, ["test.cdp.unique_fct_orders"], [])[0] == [
        "test.cdp.unique_fct_orders"
    ]


def test_a_failed_test_blocks_its_attached_model_and_holds_back_everything_below() -> None:
    results = outcomes(
        NODES,
        [
            {"unique_id": "test.cdp.not_null_stg_orders", "failures": 2,
             "should_warn": True, "should_error": True},
            {"unique_id": "test.cdp.relationships_fct_to_dim", "failures": 0,
             "should_warn": False, "should_error": False},
        ],
    ).values()  # fmt: skip
    blocked = blocked_models(NODES, results)
    assert blocked == {"model.cdp.stg_orders"}
    below = descendants(CHILD_MAP, blocked)
    assert {"model.cdp.fct_orders", "model.cdp.segment_membership"} <= below
    assert "model.cdp.dim_customer" not in below and "model.cdp.stg_orders" not in below


def test_statuses_follow_dbts_severity_rules() -> None:
    error, warn = {"severity": "ERROR"}, {"severity": "warn"}
    assert status_of(error, should_warn=True, should_error=True) == "fail"
    assert status_of(error, should_warn=True, should_error=False) == "warn"
    assert status_of(error, should_warn=False, should_error=False) == "pass"
    assert status_of(warn, should_warn=True, should_error=True) == "warn"  # never fails
    assert status_of(warn, should_warn=False, should_error=True) == "pass"  # ignores error_if
    # a warning blocks nothing; only a failure (or a query that errors) does
    (warned,) = outcomes(
        {"t": {"config": warn}},
        [{"unique_id": "t", "failures": 3, "should_warn": True, "should_error": True}],
    ).values()
    assert warned.status == "warn" and not warned.blocks


def test_the_query_counts_each_tests_failing_rows_with_its_thresholds() -> None:
    with duckdb.connect() as db:
        db.execute("create table orders as select * from range(10) t(id)")
        selects = [
            failures_select("test.none", {}, "select * from orders where id < 0"),
            failures_select("test.three", {}, "select * from orders where id < 3"),
            # dbt's thresholds: warn above 2, error above 5, count at most 4 rows
            failures_select(
                "test.limited",
                {"warn_if": "> 2", "error_if": "> 5", "limit": 4},
                "select * from orders where id < 8",
            ),
            failures_select("test.it's", {"fail_calc": "sum(id)"}, "select * from orders"),
        ]
        rows = db.execute(failures_query(selects)).fetchall()
    assert sorted(rows) == [
        ("test.it's", 45, True, True),
        ("test.limited", 4, True, False),
        ("test.none", 0, False, False),
        ("test.three", 3, True, True),
    ]


def test_a_test_compiles_again_when_a_column_it_reads_changes() -> None:
    # `no_email_addresses_in_text` lists a model's text columns as the warehouse has them: a
    # new column must not be missed by SQL compiled before it existed.
    test = "test.cdp.relationships_fct_to_dim"
    columns = {
        "star.fct_orders": [("order_id", "VARCHAR"), ("customer_id", "VARCHAR")],
        "star.dim_customer": [("customer_id", "VARCHAR")],
        "segments.segment_membership": [("customer_id", "VARCHAR")],
    }
    source = data_test_source(NODES, test, columns)
    assert source.selector == "cdp.relationships_fct_to_dim"
    unrelated = {**columns, "segments.segment_membership": [("segment", "VARCHAR")]}
    assert data_test_source(NODES, test, unrelated) == source
    wider = {**columns, "star.fct_orders": [*columns["star.fct_orders"], ("note", "VARCHAR")]}
    assert data_test_source(NODES, test, wider).inputs != source.inputs


def test_a_test_whose_query_fails_errors_alone_and_the_others_still_count() -> None:
    from platform_assets.transform.assets import run_tests
    from resources import WarehouseSession

    nodes = {
        "test.cdp.good": data_test("good", "fct_orders"),
        "test.cdp.broken": data_test("broken", "fct_orders"),
    }
    with duckdb.connect() as connection:
        connection.execute("create table orders as select * from range(5) t(id)")
        results = run_tests(
            WarehouseSession(connection),
            nodes,
            {
                "test.cdp.good": "select * from orders where id > 2",
                "test.cdp.broken": "select * from orders_that_vanished",
            },
        )
    assert (results["test.cdp.good"].status, results["test.cdp.good"].failures) == ("fail", 2)
    broken = results["test.cdp.broken"]
    assert broken.status == "error" and broken.blocks and broken.failures is None
    assert broken.message is not None and "orders_that_vanished" in broken.message


def test_a_phase_of_views_is_reused_only_while_nothing_that_decides_it_changes() -> None:
    source = {"schema": "cleaned", "identifier": "products"}
    stg = {**model("stg_products", "staging"), "depends_on": {"nodes": ["source.cdp.p"]}}
    dedup = {
        **model("int_products", "intermediate"),
        "depends_on": {"nodes": ["model.cdp.stg_products"]},
    }
    manifest = {
        "nodes": {node["unique_id"]: node for node in (stg, dedup)},
        "sources": {"source.cdp.p": source},
    }
    views = ["model.cdp.int_products", "model.cdp.stg_products"]
    columns = {
        "cleaned.products": [("sku", "VARCHAR")],
        "staging.stg_products": [("sku", "VARCHAR")],
        "intermediate.int_products": [("sku", "VARCHAR")],
    }
    queries = {"staging.stg_products": "select sku", "intermediate.int_products": "select *"}
    state = views_state(manifest, views, columns, queries, "project")
    assert views_state(manifest, list(reversed(views)), columns, queries, "project") == state
    # DuckDB quotes type names in a view it has just created, not in one read from the file
    requoted = {**queries, "staging.stg_products": 'SELECT  "sku"'}
    assert views_state(manifest, views, columns, requoted, "project") == state
    unrelated = {**columns, "star.dim_date": [("date_key", "DATE")]}
    assert views_state(manifest, views, unrelated, queries, "project") == state
    changed = [
        views_state(manifest, views, columns, queries, "project edited"),
        views_state(manifest, views, {**columns, "cleaned.products": []}, queries, "project"),
        views_state(
            manifest, views, columns, {**queries, "staging.stg_products": "other"}, "project"
        ),
        views_state(manifest, views, columns, {"intermediate.int_products": "x"}, "project"),
        views_state(manifest, views[:1], columns, queries, "project"),
    ]
    assert state not in changed and len(set(changed)) == len(changed)
    # the views each after what they read: Dagster takes outputs in that order
    assert in_build_order(manifest["nodes"], views) == list(reversed(views))
    output = reused_output(manifest, "model.cdp.stg_products", "staging__stg_products")
    assert output.metadata["status"].value == "reused"
