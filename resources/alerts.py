"""Alerts that reach someone: one row per alert in `ops.alerts`, and a webhook POST each.

An alert already open for the same (kind, asset, partition, check) is not raised again; its
resolution is recorded and announced once. Delivery retries with back-off and never raises: an
unreachable webhook or a busy warehouse must not fail or stall the pipeline it reports on.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import duckdb
import httpx

from platform_assets.alerts import Alert, Resolution
from resources.warehouse import Warehouse

ALERTS_TABLE = "ops.alerts"
ALERTS_DDL = f"""
create schema if not exists ops;
create table if not exists {ALERTS_TABLE} (
    alert_id varchar not null,
    raised_at timestamptz not null,
    severity varchar not null,
    kind varchar not null,
    asset varchar,
    partition_key varchar,
    check_name varchar,
    message varchar not null,
    run_id varchar,
    selection json,
    resolved_at timestamptz,
    resolved_by_run varchar,
    delivery varchar
)
"""
DELIVERY_ATTEMPTS = 3
DELIVERY_TIMEOUT_SECONDS = 5.0

logger = logging.getLogger("cdp.alerts")


class AlertSink(dg.ConfigurableResource):
    """Where alerts go. Empty `webhook_url` means CDP_ALERT_WEBHOOK_URL (unset: table only)."""

    webhook_url: str = ""

    @property
    def url(self) -> str | None:
        return self.webhook_url or os.environ.get("CDP_ALERT_WEBHOOK_URL") or None

    def record(
        self, warehouse: Warehouse, items: Sequence[Alert | Resolution]
    ) -> list[dict[str, Any]]:
        """Store new alerts and resolutions, then deliver them; returns what was announced."""
        if not items:
            return []
        try:
            announced = _store(warehouse, items)
        except (duckdb.Error, OSError) as error:
            # The warehouse stayed busy through the retries: announce anyway, unrecorded.
            logger.warning("could not record alerts in %s: %s", ALERTS_TABLE, error)
            announced = [
                _payload(item, str(uuid.uuid4())) for item in items if isinstance(item, Alert)
            ]
        if not announced:
            return []
        url = self.url
        outcomes = {body["alert_id"]: self._deliver(url, body) for body in announced} if url else {}
        if outcomes:
            try:
                with warehouse.session() as db:
                    for alert_id, outcome in outcomes.items():
                        db.execute(
                            f"update {ALERTS_TABLE} set delivery = ? where alert_id = ?"
                            " and delivery is distinct from 'delivered'",
                            [outcome, alert_id],
                        )
            except (duckdb.Error, OSError) as error:
                logger.warning("could not record alert delivery: %s", error)
        return announced

    def _deliver(self, url: str, body: dict[str, Any]) -> str:
        return post_with_retries(url, body, "alert")


def post_with_retries(url: str, body: dict[str, Any], what: str) -> str:
    """POST JSON with bounded retries and back-off; "delivered" or "failed: <why>", never an
    exception."""
    delay = 0.5
    last = ""
    for attempt in range(1, DELIVERY_ATTEMPTS + 1):
        try:
            response = httpx.post(url, json=body, timeout=DELIVERY_TIMEOUT_SECONDS)
            if response.status_code < 300:
                return "delivered"
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as error:
            last = type(error).__name__
        if attempt < DELIVERY_ATTEMPTS:
            time.sleep(delay)
            delay *= 2
    # The URL can hold a secret token: it is never logged, only the outcome.
    logger.warning("%s webhook failed after %d attempts: %s", what, DELIVERY_ATTEMPTS, last)
    return f"failed: {last}"


def _payload(item: Alert | Resolution, alert_id: str, resolved: bool = False) -> dict[str, Any]:
    if isinstance(item, Alert) and not resolved:
        text = item.text
        severity = item.severity
        message = item.message
    else:
        where = " ".join(p for p in (item.asset, item.partition, item.check) if p)
        text = f"[resolved] {item.kind}: {where}"
        severity = "resolved"
        message = "resolved"
    return {
        "text": text,
        "alert_id": alert_id,
        "status": "resolved" if resolved or isinstance(item, Resolution) else "open",
        "severity": severity,
        "kind": item.kind,
        "asset": item.asset,
        "partition": item.partition,
        "check": item.check,
        "message": message,
        "run_id": item.run_id,
    }


def _store(warehouse: Warehouse, items: Sequence[Alert | Resolution]) -> list[dict[str, Any]]:
    announced: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    with warehouse.session() as db:
        db.connection.execute(ALERTS_DDL)
        db.execute("begin transaction")
        try:
            open_rows = db.query(
                f"select alert_id, kind, asset, partition_key, check_name, selection"
                f" from {ALERTS_TABLE} where resolved_at is null"
            ).to_dicts()
            open_keys = {
                (r["kind"], r["asset"], r["partition_key"], r["check_name"]): r for r in open_rows
            }
            for item in items:
                if isinstance(item, Alert):
                    if item.key in open_keys:
                        continue  # already raised and not resolved: not repeated
                    alert_id = str(uuid.uuid4())
                    db.execute(
                        f"insert into {ALERTS_TABLE} values"
                        " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null, null, null)",
                        [
                            alert_id,
                            now,
                            item.severity,
                            item.kind,
                            item.asset,
                            item.partition,
                            item.check,
                            item.message,
                            item.run_id,
                            json.dumps(list(item.selection)) if item.selection else None,
                        ],
                    )
                    open_keys[item.key] = {"alert_id": alert_id, "selection": None}
                    announced.append(_payload(item, alert_id))
                    continue
                for row in _resolved_by(item, open_rows):
                    db.execute(
                        f"update {ALERTS_TABLE} set resolved_at = ?, resolved_by_run = ?"
                        " where alert_id = ?",
                        [now, item.run_id, row["alert_id"]],
                    )
                    open_rows.remove(row)
                    open_keys.pop(
                        (row["kind"], row["asset"], row["partition_key"], row["check_name"]), None
                    )
                    resolved = Resolution(
                        row["kind"],
                        row["asset"],
                        row["partition_key"],
                        row["check_name"],
                        item.run_id,
                    )
                    announced.append(_payload(resolved, row["alert_id"], resolved=True))
            db.execute("commit")
        except BaseException:
            db.execute("rollback")
            raise
    return announced


def _resolved_by(item: Resolution, open_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if item.kind == "run_failed":
        # A run resolves the failed runs of the same day whose every asset it ran again.
        covered = set(item.selection)
        return [
            row
            for row in open_rows
            if row["kind"] == "run_failed"
            and row["partition_key"] == item.partition
            and set(json.loads(row["selection"] or "[]")) <= covered
        ]
    return [
        row
        for row in open_rows
        if (row["kind"], row["asset"], row["partition_key"], row["check_name"]) == item.key
    ]


def open_alerts(warehouse: Warehouse) -> list[dict[str, Any]]:
    """The alerts not resolved yet, newest first (for `cdp alerts` and tests)."""
    with warehouse.session(read_only=True) as db:
        if not db.table_exists(ALERTS_TABLE):
            return []
        return db.query(
            f"select * from {ALERTS_TABLE} where resolved_at is null order by raised_at desc"
        ).to_dicts()
