"""The dbt layers on a real DuckDB file: real `dbt build` runs over a tiny, hand-made warehouse.

The rows are written by hand (not generated) because each one sets up an edge the models must
get right: a 30-minute gap, a session across midnight, a status update landing days later.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import dagster as dg
import duckdb
import pytest
import yaml

from platform_assets.transform.assets import (
    build_dbt_assets,
    clear_partition_window,
    dbt_target_path,
    write_partition_window,
)
from platform_assets.transform.project import (
    close_dbt_connections,
    dbt_cli_resource,
    manifest_path,
    partition_vars,
)
from platform_assets.transform.settings import DBT_PROJECT_DIR
from resources import Warehouse

SALT = "test-salt"
DBT = str(Path(sys.executable).parent / "dbt")
EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"

CLEANED_TABLES = {
    "orders": """order_id varchar, line_number bigint, customer_id varchar,
        ordered_at timestamptz, status varchar, sku varchar, quantity bigint,
        unit_price decimal(18, 2), currency varchar""",
    "products": """sku varchar, name varchar, category varchar, brand varchar,
        price decimal(18, 2), currency varchar, updated_at timestamptz""",
    "web_events": """event_id varchar, occurred_at timestamptz, anonymous_id varchar,
        user_id varchar, email varchar, event_type varchar, url varchar, sku varchar,
        quantity bigint, price decimal(18, 2), utm_source varchar, utm_campaign varchar,
        device_type varchar""",
    "email_events": """event_id varchar, occurred_at timestamptz, email varchar,
        campaign_id varchar, event_type varchar, url varchar""",
    "support_tickets": """ticket_id varchar, opened_at timestamptz, closed_at timestamptz,
        requester_email varchar, requester_name varchar, requester_phone varchar,
        channel varchar, category varchar, status varchar, priority varchar,
        csat_score bigint, updated_at timestamptz""",
}
LINEAGE = "_partition_date date, _source_file varchar, _row_number bigint"

ORDERS = [
    # (order_id, line, shop customer, ordered_at, status, sku, qty, price, currency, landing day)
    ("SO-1", 1, "shop-ann", "2025-12-01 10:00:00", "shipped", "SKU-A", 1, 40, "EUR", "2026-11-01"),
    ("SO-2", 1, "shop-ann", "2026-06-01 10:00:00", "shipped", "SKU-B", 2, 30, "EUR", "2026-11-01"),
    ("SO-3", 1, "shop-bob", "2026-11-01 09:00:00", "paid", "SKU-A", 1, 40, "GBP", "2026-11-01"),
    ("SO-4", 1, "shop-ann", "2026-11-02 08:00:00", "paid", "SKU-A", 1, 40, "EUR", "2026-11-02"),
]
PRODUCTS = [
    ("SKU-A", "Trail Shoe", "Footwear", "Nordvik", 40, "EUR", "2026-10-01 00:00:00"),
    ("SKU-B", "Wool Sock", "Apparel", "Nordvik", 30, "EUR", "2026-10-01 00:00:00"),
]
WEB_EVENTS = [
    # (event_id, occurred_at, anonymous_id, user_id, email, event_type, sku, landing day)
    # visitor a1: gaps of exactly 30 minutes stay in a session, 31 minutes start a new one
    ("w1", "2026-11-02 10:00:00", "a1", None, None, "page_view", None, "2026-11-02"),
    ("w2", "2026-11-02 10:30:00", "a1", "shop-ann", None, "product_view", "SKU-B", "2026-11-02"),
    ("w3", "2026-11-02 11:01:00", "a1", None, None, "add_to_cart", "SKU-B", "2026-11-02"),
    # visitor b2: a session across midnight, its halves landing on two days
    ("w4", "2026-11-01 23:50:00", "b2", None, None, "page_view", None, "2026-11-01"),
    ("w5", "2026-11-02 00:10:00", "b2", None, None, "product_view", "SKU-A", "2026-11-02"),
    # an anonymous visitor nobody ever identifies: kept, with no customer
    ("w6", "2026-11-02 12:00:00", "c3", None, "form@example.org", "page_view", None, "2026-11-02"),
]
EMAIL_EVENTS = [
    ("m1", "2026-11-01 08:00:00", "ann@example.com", "cmp-1", "sent", None, "2026-11-01"),
    ("m2", "2026-11-01 09:00:00", "ann@example.com", "cmp-1", "open", None, "2026-11-01"),
    ("m3", "2026-11-01 09:05:00", "ann@example.com", "cmp-1", "click", "https://s/x", "2026-11-01"),
    ("m4", "2026-11-01 08:00:00", "bob@example.com", "cmp-1", "sent", None, "2026-11-01"),
]
TICKETS = [
    ("T-1", "2026-11-01 10:00:00", "2026-11-01 12:30:00", "bob@example.com", "chat", "solved", 4),
]
CUSTOMER_RECORDS = [
    ("shop_customers", "shop-ann", "cus_000000000001"),
    ("crm_contacts", "crm-ann", "cus_000000000001"),
    ("email_events", "ann@example.com", "cus_000000000001"),
    ("web_events", "user:shop-ann", "cus_000000000001"),
    ("web_events", "anon:a1", "cus_000000000001"),
    ("shop_customers", "shop-bob", "cus_000000000002"),
    ("email_events", "bob@example.com", "cus_000000000002"),
    ("support_tickets", "T-1", "cus_000000000002"),
    ("web_events", "anon:b2", "cus_000000000002"),
]
SHOP_AND_CRM = "crm_contacts,shop_customers"
GOLDEN = [
    ("cus_000000000001", "Ann", "Lee", "ann@example.com", "Leeds", "GB", SHOP_AND_CRM),
    ("cus_000000000002", "Bob", "Day", "bob@example.com", "Bath", "GB", "shop_customers"),
]


def build_tiny_warehouse(path: Path) -> None:
    """The cleaned and identity tables the dbt sources read, in their contract's shapes."""
    with duckdb.connect(str(path)) as db:
        db.execute("set TimeZone = 'UTC'")
        db.execute("create schema cleaned; create schema identity")
        for table, columns in CLEANED_TABLES.items():
            db.execute(f"create table cleaned.{table} ({columns}, {LINEAGE})")
        for row_number, order in enumerate(ORDERS):
            land(db, "orders", list(order), row_number)
        for row_number, product in enumerate(PRODUCTS):
            land(db, "products", [*product, "2026-11-01"], row_number)
        for row_number, web_event in enumerate(WEB_EVENTS):
            event_id, at, anonymous, user, email, event_type, sku, day = web_event
            values = [event_id, at, anonymous, user, email, event_type, None, sku]
            land(db, "web_events", [*values, 1, 10, None, None, "mobile", day], row_number)
        for row_number, email_event in enumerate(EMAIL_EVENTS):
            land(db, "email_events", list(email_event), row_number)
        for row_number, ticket in enumerate(TICKETS):
            ticket_id, opened, closed, email, channel, status, csat = ticket
            values = [ticket_id, opened, closed, email, "Bob Day", None, channel, "billing"]
            land(db, "support_tickets", [*values, status, "normal", csat, closed, "2026-11-01"],
                 row_number)  # fmt: skip
        db.execute(
            """create table identity.customer_records (source varchar, source_record_id varchar,
            record_key varchar, customer_id varchar, valid_from date, valid_to date)"""
        )
        for source, record_id, customer_id in CUSTOMER_RECORDS:
            db.execute(
                """insert into identity.customer_records
                values (?, ?, ?, ?, date '2026-11-01', null)""",
                [source, record_id, f"{source}:{record_id}", customer_id],
            )
        db.execute(
            """create table identity.golden_customers (customer_id varchar, first_name varchar,
            last_name varchar, email varchar, city varchar, postcode varchar, country varchar,
            record_count bigint, sources varchar, first_seen_at timestamptz,
            last_seen_at timestamptz, updated_partition date, date_of_birth date)"""
        )
        for customer_id, first, last, email, city, country, sources in GOLDEN:
            db.execute(
                """insert into identity.golden_customers values (?, ?, ?, ?, ?, 'AB1', ?, 1, ?,
                timestamptz '2025-01-01 00:00:00+00', timestamptz '2026-11-02 00:00:00+00',
                date '2026-11-02', date '1990-05-01')""",
                [customer_id, first, last, email, city, country, sources],
            )


def land(db: duckdb.DuckDBPyConnection, table: str, values: list[Any], row_number: int) -> None:
    """Insert one cleaned row; its last value is the landing day (`_partition_date`)."""
    *columns, day = values
    placeholders = ", ".join("?" for _ in columns)
    db.execute(
        f"insert into cleaned.{table} values ({placeholders}, ?, ?, ?)",
        [*columns, day, f"{table}/{day}/file.csv", row_number + 1],
    )


DbtRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def dbt_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the dbt project, so runs never touch dbt/target and a test may edit models."""
    copy = tmp_path_factory.mktemp("dbt") / "dbt"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    return copy


def run_dbt(
    project: Path,
    database: Path,
    *args: str,
    dbt_vars: dict[str, Any] | None = None,
    window: dict[str, Any] | None = None,
    cli: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`dbt <args>` in the project against `database`: in this process through dbt's own
    dbtRunner (the runner the platform uses; a `dbt` process costs seconds of start-up per
    call), or with `cli` through the `dbt` command as a person runs it.

    A partition `window` goes where Dagster puts it, the `ops.dbt_partition` table, emptied
    afterwards: the vars stay the same and dbt keeps its parse. `dbt_vars` are a build by hand;
    each new set costs a full parse of the project."""
    if window is not None:
        warehouse = Warehouse(database=str(database))
        with warehouse.session() as db:
            write_partition_window(db, window["min_date"], window)
        try:
            return run_dbt(project, database, *args, dbt_vars=dbt_vars, cli=cli)
        finally:
            with warehouse.session() as db:
                clear_partition_window(db)
    command = [*args, "--profiles-dir", str(project), "--project-dir", str(project)]
    if dbt_vars is not None:
        command += ["--vars", json.dumps(dbt_vars)]
    env = {
        "CDP_DUCKDB_PATH": str(database),
        "CDP_PII_SALT": SALT,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    if cli:
        return subprocess.run(
            [DBT, *command], cwd=project, env={**os.environ, **env}, capture_output=True,
            text=True,
        )  # fmt: skip
    from dbt.cli.main import dbtRunner

    output = io.StringIO()
    with (
        mock.patch.dict(os.environ, env),
        contextlib.chdir(project),
        contextlib.redirect_stdout(output),
    ):
        try:
            outcome = dbtRunner().invoke([*command, "--no-use-colors"])
        finally:
            close_dbt_connections()
    return subprocess.CompletedProcess(
        [DBT, *command], 0 if outcome.success else 1, output.getvalue(), ""
    )


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.fixture(scope="module")
def plain_build(
    dbt_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The tiny warehouse after a `dbt build` with no partition window: every model, data test
    and unit test, segments evaluated as of 2026-11-03 00:00 UTC."""
    database = tmp_path_factory.mktemp("built") / "warehouse.duckdb"
    build_tiny_warehouse(database)
    result = run_dbt(
        dbt_project, database, "build", dbt_vars={"as_of": "2026-11-03 00:00:00+00:00"}, cli=True
    )
    assert_ok(result)
    return database, result


@pytest.fixture(scope="module")
def built_warehouse(plain_build: tuple[Path, subprocess.CompletedProcess[str]]) -> Path:
    return plain_build[0]


@pytest.fixture
def warehouse_copy(built_warehouse: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(built_warehouse, copy)
    return copy


def query(database: Path, sql: str, parameters: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(database), read_only=True) as db:
        db.execute("set TimeZone = 'UTC'")
        return db.execute(sql, parameters or []).fetchall()


def test_plain_build_passes_every_data_test_and_the_unit_tests(
    plain_build: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    database, result = plain_build
    for unit_test in (
        "fct_web_events::sessions_split_after_30_minutes_of_inactivity",
        "customer_features::rfm_scores_rank_buyers_and_lifecycle_follows_the_rules",
        "fct_order_lines::the_latest_delivery_of_a_line_wins_whichever_day_runs",
        "segment_membership::each_customer_lands_in_the_segments_their_features_meet_on_the_"
        "evaluated_day",
    ):
        assert f"PASS {unit_test}" in result.stdout
    assert "ERROR=0" in result.stdout and "WARN=0" in result.stdout
    tables = {row[0] for row in query(database, "select schema_name from duckdb_tables()")}
    views = {row[0] for row in query(database, "select schema_name from duckdb_views()")}
    # the layer names exactly, with no target-schema prefix
    assert {"star", "segments"} <= tables and {"staging", "intermediate"} <= views
    assert not {name for name in tables | views if name.startswith("main_")}


def test_sessions_split_after_more_than_30_minutes_of_inactivity(built_warehouse: Path) -> None:
    sessions = query(
        built_warehouse,
        """select event_count, customer_id, is_anonymous from star.fct_web_sessions
        where visitor_id = 'a1' order by started_at""",
    )
    # 10:00 and 10:30 (exactly 30 minutes) together; 11:01 after 31 minutes alone. The second
    # session is stitched through the device but anonymous: nobody logged in during it
    assert sessions == [(2, "cus_000000000001", False), (1, "cus_000000000001", True)]


def test_session_across_midnight_keeps_one_id_when_built_partition_by_partition(
    dbt_project: Path, tmp_path: Path
) -> None:
    database = tmp_path / "warehouse.duckdb"
    build_tiny_warehouse(database)
    for day, next_day in (("2026-11-01", "2026-11-02"), ("2026-11-02", "2026-11-03")):
        window = {"min_date": day, "max_date": next_day, "as_of": f"{next_day} 00:00:00+00:00"}
        assert_ok(run_dbt(dbt_project, database, "run", "-s", "+fct_web_sessions",
                          window=window))  # fmt: skip
    sessions = query(
        database,
        "select event_count, started_at::varchar, partition_date::varchar"
        " from star.fct_web_sessions where visitor_id = 'b2'",
    )
    assert sessions == [(2, "2026-11-01 23:50:00+00", "2026-11-01")]


def test_is_anonymous_follows_the_sessions_own_events_not_the_identity_graph(
    built_warehouse: Path,
) -> None:
    rows = query(
        built_warehouse,
        """select visitor_id, customer_id, is_anonymous from star.fct_web_sessions
        where visitor_id in ('b2', 'c3') order by visitor_id""",
    )
    assert rows == [
        # identity knows the device, but the visitor never logged in nor gave an email
        ("b2", "cus_000000000002", True),
        # an email typed into a form nobody has matched yet: kept without a customer, and
        # not anonymous
        ("c3", None, False),
    ]


def test_the_salt_is_in_no_compiled_sql_and_no_dbt_log(
    dbt_project: Path, built_warehouse: Path
) -> None:
    written = [p for p in dbt_project.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sql" and "/compiled/" in str(p) for p in written)
    leaked = [str(p) for p in written if SALT.encode() in p.read_bytes()]
    assert not leaked, f"CDP_PII_SALT written to {leaked}"


def test_dbt_refuses_to_run_without_the_salt(dbt_project: Path, warehouse_copy: Path) -> None:
    command = [DBT, "run", "--select", "dim_date", "--profiles-dir", str(dbt_project),
               "--project-dir", str(dbt_project)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "CDP_PII_SALT"}
    env |= {"CDP_DUCKDB_PATH": str(warehouse_copy), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    result = subprocess.run(command, cwd=dbt_project, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "CDP_PII_SALT is not set" in result.stdout + result.stderr


def test_marts_carry_salted_email_hashes_never_raw_addresses(built_warehouse: Path) -> None:
    columns = query(
        built_warehouse,
        """select table_name, column_name from duckdb_columns()
        where schema_name in ('star', 'segments') and data_type = 'VARCHAR'""",
    )
    for table, column in columns:
        schema = "star" if query(
            built_warehouse,
            "select count(*) from duckdb_tables() where schema_name = 'star' and table_name = ?",
            [table],
        )[0][0] else "segments"  # fmt: skip
        raw = query(
            built_warehouse,
            f'select count(*) from {schema}.{table} where regexp_matches("{column}", ?)',
            [EMAIL_PATTERN],
        )[0][0]
        assert raw == 0, f"{schema}.{table}.{column} holds email addresses"
    expected = hashlib.sha256(f"{SALT}ann@example.com".encode()).hexdigest()
    assert query(
        built_warehouse,
        "select email_hash from star.dim_customer where customer_id = 'cus_000000000001'",
    ) == [(expected,)]
    hashed_events = query(
        built_warehouse,
        "select count(*) from star.fct_email_events where email_hash = ?",
        [expected],
    )
    assert hashed_events == [(3,)]


def test_the_marts_hold_no_direct_identifier_only_hashes_and_coarse_attributes(
    built_warehouse: Path,
) -> None:
    """Names, addresses, phones and birth dates stay in raw, cleaned and identity: no table of
    star or segments has such a column, in the manifest or in the warehouse, and a salted hash
    is marked `pii: pseudonymized`. (Staging views of cleaned events pass the email through for
    the facts' joins to identity; they store nothing.)"""
    direct = ("first_name", "last_name", "email", "phone", "street_address", "postcode")
    direct += ("date_of_birth", "requester_name", "requester_phone", "requester_email")
    nodes = json.loads(manifest_path().read_text())["nodes"].values()
    layers = ("star", "segments")
    hashed = 0
    for node in nodes:
        if node["resource_type"] != "model" or node["config"]["schema"] not in layers:
            continue
        for name, column in node["columns"].items():
            assert name not in direct, (node["name"], name)
            if name.endswith("email_hash"):
                assert column.get("meta", {}).get("pii") == "pseudonymized", (node["name"], name)
                hashed += 1
    assert hashed >= 4
    built = query(
        built_warehouse,
        "select table_schema, table_name, column_name from information_schema.columns"
        " where table_schema in ('star', 'segments')"
        " or table_name = 'stg_identity__golden_customers'",
    )
    assert {row[1] for row in built} >= {"dim_customer", "stg_identity__golden_customers"}
    assert [row for row in built if row[2] in direct] == []
    assert query(built_warehouse, "select distinct age_band from star.dim_customer") == [("35-44",)]


def test_an_address_in_any_text_column_of_a_mart_fails_its_dbt_test(
    dbt_project: Path, warehouse_copy: Path
) -> None:
    with duckdb.connect(str(warehouse_copy)) as db:
        db.execute(
            "update star.fct_web_events set url = 'https://shop.example.com/?who=ann@example.com'"
            " where event_id = (select min(event_id) from star.fct_web_events)"
        )
    result = run_dbt(
        dbt_project, warehouse_copy, "test", "-s", "test_name:no_email_addresses_in_text"
    )
    assert result.returncode != 0
    assert "no_email_addresses_in_text_fct_web_events_" in result.stdout
    assert "FAIL 1 no_email_addresses_in_text_fct_web_events_" in result.stdout
    assert "no_email_addresses_in_text_dim_customer_" in result.stdout  # every mart is tested
    # A partition's run checks the rows it wrote: the day holding the address fails.
    day = query(
        warehouse_copy,
        "select partition_date::varchar from star.fct_web_events"
        " where url like '%ann@example.com%'",
    )[0][0]
    window = partition_vars(day, now=_aware("2026-11-20 00:00:00"))
    in_window = run_dbt(
        dbt_project, warehouse_copy, "test", "-s", "no_email_addresses_in_text_fct_web_events_",
        window=window,
    )  # fmt: skip
    assert "FAIL 1 no_email_addresses_in_text_fct_web_events_" in in_window.stdout


def test_a_null_in_a_not_null_column_fails_the_mart_and_writes_nothing_of_it(
    dbt_project: Path, warehouse_copy: Path
) -> None:
    # Not-null is the marts' contract, enforced by DuckDB as the rows are written (no test per
    # column afterwards): the build fails, naming the column, and the partition stays as it was.
    day = "2026-11-01"
    count = "select count(*) from star.fct_email_events where partition_date = ?"
    before = query(warehouse_copy, count, [day])
    assert before[0][0] > 0
    with duckdb.connect(str(warehouse_copy)) as db:
        db.execute(
            "update cleaned.email_events set occurred_at = null where event_id ="
            " (select min(event_id) from cleaned.email_events where _partition_date = ?)",
            [day],
        )
    window = partition_vars(day, now=_aware("2026-11-20 00:00:00"))
    # The window as --vars, as a person builds one partition by hand.
    result = run_dbt(dbt_project, warehouse_copy, "run", "-s", "fct_email_events",
                     dbt_vars=window)  # fmt: skip
    assert result.returncode != 0
    assert "NOT NULL constraint failed: fct_email_events.occurred_at" in result.stdout
    assert query(warehouse_copy, count, [day]) == before


def test_orders_attach_to_customers_through_the_shop_account(built_warehouse: Path) -> None:
    rows = query(
        built_warehouse,
        "select order_id, customer_id, order_amount_reporting::double"
        " from star.fct_orders order by order_id",
    )
    assert rows == [
        ("SO-1", "cus_000000000001", 40.0),
        ("SO-2", "cus_000000000001", 60.0),
        ("SO-3", "cus_000000000002", 46.0),  # GBP 40 at the demo rate 1.15
        ("SO-4", "cus_000000000001", 40.0),
    ]


def fact_keys(database: Path) -> dict[str, tuple[int, int]]:
    keys = {
        "fct_order_lines": "order_line_id",
        "fct_orders": "order_id",
        "fct_web_events": "event_id",
        "fct_web_sessions": "session_id",
        "fct_cart_events": "event_id",
        "fct_email_events": "event_id",
        "fct_support_tickets": "ticket_id",
    }
    return {
        table: query(database, f"select count(*), count(distinct {key}) from star.{table}")[0]
        for table, key in keys.items()
    }


def test_rerunning_a_partition_replaces_it_and_picks_up_late_data(
    dbt_project: Path, warehouse_copy: Path
) -> None:
    before = fact_keys(warehouse_copy)
    assert all(rows == distinct for rows, distinct in before.values())
    # a late file for 2026-11-02, and a status update of an old order landing on 2026-11-03
    with duckdb.connect(str(warehouse_copy)) as db:
        land(
            db,
            "web_events",
            [
                "w7",
                "2026-11-02 18:00:00",
                "a1",
                None,
                None,
                "page_view",
                None,
                None,
                1,
                10,
                None,
                None,
                "mobile",
                "2026-11-02",
            ],
            99,
        )
        land(db, "orders", ["SO-2", 1, "shop-ann", "2026-06-01 10:00:00", "refunded", "SKU-B",
                            2, 30, "EUR", "2026-11-03"], 99)  # fmt: skip

    # 2026-11-02 was built by the plain build already: this is its second build
    window = partition_vars("2026-11-02", now=_aware("2026-11-20 00:00:00"))
    assert_ok(run_dbt(dbt_project, warehouse_copy, "run", "-s", "path:models/marts",
                      window=window))  # fmt: skip
    after = fact_keys(warehouse_copy)
    # the late event is a new session of visitor a1, the rest is unchanged
    assert after == {**before, "fct_web_events": (7, 7), "fct_web_sessions": (5, 5)}
    assert query(
        warehouse_copy, "select customer_id from star.fct_web_events where event_id = 'w7'"
    ) == [("cus_000000000001",)]

    for day in ("2026-11-03", "2026-11-01"):
        # re-running the partition of the line's first version must not bring back its old
        # status: the latest delivery across days wins
        day_vars = partition_vars(day, now=_aware("2026-11-20 00:00:00"))
        assert_ok(run_dbt(dbt_project, warehouse_copy, "run", "-s", "path:models/marts",
                          window=day_vars))  # fmt: skip
        assert query(
            warehouse_copy,
            "select status, is_revenue, order_amount::double, partition_date::varchar"
            " from star.fct_orders where order_id = 'SO-2'",
        ) == [("refunded", False, 0.0, "2026-11-03")]
    assert fact_keys(warehouse_copy) == after


def test_rerunning_a_partition_drops_what_its_inputs_no_longer_hold(
    dbt_project: Path, warehouse_copy: Path
) -> None:
    day = "2026-11-02"
    dropped = query(
        warehouse_copy,
        "select event_id from cleaned.web_events where _partition_date = ? order by event_id",
        [day],
    )[0][0]
    with duckdb.connect(str(warehouse_copy)) as db:
        # A corrected landing file without one event was cleaned again...
        db.execute("delete from cleaned.web_events where event_id = ?", [dropped])
        # ...and the next day's segments equal the last evaluation's, so that day's history
        # has no change, yet a stale change for that day sits in the history.
        last = db.execute("select max(as_of_date) from segments.segment_membership").fetchall()
        next_day = last[0][0] + timedelta(days=1)
        db.execute(
            "insert into segments.segment_membership select customer_id, segment,"
            " ? as as_of_date, evaluated_at + interval 1 day, reason"
            " from segments.segment_membership where as_of_date = ?",
            [next_day, last[0][0]],
        )
        db.execute(
            "insert into segments.segment_history (customer_id, segment, event_type, event_at,"
            " as_of_date, reason) select customer_id, segment, 'entered', event_at, ?, 'stale'"
            " from segments.segment_history limit 1",
            [next_day],
        )
    window = partition_vars(day, now=_aware("2026-11-20 00:00:00"))
    assert_ok(run_dbt(dbt_project, warehouse_copy, "run", "-s", "path:models/marts",
                      window=window))  # fmt: skip
    assert query(
        warehouse_copy, "select count(*) from star.fct_web_events where event_id = ?", [dropped]
    ) == [(0,)]
    as_of = partition_vars(next_day.isoformat(), now=_aware("2026-11-20 00:00:00"))
    assert_ok(run_dbt(dbt_project, warehouse_copy, "run", "-s", "segment_history", window=as_of))
    assert query(
        warehouse_copy,
        "select count(*) from segments.segment_history where as_of_date = ?",
        [next_day],
    ) == [(0,)]


def web_event(event_id: str, at: str, anonymous_id: str, event_type: str, day: str) -> list[Any]:
    """A cleaned web event row for `land`: no user, email, sku or campaign."""
    values = [event_id, at, anonymous_id, None, None, event_type, None, None]
    return [*values, 1, 10, None, None, "mobile", day]


def test_a_late_event_merging_two_sessions_leaves_no_orphan_session(
    dbt_project: Path, warehouse_copy: Path
) -> None:
    # 10:45 closes the 31-minute gap between visitor a1's 10:30 and 11:01 events
    with duckdb.connect(str(warehouse_copy)) as db:
        land(db, "web_events", web_event("w8", "2026-11-02 10:45:00", "a1", "page_view",
                                         "2026-11-02"), 98)  # fmt: skip
    window = partition_vars("2026-11-02", now=_aware("2026-11-20 00:00:00"))
    assert_ok(run_dbt(dbt_project, warehouse_copy, "run", "-s", "path:models/marts",
                      window=window))  # fmt: skip
    assert query(
        warehouse_copy,
        "select event_count, is_anonymous from star.fct_web_sessions where visitor_id = 'a1'",
    ) == [(4, False)]
    orphans = query(
        warehouse_copy,
        """select count(*) from star.fct_web_sessions
        anti join star.fct_web_events using (session_id)""",
    )
    assert orphans == [(0,)]
    assert query(
        warehouse_copy,
        """select count(*) from star.fct_cart_events
        anti join star.fct_web_sessions using (session_id)""",
    ) == [(0,)]


def test_a_repeat_delivered_on_a_later_day_keeps_the_first_delivery(
    dbt_project: Path, warehouse_copy: Path
) -> None:
    before = fact_keys(warehouse_copy)
    # the email and web events of 2026-11-01 delivered again on 2026-11-03, beyond the
    # one-day session lookback
    with duckdb.connect(str(warehouse_copy)) as db:
        land(db, "email_events", ["m1", "2026-11-01 08:00:00", "ann@example.com", "cmp-1",
                                  "sent", None, "2026-11-03"], 0)  # fmt: skip
        land(db, "web_events", web_event("w4", "2026-11-01 23:50:00", "b2", "page_view",
                                         "2026-11-03"), 0)  # fmt: skip
    window = partition_vars("2026-11-03", now=_aware("2026-11-20 00:00:00"))
    assert_ok(run_dbt(dbt_project, warehouse_copy, "run", "-s", "path:models/marts",
                      window=window))  # fmt: skip
    assert query(
        warehouse_copy,
        """select event_id, partition_date::varchar from star.fct_email_events
        where event_id = 'm1'
        union all
        select event_id, partition_date::varchar from star.fct_web_events
        where event_id = 'w4'
        order by event_id""",
    ) == [("m1", "2026-11-01"), ("w4", "2026-11-01")]
    assert query(
        warehouse_copy,
        "select partition_date::varchar from star.fct_web_sessions where visitor_id = 'b2'",
    ) == [("2026-11-01",)]
    assert fact_keys(warehouse_copy) == before


def test_facts_follow_an_identity_merge_on_the_next_run(
    dbt_project: Path, warehouse_copy: Path
) -> None:
    with duckdb.connect(str(warehouse_copy)) as db:
        # identity merges Bob into a new customer id: his old mapping is retired
        db.execute(
            """update identity.customer_records set valid_to = date '2026-11-03'
            where customer_id = 'cus_000000000002'"""
        )
        db.execute(
            """insert into identity.customer_records
            select source, source_record_id, record_key, 'cus_000000000009', date '2026-11-03', null
            from identity.customer_records where customer_id = 'cus_000000000002'"""
        )
        db.execute(
            """update identity.golden_customers set customer_id = 'cus_000000000009'
            where customer_id = 'cus_000000000002'"""
        )
    window = partition_vars("2026-11-02", now=_aware("2026-11-20 00:00:00"))
    # a partition that does not contain Bob's rows still re-points them, and the tests pass
    assert_ok(
        run_dbt(dbt_project, warehouse_copy, "build", "-s", "path:models/marts",
                "path:models/segments", window=window)
    )  # fmt: skip
    for table in ("fct_orders", "fct_email_events", "fct_support_tickets", "fct_order_lines"):
        stale = query(
            warehouse_copy,
            f"select count(*) from star.{table} where customer_id = 'cus_000000000002'",
        )
        assert stale == [(0,)], table
    assert query(
        warehouse_copy,
        """select segment from segments.segment_membership
        where customer_id = 'cus_000000000009' and as_of_date = date '2026-11-02'
        order by segment""",
    ) == [("engagement_low",), ("recent_purchasers_7d",)]


def test_segments_are_evaluated_as_of_the_end_of_the_partition_day(
    dbt_project: Path, warehouse_copy: Path
) -> None:
    day_before = partition_vars("2026-11-01", now=_aware("2026-11-20 00:00:00"))
    assert_ok(
        run_dbt(dbt_project, warehouse_copy, "run", "-s", "path:models/segments", window=day_before)
    )
    day = partition_vars("2026-11-02", now=_aware("2026-11-20 00:00:00"))
    assert day["as_of"] == "2026-11-03 00:00:00+00:00"
    assert_ok(run_dbt(dbt_project, warehouse_copy, "run", "-s", "path:models/segments", window=day))
    members = query(
        warehouse_copy,
        """select customer_id, reason from segments.segment_membership
        where segment = 'cart_abandoners_24h' and as_of_date = date '2026-11-02'""",
    )
    assert members == [
        ("cus_000000000001", "added to cart at 2026-11-02 11:01 UTC, no order since")
    ]
    entered = query(
        warehouse_copy,
        """select customer_id, event_at::varchar, previous_as_of_date::varchar
        from segments.segment_history
        where segment = 'cart_abandoners_24h' and event_type = 'entered'""",
    )
    assert entered == [("cus_000000000001", "2026-11-03 00:00:00+00", "2026-11-01")]

    # during the day, the quiet period after the 11:01 cart add has not passed at 11:30
    during = partition_vars("2026-11-02", now=_aware("2026-11-02 11:30:00"))
    assert_ok(
        run_dbt(dbt_project, warehouse_copy, "run", "-s", "path:models/segments", window=during)
    )
    assert query(
        warehouse_copy,
        """select count(*) from segments.segment_membership
        where segment = 'cart_abandoners_24h' and as_of_date = date '2026-11-02'""",
    ) == [(0,)]
    # today's evaluation replaced the day's: the customer has not entered (yet)
    history = query(
        warehouse_copy,
        "select count(*) from segments.segment_history where segment = 'cart_abandoners_24h'",
    )
    assert history == [(0,)]


def _run_partition(project: Path, database: Path, day: str) -> None:
    """One day's dbt run as Dagster makes it: the window in ops.dbt_partition, unchanged
    vars (so dbt keeps its partial parse), the table emptied afterwards."""
    assert_ok(
        run_dbt(
            project, database, "run", window=partition_vars(day, now=_aware("2026-11-20 00:00:00"))
        )
    )


def test_campaign_performance_recounts_the_campaigns_a_day_touches_and_matches_a_rebuild(
    dbt_project: Path, warehouse_copy: Path
) -> None:
    # cmp-2 goes out on 2026-11-03 to both customers; bob clicks and orders within the hour,
    # and orders again on 2026-11-04 (landing that day): still within 7 days of the click
    with duckdb.connect(str(warehouse_copy)) as db:
        for row, event in enumerate(
            [
                ("m5", "2026-11-03 08:00:00", "ann@example.com", "cmp-2", "sent", None),
                ("m6", "2026-11-03 08:00:00", "bob@example.com", "cmp-2", "sent", None),
                ("m7", "2026-11-03 09:00:00", "bob@example.com", "cmp-2", "click", "https://s/y"),
            ]
        ):
            land(db, "email_events", [*event, "2026-11-03"], 50 + row)
        land(db, "orders", ["SO-5", 1, "shop-bob", "2026-11-03 10:00:00", "paid", "SKU-A", 1,
                            40, "EUR", "2026-11-03"], 60)  # fmt: skip
        land(db, "orders", ["SO-6", 1, "shop-bob", "2026-11-04 10:00:00", "paid", "SKU-B", 1,
                            30, "EUR", "2026-11-04"], 61)  # fmt: skip
    performance = (
        "select segment, campaign_id, sends, opens, clicks, orders, revenue::double,"
        " evaluated_at::varchar from segments.segment_performance"
        " where campaign_id = 'cmp-2' order by segment"
    )
    for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
        _run_partition(dbt_project, warehouse_copy, day)
    on_the_day = query(warehouse_copy, performance)
    # counted for the segments of the 11-02 evaluation, the latest before the send's day:
    # bob's segments have his click and his order, the others neither
    assert any(row[4:7] == (1, 1, 40.0) for row in on_the_day)
    assert all(row[4:7] in ((1, 1, 40.0), (0, 0, 0.0)) for row in on_the_day)
    assert {row[7] for row in on_the_day} == {"2026-11-04 00:00:00+00"}

    # bob's second order lands on 11-04: cmp-2 is counted again, with both orders
    _run_partition(dbt_project, warehouse_copy, "2026-11-04")
    recounted = query(warehouse_copy, performance)
    clicked = [row for row in recounted if row[4] == 1]
    assert clicked and all(row[5:7] == (2, 70.0) for row in clicked)
    assert {row[7] for row in recounted} == {"2026-11-05 00:00:00+00"}

    # nothing lands on 11-05: no campaign is touched, every row keeps the count it had
    _run_partition(dbt_project, warehouse_copy, "2026-11-05")
    assert query(warehouse_copy, performance) == recounted

    # the rows kept day by day are the rows a rebuild of every campaign gives
    kept = query(
        warehouse_copy, "select * exclude (evaluated_at) from segments.segment_performance"
    )
    # Same file name in another folder: dbt's saved parse serves it (the profile names the file).
    rebuilt = warehouse_copy.parent / "rebuilt" / warehouse_copy.name
    rebuilt.parent.mkdir()
    shutil.copy(warehouse_copy, rebuilt)
    last_day = partition_vars("2026-11-05", now=_aware("2026-11-20 00:00:00"))
    assert_ok(run_dbt(dbt_project, rebuilt, "run", "-s", "segment_performance", "--full-refresh",
                      window=last_day))  # fmt: skip
    assert sorted(kept) == sorted(
        query(rebuilt, "select * exclude (evaluated_at) from segments.segment_performance")
    )
    assert len(kept) >= 2


@pytest.fixture
def project_with_segment(dbt_project: Path, tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """A copy of the dbt project whose segment YAML gets extra entries."""

    def add(*segments: dict[str, Any]) -> Path:
        copy = tmp_path / "dbt"
        shutil.copytree(dbt_project, copy, ignore=shutil.ignore_patterns("target", "logs"))
        path = copy / "models" / "segments" / "segment_membership.yml"
        properties = yaml.safe_load(path.read_text())
        properties["models"][0]["config"]["meta"]["segments"].extend(segments)
        path.write_text(yaml.safe_dump(properties, sort_keys=False))
        return copy

    yield add


def test_a_new_yaml_entry_becomes_a_segment_with_nesting(
    project_with_segment: Callable[..., Path], warehouse_copy: Path
) -> None:
    project = project_with_segment(
        {
            "name": "footwear_fans",
            "description": "Favourite category is footwear.",
            "tags": ["interest_footwear"],
            "params": {"category": "Footwear"},
            "condition": "f.favourite_category = '{category}'",
            "reason": "'favourite category ' || f.favourite_category",
        },
        {
            "name": "footwear_fans_who_clicked",
            "description": "Footwear fans with a click in 30 days.",
            "requires": ["footwear_fans"],
            "condition": "f.emails_clicked_30d > 0",
            "reason": "'clicked'",
        },
    )
    day = {"as_of": "2026-11-03 00:00:00+00:00"}
    assert_ok(run_dbt(project, warehouse_copy, "run", "-s", "segment_membership", dbt_vars=day))
    rows = query(
        warehouse_copy,
        """select segment, customer_id, reason from segments.segment_membership
        where segment like 'footwear%' order by segment, customer_id""",
    )
    assert rows == [
        ("footwear_fans", "cus_000000000001", "favourite category Footwear"),
        ("footwear_fans", "cus_000000000002", "favourite category Footwear"),
        ("footwear_fans_who_clicked", "cus_000000000001", "clicked"),
    ]


def test_a_segment_requiring_an_undefined_segment_fails_naming_it(
    project_with_segment: Callable[..., Path], warehouse_copy: Path
) -> None:
    project = project_with_segment(
        {
            "name": "orphan",
            "description": "Requires a segment that does not exist.",
            "requires": ["no_such_segment"],
            "condition": "true",
            "reason": "'x'",
        }
    )
    result = run_dbt(project, warehouse_copy, "compile", "-s", "segment_membership")
    assert result.returncode != 0
    assert "orphan" in result.stdout and "no_such_segment" in result.stdout


def dagster_environment(monkeypatch: pytest.MonkeyPatch, warehouse: Path) -> None:
    """What the dbt asset reads from the environment, as `make` exports it."""
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(warehouse))
    monkeypatch.setenv("CDP_PII_SALT", SALT)
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


def test_dagster_materializes_partitions_with_keys_checks_and_one_kept_parse(
    dbt_project: Path, warehouse_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dagster_environment(monkeypatch, warehouse_copy)
    # the manifest the copy's last dbt command wrote, as `make install` writes dbt/target's
    dbt_models = build_dbt_assets(dbt_project / "target" / "manifest.json")
    keys = {key.to_user_string() for key in dbt_models.keys}
    assert {"star/fct_orders", "star/dim_customer", "segments/segment_membership"} <= keys
    assert {spec.group_name for spec in dbt_models.specs} == {
        "staging", "intermediate", "star", "segments"
    }  # fmt: skip
    blocking = {
        (spec.asset_key.to_user_string(), spec.name)
        for spec in dbt_models.check_specs
        if spec.blocking
    }
    assert ("star/fct_orders", "unique_fct_orders_order_id") in blocking

    def materialize(day: str) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [dbt_models],
            partition_key=day,
            resources={"dbt": dbt_cli_resource(dbt_project), "warehouse": Warehouse()},
            selection=dg.AssetSelection.groups("star", "staging", "intermediate"),
        )

    result = materialize("2026-11-02")
    assert result.success
    materializations = {
        event.materialization.asset_key.to_user_string(): event.materialization
        for event in result.get_asset_materialization_events()
    }
    web_events = materializations["star/fct_web_events"]
    assert web_events.partition == "2026-11-02"
    assert web_events.metadata["dagster/row_count"].value == 5  # the day's events only
    assert web_events.metadata["table_row_count"].value == 6
    checks = result.get_asset_check_evaluations()
    assert checks and all(check.passed for check in checks)
    # The window went through ops.dbt_partition, emptied once dbt returned, never through
    # --vars: dbt runs in the Dagster process on the project parsed once for the warehouse's
    # target folder, and the next partition's build starts without parsing it again.
    assert query(warehouse_copy, "select count(*) from ops.dbt_partition") == [(0,)]
    log_path = dbt_target_path(warehouse_copy) / "dbt.log"
    first_day = log_path.read_text()
    assert materialize("2026-11-03").success
    parse, *day_one = first_day.split("Running with dbt")[1:]
    day_two = log_path.read_text()[len(first_day) :].split("Running with dbt")[1:]
    # The new folder's one parse reused the parse `make install` saved: the profile names the
    # warehouse file, not its folder, so dbt's saved parse is valid in every folder.
    assert "registered adapter" in parse.lower()
    assert "unable to do partial parsing" not in parse.lower()
    # Per partition, one dbt run per build phase selected (the views, then star). dbt compiles
    # the data tests after their phase's models on the first day (they run as one query per
    # phase); the second day reuses them and the unchanged views, and runs dbt once: star.
    assert len([build for build in day_one if "Finished running" in build]) == 2
    assert len(day_one) <= 4
    assert len(day_two) == 1 and all("Finished running" in build for build in day_two)
    assert not any(
        "partial parsing" in build.lower() or "--vars" in build for build in day_one + day_two
    )

    # A mart created before a not-null constraint was declared lets nulls in unseen (not-null
    # has no test of its own): the step fails, naming the column and the statement that
    # declares it on the table, which keeps the table's rows; with it the day builds again.
    with duckdb.connect(str(warehouse_copy)) as db:
        db.execute("alter table star.fct_web_events alter column occurred_at drop not null")
    with pytest.raises(dg.Failure, match=r"star\.fct_web_events\.occurred_at") as failure:
        materialize("2026-11-03")
    (statement,) = failure.value.metadata["statements"].value
    assert statement == 'alter table star.fct_web_events alter column "occurred_at" set not null'
    with duckdb.connect(str(warehouse_copy)) as db:
        db.execute(statement)
    assert materialize("2026-11-03").success


def test_views_are_created_again_only_when_their_definition_or_inputs_change(
    dbt_project: Path, warehouse_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A view stores a query, not rows: an unchanged one is reused (dbt's status `reused`) and
    # its tests still run on the day's data; a change to anything that decides it (a column
    # of what it reads, its query in the warehouse, the view itself gone) creates it again.
    dagster_environment(monkeypatch, warehouse_copy)
    dbt_models = build_dbt_assets(dbt_project / "target" / "manifest.json")

    def statuses(day: str) -> tuple[dict[str, str], int]:
        result = dg.materialize(
            [dbt_models],
            partition_key=day,
            resources={"dbt": dbt_cli_resource(dbt_project), "warehouse": Warehouse()},
            selection=dg.AssetSelection.groups("staging", "intermediate"),
        )
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert checks and all(check.passed for check in checks)
        return {
            event.materialization.asset_key.to_user_string(): str(
                event.materialization.metadata["status"].value
            )
            for event in result.get_asset_materialization_events()
        }, len(checks)

    views = "staging/stg_cleaned__products"
    first, tests = statuses("2026-11-02")
    assert len(first) == 9 and set(first.values()) == {"success"}
    second, tests_again = statuses("2026-11-03")
    assert set(second) == set(first) and set(second.values()) == {"reused"}
    assert tests_again == tests

    with duckdb.connect(str(warehouse_copy)) as db:
        db.execute("alter table cleaned.products add column colour varchar")
    after_column = statuses("2026-11-03")[0]
    assert after_column[views] == "success"  # the phase is built again, all of it
    assert set(after_column.values()) == {"success"}
    assert set(statuses("2026-11-03")[0].values()) == {"reused"}

    with duckdb.connect(str(warehouse_copy)) as db:
        db.execute("drop view staging.stg_cleaned__products cascade")
    assert statuses("2026-11-03")[0][views] == "success"
    assert query(warehouse_copy, "select count(*) from staging.stg_cleaned__products")[0][0] > 0

    with duckdb.connect(str(warehouse_copy)) as db:  # a view created by hand, another query
        db.execute(
            "create or replace view staging.stg_cleaned__products as"
            " select * from cleaned.products where false"
        )
    assert statuses("2026-11-03")[0][views] == "success"
    assert query(warehouse_copy, "select count(*) from staging.stg_cleaned__products")[0][0] > 0


def test_a_failing_test_holds_back_the_models_below_it_like_dbt_build(
    dbt_project: Path, warehouse_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The day's data tests run as one query per phase, not by dbt: a failed blocking test
    # must still hold back what `dbt build` would skip (the models below the failing one) and
    # build the rest, and count the failing rows as dbt does.
    dagster_environment(monkeypatch, warehouse_copy)
    day = "2026-11-01"
    emails = "select count(*) from star.fct_email_events where partition_date = ?"
    before = query(warehouse_copy, emails, [day])
    with duckdb.connect(str(warehouse_copy)) as db:
        db.execute("update cleaned.email_events set event_type = 'bogus' where event_id = 'm2'")
        db.execute("delete from star.fct_email_events where partition_date = ?", [day])
    dbt_models = build_dbt_assets(dbt_project / "target" / "manifest.json")
    result = dg.materialize(
        [dbt_models],
        partition_key=day,
        resources={"dbt": dbt_cli_resource(dbt_project), "warehouse": Warehouse()},
        raise_on_error=False,
    )
    assert not result.success
    built = {
        event.materialization.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
    }
    assert {"staging/stg_cleaned__email_events", "star/fct_orders", "star/dim_customer"} <= built
    below = {"star/fct_email_events", "segments/customer_features", "segments/segment_membership"}
    assert not below & built
    assert query(warehouse_copy, emails, [day]) == [(0,)]  # nothing of the day written
    assert before != [(0,)]
    checks = {check.check_name: check for check in result.get_asset_check_evaluations()}
    (failing,) = [name for name, check in checks.items() if not check.passed]
    assert failing.startswith("accepted_values_stg_cleaned__email_events_event_type")
    assert checks[failing].metadata["dagster_dbt/failed_row_count"].value == 1
    assert checks[failing].metadata["status"].value == "fail"
    assert checks["unique_fct_orders_order_id"].passed  # the rest of star was built and tested
    assert not any(name.startswith("unique_combination_of_columns_segment") for name in checks)
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "accepted_values_stg_cleaned__email_events_event_type" in message
    assert "model.cdp.fct_email_events" in message
    # dbt's own run of the same test finds the same row
    own = run_dbt(dbt_project, warehouse_copy, "test", "-s", failing)
    assert f"FAIL 1 {failing}" in own.stdout


def _aware(moment: str) -> Any:
    from datetime import UTC, datetime

    return datetime.fromisoformat(moment).replace(tzinfo=UTC)


def test_a_missing_manifest_names_make_install(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make install"):
        manifest_path(tmp_path / "target" / "manifest.json")


def test_column_lineage_is_computed_once_and_shared_with_a_new_warehouse(
    dbt_project: Path, built_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platform_assets.transform import columns as lineage_module
    from platform_assets.transform.assets import TRANSLATOR

    target = dbt_project / "target"  # the compiled SQL of the plain build
    manifest = json.loads((target / "manifest.json").read_text())
    node = manifest["nodes"]["model.cdp.fct_orders"]
    with Warehouse(database=str(built_warehouse)).session() as db:
        columns, _ = lineage_module.warehouse_columns(db)
    shared = tmp_path / "shared.json"
    (tmp_path / "first").mkdir()
    first = lineage_module.LineageCache(tmp_path / "first", shared=shared)
    computed = first.lineage(node, manifest, columns, TRANSLATOR, target)
    assert computed is not None
    assert computed.deps_by_column["customer_id"] == [
        dg.TableColumnDep(dg.AssetKey(["star", "fct_order_lines"]), "customer_id")
    ]
    first.save()

    def not_again(*args: Any) -> None:
        raise AssertionError("lineage computed again")

    # Another warehouse with the same SQL and columns reads it; nothing is computed.
    monkeypatch.setattr(lineage_module, "_computed", not_again)
    (tmp_path / "second").mkdir()
    second = lineage_module.LineageCache(tmp_path / "second", shared=shared)
    assert second.lineage(node, manifest, columns, TRANSLATOR, target) == computed
    second.save()
    assert (tmp_path / "second" / lineage_module.LINEAGE_CACHE).exists()
    # An input with another column is another key: computed, not served stale.
    relation = "staging.stg_cleaned__order_lines"
    widened = {**columns, relation: [*columns[relation], ("added", "VARCHAR")]}
    with pytest.raises(AssertionError, match="computed again"):
        second.lineage(node, manifest, widened, TRANSLATOR, target)
