"""Benchmark: profile API latency with concurrent clients, against a snapshot of real size.

    .venv/bin/python bench/profile_api.py [--profiles 200000] [--clients 50] [--seconds 20]

Builds a snapshot of `--profiles` profiles with the platform's own builder (not timed; names
from Faker, a few segments and consent per person), publishes it where `exports/profile_snapshot`
does, starts `cdp serve` on a free 127.0.0.1 port, and loads it with wrk (`make bench-tools`):
`--clients` concurrent keep-alive connections fetching random profiles by id (four in five) and
by email (one in five, `profile_api.lua`) for `--seconds` after a warm-up. wrk is a C program
in its own process, so the latency is the server's, not a Python client's event loop. Reports
the median, p95 and p99 latency, the throughput, the snapshot's size on disk and the server's
peak memory, and writes `bench/out/profile_api.json`.
Target: p95 ≤ 20 ms with 50 concurrent clients.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import polars as pl
from serving import free_port, launch, stop, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
TARGET_P95_MS = 20.0
SEGMENTS = ("vip", "loyal_customers", "engagement_high", "cart_abandoners_24h", "lapsed")


def _snapshot(count: int) -> pl.DataFrame:
    from faker import Faker

    from platform_assets.exports.profiles import build_profiles

    fake = Faker("en_GB")
    fake.seed_instance(7)
    rng = random.Random(7)
    ids = [f"cus_{n:012d}" for n in range(1, count + 1)]
    firsts = [fake.first_name() for _ in range(500)]
    lasts = [fake.last_name() for _ in range(500)]
    customers = pl.DataFrame(
        {
            "customer_id": ids,
            "email": [f"person{n}@example.org" for n in range(1, count + 1)],
            "first_name": [rng.choice(firsts) for _ in ids],
            "last_name": [rng.choice(lasts) for _ in ids],
            "country": [rng.choice(("GB", "DE", "FR", "NL", "US")) for _ in ids],
        }
    )
    consent = pl.DataFrame(
        {
            "customer_id": ids,
            "purpose": "email_marketing",
            "may_send": [rng.random() < 0.8 for _ in ids],
            "exclusion_reason": None,
            "latest_status": "granted",
            "stated_at": datetime(2026, 10, 1, tzinfo=UTC),
        }
    )
    members = [
        (customer, segment, f"because of {segment}")
        for customer in ids
        for segment in rng.sample(SEGMENTS, rng.randint(0, 3))
    ]
    memberships = pl.DataFrame(members, schema=["customer_id", "segment", "reason"], orient="row")
    people = pl.DataFrame(
        {
            "customer_id": ids,
            "last_purchased_product": "Tent",
            "favourite_category": "camp",
            "recommended_product_1": "Stove",
            "recommended_product_1_sku": "STOVE",
            "recommended_product_2": "Mat",
            "recommended_product_2_sku": "MAT",
            "recommended_product_3": "Lamp",
            "recommended_product_3_sku": "LAMP",
        }
    )
    return build_profiles(date.today(), customers, consent, memberships, people, {}, 10)


def _wrk(port: int, token: str, count: int, clients: int, seconds: int) -> dict[str, int]:
    """wrk, one thread and `clients` keep-alive connections, for `seconds`; its Lua script
    prints the counts and percentiles as one JSON line."""
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk: `make bench-tools` installs it")
    answer = subprocess.run(
        [
            "wrk",
            "--threads",
            "1",
            "--connections",
            str(clients),
            "--duration",
            f"{seconds}s",
            "--timeout",
            "10s",
            "--script",
            str(Path(__file__).with_suffix(".lua")),
            f"http://127.0.0.1:{port}",
        ],
        env={**os.environ, "TOKEN": token, "PROFILES": str(count)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(answer.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()

    from resources.profile_snapshot import publish, snapshot_path

    work = Path(tempfile.mkdtemp(prefix="profile-api-"))
    exports = work / "exports"
    (work / "landing").mkdir()
    began = time.perf_counter()
    profiles = _snapshot(args.profiles)
    path = snapshot_path(exports)
    publish(path, profiles, date.today())
    print(
        f"snapshot: {profiles.height} profiles, {path.stat().st_size / 1e6:.1f} MB,"
        f" built in {time.perf_counter() - began:.0f} s"
    )
    token = secrets.token_urlsafe(32)
    port = free_port()
    env = {
        **os.environ,
        "CDP_LANDING_DIR": str(work / "landing"),
        "CDP_EXPORT_DIR": str(exports),
        "CDP_DUCKDB_PATH": str(work / "warehouse.duckdb"),
        "CDP_PII_SALT": os.environ.get("CDP_PII_SALT") or secrets.token_hex(32),
        "CDP_INGEST_TOKEN": token,
        "PYTHONWARNINGS": "ignore",
    }
    server = launch(["cdp", "serve", "--port", str(port)], env, work / "serve.log")
    try:
        wait_until_serving(port)
        # Warm-up: the first request loads the snapshot into memory.
        began = time.perf_counter()
        first = httpx.get(
            f"http://127.0.0.1:{port}/v1/profiles/cus_000000000001",
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )
        load_seconds = time.perf_counter() - began
        assert first.status_code == 200, first.text
        _wrk(port, token, args.profiles, args.clients, 3)  # warm-up: every code path once
        measured = _wrk(port, token, args.profiles, args.clients, args.seconds)
        peak_kib = _peak_rss_kib(server.pid)
        errors = sum(measured[key] for key in measured if key.startswith("errors_"))
    finally:
        stop(server)
    result = {
        "profiles": args.profiles,
        "snapshot_bytes": path.stat().st_size,
        "snapshot_load_seconds": load_seconds,
        "clients": args.clients,
        "requests": measured["requests"],
        "errors": errors,
        "requests_per_second": measured["requests"] / (measured["duration_us"] / 1e6),
        "latency_ms": {
            "median": measured["p50_us"] / 1000,
            "p95": measured["p95_us"] / 1000,
            "p99": measured["p99_us"] / 1000,
            "max": measured["max_us"] / 1000,
        },
        "server_peak_rss_mib": peak_kib / 1024,
        "target_p95_ms": TARGET_P95_MS,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "profile_api.json").write_text(json.dumps(result, indent=2))
    latency = result["latency_ms"]
    print(
        f"{result['requests']} requests from {args.clients} clients:"
        f" {result['requests_per_second']:.0f} req/s, median {latency['median']:.1f} ms,"
        f" p95 {latency['p95']:.1f} ms, p99"
        f" {latency['p99']:.1f} ms, errors {errors}; snapshot loaded in {load_seconds:.1f} s,"
        f" server peak {result['server_peak_rss_mib']:.0f} MiB"
    )
    met = latency["p95"] <= TARGET_P95_MS and errors == 0
    print(f"target p95 ≤ {TARGET_P95_MS:.0f} ms: {'met' if met else 'MISSED'}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
