"""Triggered emails on a real DuckDB file, sent to a real webhook: three days of a ledger.

The segments, consent and facts are written as tables (the dbt models that make them are
tested elsewhere); `exports/trigger_sends` and `segments/trigger_performance` run as Dagster
materializes them, with the clock at 23:00 of each day.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from platform_assets.exports import trigger_assets
from platform_assets.exports.trigger_assets import trigger_performance, trigger_sends
from platform_assets.exports.triggers import in_holdout
from resources import Warehouse
from resources.trigger_delivery import TriggerDelivery
from tests.processes import free_port

DAYS = [date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)]
SHARE = 0.3
UTC_TS = pl.Datetime("us", "UTC")


def _evening(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 0, tzinfo=UTC)


def _sent_to_everyone(prefix: str) -> str:
    """A customer id outside both triggers' holdouts, so that their emails go out."""
    for n in range(1000):
        candidate = f"cus_{prefix}{n:04d}"
        if not any(in_holdout(candidate, t, SHARE) for t in ("cart_recovery", "browse_recovery")):
            return candidate
    raise AssertionError("no id outside the holdout")


ANN, BOB, WANDA, FAY = (_sent_to_everyone(p) for p in ("ann", "bob", "wnd", "fay"))
CROWD = [f"cus_crowd{n:04d}" for n in range(40)]


class Hook:
    """A webhook on 127.0.0.1 that keeps every send, and refuses while told to fail."""

    def __init__(self) -> None:
        self.sends: list[dict[str, Any]] = []
        self.failing = False
        self.requests = 0

        async def receive(request: Request) -> JSONResponse:
            self.requests += 1
            if self.failing:
                return JSONResponse({"error": "down"}, status_code=503)
            self.sends.extend((await request.json())["sends"])
            return JSONResponse({"ok": True})

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                Starlette(routes=[Route("/sends", receive, methods=["POST"])]),
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    server.thread.start()
    deadline = time.monotonic() + 10
    while not server.server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield server
    server.server.should_exit = True
    server.thread.join(timeout=10)


def _tables() -> dict[str, pl.DataFrame]:
    everyone = [ANN, BOB, WANDA, FAY, *CROWD]
    d1, d2, _ = DAYS
    entries = [(c, "cart_abandoners_24h", d1) for c in (ANN, BOB, WANDA, *CROWD)]
    entries += [(FAY, "browse_abandoners", d1), (FAY, "cart_abandoners_24h", d2)]
    history = pl.DataFrame(
        [
            {
                "customer_id": c,
                "segment": s,
                "event_type": "entered",
                "event_at": _evening(d),
                "as_of_date": d,
                "previous_as_of_date": d - timedelta(days=1),
                "reason": "test",
            }
            for c, s, d in entries
        ]
    )
    membership = pl.DataFrame(
        [{"customer_id": c, "segment": s, "as_of_date": d, "reason": "test"} for c, s, d in entries]
    )
    consent = pl.DataFrame(
        [
            {
                "as_of_date": d,
                "customer_id": c,
                "purpose": "email_marketing",
                "may_send": c != WANDA,
                "exclusion_reason": "withdrawn" if c == WANDA else None,
            }
            for d in DAYS
            for c in everyone
        ]
    )
    people = pl.DataFrame(
        [
            {
                "as_of_date": d,
                "customer_id": c,
                "email": f"{c}@example.org",
                "first_name": "Pat",
                "last_purchased_product": "Tent",
                "favourite_category": "camp",
                "recommended_product_1": "Stove",
                "recommended_product_1_sku": "STOVE",
            }
            for d in DAYS
            for c in everyone
            if c != WANDA
        ]
    )
    golden = pl.DataFrame(
        {
            "customer_id": everyone,
            "email": [f"{c}@example.org" for c in everyone],
            "first_name": "Pat",
        }
    )
    # Bob orders the day after his cart; five of the crowd order too.
    buyers = [BOB, *CROWD[:5]]
    orders = pl.DataFrame(
        {
            "order_id": [f"o-{c}" for c in buyers],
            "customer_id": buyers,
            "ordered_at": [_evening(d2) - timedelta(hours=5)] * len(buyers),
            "is_revenue": True,
            "order_amount_reporting": 80.0,
        }
    ).with_columns(pl.col("ordered_at").cast(UTC_TS))
    carts = pl.DataFrame(
        {
            "customer_id": [ANN, BOB],
            "sku": ["TENT", "MAT"],
            "quantity": [1, 2],
            "price": [199.0, 25.0],
            "occurred_at": [_evening(d1) - timedelta(hours=3)] * 2,
            "cart_action": "add_to_cart",
        }
    ).with_columns(pl.col("occurred_at").cast(UTC_TS))
    email_events = pl.DataFrame(
        {
            "customer_id": [ANN, ANN, BOB],
            "event_type": ["open", "open", "open"],
            "campaign_id": ["c1", "c1", "c1"],
            "occurred_at": [
                datetime(2026, 10, 20, 7, 15, tzinfo=UTC),
                datetime(2026, 10, 21, 7, 40, tzinfo=UTC),
                datetime(2026, 10, 21, 19, 5, tzinfo=UTC),
            ],
        }
    ).with_columns(pl.col("occurred_at").cast(UTC_TS))
    return {
        "segments.segment_history": history,
        "segments.segment_membership": membership,
        "exports.consent_state": consent,
        "exports.people": people,
        "identity.golden_customers": golden,
        "star.fct_orders": orders,
        "star.fct_cart_events": carts,
        "star.dim_product": pl.DataFrame({"sku": ["TENT", "MAT"], "product_name": ["Tent", "Mat"]}),
        "star.fct_email_events": email_events,
    }


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: Hook) -> dict[str, Any]:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        for name, frame in _tables().items():
            connection.execute(f"create schema if not exists {name.split('.')[0]}")
            connection.register("frame", frame.to_arrow())
            connection.execute(f"create table {name} as select * from frame")
            connection.unregister("frame")
    monkeypatch.setenv("CDP_HOLDOUT_SHARE", str(SHARE))
    return {
        "database": database,
        "resources": {
            "warehouse": Warehouse(database=str(database)),
            "trigger_delivery": TriggerDelivery(
                webhook_url=f"http://127.0.0.1:{hook.port}/sends",
                export_root=str(tmp_path / "exports"),
            ),
        },
    }


def _run(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, day: date) -> None:
    monkeypatch.setattr(trigger_assets, "utc_now", lambda: _evening(day))
    result = dg.materialize(
        [trigger_sends, trigger_performance],
        partition_key=day.isoformat(),
        resources=world["resources"],
    )
    assert result.success


def _ledger(world: dict[str, Any]) -> pl.DataFrame:
    with duckdb.connect(str(world["database"]), read_only=True) as connection:
        return connection.execute("select * from exports.trigger_sends").pl()


def _status(ledger: pl.DataFrame, customer: str, step: str) -> tuple[str, str | None]:
    [row] = ledger.filter((pl.col("customer_id") == customer) & (pl.col("step") == step)).rows(
        named=True
    )
    return row["status"], row["reason"]


def test_three_days_of_triggered_emails_through_a_webhook_that_fails_once(
    world: dict[str, Any], hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    d1, d2, d3 = DAYS
    # Day one, with the email platform down: nothing is acknowledged, so everything due is
    # recorded as failed, none lost.
    hook.failing = True
    _run(world, monkeypatch, d1)
    ledger = _ledger(world)
    assert hook.sends == [] and hook.requests >= 3  # retried with back-off
    assert _status(ledger, ANN, "reminder")[0] == "failed"
    # The platform is back; a re-run of the day retries what was not acknowledged, once.
    hook.failing = False
    _run(world, monkeypatch, d1)
    _run(world, monkeypatch, d1)
    ledger = _ledger(world)
    keys = [send["send_key"] for send in hook.sends]
    assert len(keys) == len(set(keys)), "a send went out twice"
    assert _status(ledger, ANN, "reminder") == ("delivered", None)
    assert _status(ledger, WANDA, "reminder") == ("skipped", "consent")
    [ann] = [s for s in hook.sends if s["customer_id"] == ANN]
    assert ann["email"] == f"{ANN}@example.org" and ann["first_name"] == "Pat"
    assert ann["tokens"]["cart_contents"][0]["sku"] == "TENT"
    assert ann["tokens"]["recommended_products"] == [{"name": "Stove", "sku": "STOVE"}]
    assert ann["tokens"]["best_send_hour"] == 7  # her opens are at 07:xx
    assert ann["tokens"]["template"] == "cart_reminder"

    # Holdouts: recorded, never sent.
    held = ledger.filter(pl.col("status") == "held_out")
    expected = {c for c in CROWD if in_holdout(c, "cart_recovery", SHARE)}
    assert set(held["customer_id"]) == expected and expected
    assert not set(held["send_key"]) & set(keys)

    # Day two: Fay's browse nudge (due 01:00) goes out; her cart reminder the same day is
    # held back by the frequency cap across the two triggers.
    _run(world, monkeypatch, d2)
    ledger = _ledger(world)
    assert _status(ledger, FAY, "nudge") == ("delivered", None)
    assert _status(ledger, FAY, "reminder") == ("skipped", "frequency_cap")

    # Day three, 48 hours after the reminders: Ann gets the offer, Bob (who ordered) none.
    before = len(hook.sends)
    _run(world, monkeypatch, d3)
    ledger = _ledger(world)
    assert _status(ledger, ANN, "offer") == ("delivered", None)
    assert _status(ledger, BOB, "offer") == ("skipped", "unless")
    [offer] = [s for s in hook.sends[before:] if s["customer_id"] == ANN]
    assert offer["step"] == "offer" and offer["tokens"]["offer_code"] in {"COMEBACK10", "FREESHIP"}
    # Each person got at most one email per step, and nobody two within 24 hours.
    per_person: dict[str, list[str]] = {}
    for send in hook.sends:
        per_person.setdefault(send["customer_id"], []).append(send["scheduled_at"])
    for times in per_person.values():
        moments = sorted(datetime.fromisoformat(t) for t in times)
        assert all(b - a >= timedelta(hours=24) for a, b in zip(moments, moments[1:], strict=False))
    # A re-run of every day sends nothing new.
    sent = len(hook.sends)
    for day in DAYS:
        _run(world, monkeypatch, day)
    assert len(hook.sends) == sent

    # The lift of the reminder: sent and held-out entrants of day one, with their orders.
    with duckdb.connect(str(world["database"]), read_only=True) as connection:
        performance = connection.execute(
            "select * from segments.trigger_performance where as_of_date = ?"
            " and trigger = 'cart_recovery' and step = 'reminder' and variant = 'all'",
            [d3],
        ).pl()
    [row] = performance.rows(named=True)
    reminders = ledger.filter(pl.col("step") == "reminder")
    assert row["sent"] == reminders.filter(pl.col("status") == "delivered").height
    assert row["held_out"] == len(expected)
    converted = {BOB, *CROWD[:5]}
    sent_ids = set(reminders.filter(pl.col("status") == "delivered")["customer_id"])
    assert row["sent_converted"] == len(converted & sent_ids)
    assert row["held_out_converted"] == len(converted & expected)
    assert json.loads(json.dumps(row, default=str))  # plain values, as Dagster's metadata


def test_without_a_webhook_the_sends_are_a_jsonl_file_per_day(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "exports"
    world["resources"]["trigger_delivery"] = TriggerDelivery(export_root=str(folder))
    _run(world, monkeypatch, DAYS[0])
    _run(world, monkeypatch, DAYS[0])
    lines = (folder / "trigger_sends" / f"{DAYS[0].isoformat()}.jsonl").read_text().splitlines()
    sends = [json.loads(line) for line in lines]
    assert len({s["send_key"] for s in sends}) == len(sends)
    assert {s["customer_id"] for s in sends} >= {ANN, BOB}
    assert WANDA not in {s["customer_id"] for s in sends}
    assert set(_ledger(world).filter(pl.col("customer_id") == ANN)["status"]) >= {"written"}
