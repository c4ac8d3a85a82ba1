"""Benchmark: a bounded load test of `cdp serve`, then every accepted event counted in raw.

    .venv/bin/python bench/ingest_load.py [--events 50000] [--batch 100] [--clients 8]

Starts `cdp serve` on a free 127.0.0.1 port over an empty landing zone and posts `--events`
web events in batches of `--batch` from `--clients` concurrent connections (httpx, HTTP/1.1
keep-alive), each request timed. One batch in twenty is posted twice, as a client retrying
after a timeout would. Then the raw and cleaned web_events of today are materialized through
`cdp run` (the same assets the real-time path runs) and the rows counted: every accepted event
once, none twice.

Reports accepted events per second (wall clock over the posting phase), request latency
(median, p95, p99), and writes `bench/out/ingest_load.json`. Target on 2 cores: ≥ 2,000
events/s in batches of 100, nothing lost, nothing doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
from serving import free_port, launch, percentile, stop, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
TARGET_EVENTS_PER_SECOND = 2000


def _batch(number: int, size: int, base: datetime) -> list[dict[str, Any]]:
    kinds = ("page_view", "product_view", "add_to_cart")
    events = []
    for offset in range(size):
        serial = number * size + offset
        event: dict[str, Any] = {
            "event_id": f"load-{serial}",
            "occurred_at": (base + timedelta(milliseconds=serial)).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            ),
            "anonymous_id": f"anon-{serial % 5000}",
            "event_type": kinds[serial % 3],
            "url": f"https://shop.example/p/{serial % 400}",
        }
        if event["event_type"] != "page_view":
            event["sku"] = f"SKU-{serial % 400}"
        if event["event_type"] == "add_to_cart":
            event["quantity"] = 1
            event["price"] = 19.5
        events.append(event)
    return events


async def _post_all(
    port: int, token: str, batches: list[list[dict[str, Any]]], clients: int
) -> tuple[list[float], int, list[str]]:
    latencies: list[float] = []
    accepted = 0
    errors: list[str] = []
    queue: asyncio.Queue[tuple[int, list[dict[str, Any]]]] = asyncio.Queue()
    for number, batch in enumerate(batches):
        queue.put_nowait((number, batch))
        if number % 20 == 7:  # a retried request: the same body again
            queue.put_nowait((-1, batch))

    async def worker() -> None:
        nonlocal accepted
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        ) as client:
            while not queue.empty():
                number, batch = queue.get_nowait()
                began = time.perf_counter()
                answer = await client.post("/v1/events/web_events", json=batch)
                latencies.append(time.perf_counter() - began)
                if answer.status_code != 202:
                    errors.append(f"{answer.status_code}: {answer.text[:200]}")
                elif number >= 0:
                    accepted += int(answer.json()["accepted"])

    await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies, accepted, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    now = datetime.now(UTC)
    today = now.date()
    work = Path(tempfile.mkdtemp(prefix="ingest-load-"))
    landing = work / "landing"
    landing.mkdir()
    home = work / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    token = secrets.token_urlsafe(32)
    port = free_port()
    env = {
        **os.environ,
        "CDP_LANDING_DIR": str(landing),
        "CDP_DUCKDB_PATH": str(work / "warehouse.duckdb"),
        "CDP_EXPORT_DIR": str(work / "exports"),
        "CDP_ARTIFACT_DIR": str(work / "artifacts"),
        "CDP_START_DATE": (today - timedelta(days=1)).isoformat(),
        "CDP_PII_SALT": os.environ.get("CDP_PII_SALT") or secrets.token_hex(32),
        "CDP_INGEST_TOKEN": token,
        "DAGSTER_HOME": str(home),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("CDP_END_DATE", None)
    # Events of the last hour but not the last minute: all of today, none in the future.
    base = max(now - timedelta(hours=1), now.replace(hour=0, minute=0, second=0, microsecond=0))
    count = args.events // args.batch
    batches = [_batch(number, args.batch, base) for number in range(count)]
    if (base + timedelta(milliseconds=count * args.batch)) > now - timedelta(seconds=5):
        print("too many events for the time since midnight; try later or fewer", file=sys.stderr)
        return 2
    server = launch(["cdp", "serve", "--port", str(port)], env, work / "serve.log")
    try:
        wait_until_serving(port)
        began = time.perf_counter()
        latencies, accepted, errors = asyncio.run(_post_all(port, token, batches, args.clients))
        seconds = time.perf_counter() - began
    finally:
        stop(server)
    rate = accepted / seconds
    print(
        f"{accepted} events accepted in {seconds:.1f} s: {rate:.0f} events/s; {len(latencies)}"
        f" requests, latency median {statistics.median(latencies) * 1000:.0f} ms, p95"
        f" {percentile(latencies, 0.95) * 1000:.0f} ms, p99"
        f" {percentile(latencies, 0.99) * 1000:.0f} ms; errors {len(errors)}"
    )
    files = list((landing / "web_events").rglob("ingest-*.jsonl"))
    # The fast path's first two steps for the day: raw and cleaned web_events.
    loaded = subprocess.run(
        [
            str(BIN / "cdp"),
            "run",
            "--start",
            today.isoformat(),
            "--end",
            today.isoformat(),
            "--select",
            'key:"raw/web_events" or key:"cleaned/web_events"',
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if loaded.returncode != 0:
        print(loaded.stdout[-3000:], loaded.stderr[-3000:], file=sys.stderr)
    with duckdb.connect(env["CDP_DUCKDB_PATH"], read_only=True) as db:
        raw_rows, raw_distinct = db.execute(
            "select count(*), count(distinct event_id) from raw.web_events"
            " where event_id like 'load-%'"
        ).fetchone() or (0, 0)
        cleaned_rows, cleaned_distinct = db.execute(
            "select count(*), count(distinct event_id) from cleaned.web_events"
            " where event_id like 'load-%'"
        ).fetchone() or (0, 0)
    result = {
        "events_posted": count * args.batch,
        "batch": args.batch,
        "clients": args.clients,
        "accepted": accepted,
        "seconds": seconds,
        "events_per_second": rate,
        "latency_ms": {
            "median": statistics.median(latencies) * 1000,
            "p95": percentile(latencies, 0.95) * 1000,
            "p99": percentile(latencies, 0.99) * 1000,
        },
        "errors": errors[:10],
        "landed_files": len(files),
        "raw_rows": raw_rows,
        "raw_distinct_event_ids": raw_distinct,
        "cleaned_rows": cleaned_rows,
        "cleaned_distinct_event_ids": cleaned_distinct,
        "target_events_per_second": TARGET_EVENTS_PER_SECOND,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ingest_load.json").write_text(json.dumps(result, indent=2))
    # A retried request lands the same file, so even raw holds each event once.
    whole = raw_rows == raw_distinct == accepted == cleaned_rows == cleaned_distinct
    whole = whole and not errors
    print(
        f"raw.web_events: {raw_rows} rows ({raw_distinct} distinct ids),"
        f" cleaned: {cleaned_rows} rows; accepted {accepted}:"
        f" {'nothing lost, nothing doubled' if whole else 'MISMATCH'}"
    )
    met = rate >= TARGET_EVENTS_PER_SECOND
    print(f"target ≥ {TARGET_EVENTS_PER_SECOND} events/s: {'met' if met else 'MISSED'}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if met and whole else 1


if __name__ == "__main__":
    raise SystemExit(main())
