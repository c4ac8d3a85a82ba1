"""Benchmark: the whole graph (raw to audience files) per day, by phase, against a DuckDB floor.

    .venv/bin/python bench/whole_graph.py [--people 3000] [--days 14] [--repeats 3] [--start DAY]

Generates the data once (not timed) from `--start` (default: the demo's 2026-11-01, or as many
days before today as `--days` needs: daily partitions end today), then, each in a fresh
`cdp run` process with its own warehouse and Dagster instance, as a user runs it:

- history: every day from an empty warehouse (the identity model trained once after the
  landing days, then one run per day through every layer); the first built day is the cold
  day (dbt parses the project into a new target folder);
- warm day: the last day run again, `--repeats` times (median), each in a fresh `cdp run`;
  beside it, the median of the history's later days, which one process built one after another;
- floor: DuckDB's own readers loading the same day's files into tables, nothing else.

For the warm runs it reads the Dagster instance: seconds per step (raw, cleaned, identity,
dbt, exports, files) and the run's own overhead, and from the dbt step's log of its build phases
the seconds in dbt's runs of the models and in the data tests' queries; the rest of the dbt step
is dbt's parse of the project (in the run's process, once per process), the table metadata and
Dagster recording the events. Peak RSS is
the largest process of the run (getrusage of the children: `cdp run`, with dbt and DuckDB in
it). Writes `bench/out/whole_graph.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
STEP_PHASES = {
    "raw_sources": "raw",
    "cleaned_sources": "cleaned",
    "identity_graph": "identity",
    "dbt_models": "dbt",
    "export_tables": "exports",
    "exports__audience_files": "files",
}
# The dbt step's line per build phase (platform_assets/transform/assets.py::build_in_phases).
PHASE_LINE = re.compile(
    r"^dbt phase \S+: \d+ model\(s\)(?:, \d+ view\(s\) reused)? in ([\d.]+) s,"
    r" \d+ test\(s\) in ([\d.]+) s$"
)
DAY_LINE = re.compile(r"^\[\d+/\d+\] (\d{4}-\d\d-\d\d) .*: (ok|FAILED).* in ([\d.]+) s$")


def _environment(work: Path, landing: Path, start: date) -> dict[str, str]:
    home = work / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return {
        **os.environ,
        "CDP_LANDING_DIR": str(landing),
        "CDP_DUCKDB_PATH": str(work / "warehouse.duckdb"),
        "CDP_GROUND_TRUTH_DIR": str(landing.parent / "ground_truth"),
        "CDP_ARTIFACT_DIR": str(work / "artifacts"),
        "CDP_EXPORT_DIR": str(work / "exports"),
        "DAGSTER_HOME": str(home),
        "CDP_START_DATE": start.isoformat(),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PYTHONWARNINGS": "ignore",
    }


def _cdp(env: dict[str, str], *arguments: str) -> tuple[float, list[tuple[str, str, float]]]:
    began = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "cdp"), "run", *arguments], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - began
    days = [
        (m.group(1), m.group(2), float(m.group(3)))
        for line in done.stdout.splitlines()
        if (m := DAY_LINE.match(line))
    ]
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-2000:], file=sys.stderr)
    return seconds, days


def _last_run_phases(env: dict[str, str]) -> dict[str, float]:
    """Seconds per step of the instance's latest run, its overhead, and dbt's own split."""
    code = """
import json, sys
import dagster as dg
from dagster._core.events import DagsterEventType as T
instance = dg.DagsterInstance.get()
run = instance.get_runs(limit=1)[0]
starts, steps, began, ended, lines = {}, {}, None, None, []
for record in instance.all_logs(run.run_id):
    event = record.dagster_event
    if event is None:
        lines.append(record.user_message)
        continue
    if event.event_type == T.RUN_START:
        began = record.timestamp
    elif event.event_type == T.STEP_START:
        starts[event.step_key] = record.timestamp
    elif event.event_type in (T.STEP_SUCCESS, T.STEP_FAILURE):
        steps[event.step_key] = record.timestamp - starts[event.step_key]
    elif event.event_type in (T.RUN_SUCCESS, T.RUN_FAILURE):
        ended = record.timestamp
print(json.dumps({"steps": steps, "run": ended - began, "lines": lines}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    phases = {STEP_PHASES.get(step, step): seconds for step, seconds in measured["steps"].items()}
    phases["run overhead"] = measured["run"] - sum(measured["steps"].values())
    builds = [m for line in measured["lines"] if (m := PHASE_LINE.match(line))]
    phases["dbt models"] = sum(float(m.group(1)) for m in builds)
    phases["dbt tests"] = sum(float(m.group(2)) for m in builds)
    phases["dbt parse, metadata, events"] = (
        phases.get("dbt", 0.0) - phases["dbt models"] - phases["dbt tests"]
    )
    return phases


def _floor(landing: Path, day: str, work: Path) -> float:
    sys.path.insert(0, str(ROOT / "bench"))
    from raw_cleaned import _floor as load_with_duckdb  # the raw + cleaned benchmark's floor

    database = work / "floor.duckdb"
    database.unlink(missing_ok=True)
    began = time.perf_counter()
    load_with_duckdb([day], landing, database)
    return time.perf_counter() - began


def use_bench_salt() -> None:
    """Generated people only, like `make demo`: a salt for the run, not for real data."""
    if not os.environ.get("CDP_PII_SALT"):
        os.environ["CDP_PII_SALT"] = "bench-salt-not-for-real-data"
        print("CDP_PII_SALT is not set: hashing with a bench salt, not for real data")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--start", type=date.fromisoformat, default=None)
    arguments = parser.parse_args()
    use_bench_salt()
    # The partitions end today: a history longer than the days since the demo's start begins
    # earlier.
    start = arguments.start or min(date(2026, 11, 1), date.today() - timedelta(days=arguments.days))

    data = OUT / "whole_graph" / f"{arguments.people}x{arguments.days}-{start.isoformat()}"
    landing = data / "landing"
    if not landing.exists():
        subprocess.run(
            [str(BIN / "cdp"), "generate", "--people", str(arguments.people), "--days",
             str(arguments.days), "--start", start.isoformat(), "--landing-dir", str(landing),
             "--truth-dir",
             str(data / "ground_truth"), "--no-progress"],
            check=True,
        )  # fmt: skip
    work = data / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = _environment(work, landing, start)

    history_seconds, history_days = _cdp(env)
    built = [seconds for _, status, seconds in history_days]
    last_day = (start + timedelta(days=arguments.days - 1)).isoformat()
    warm, phases = [], []
    for _ in range(arguments.repeats):
        seconds, days = _cdp(env, "--start", last_day, "--end", last_day)
        warm.append(days[-1][2] if days else seconds)
        phases.append(_last_run_phases(env))
    floor = statistics.median(_floor(landing, last_day, work) for _ in range(arguments.repeats))
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    median_phases = {
        name: statistics.median(p.get(name, 0.0) for p in phases) for name in phases[0]
    }
    report: dict[str, Any] = {
        "start": start.isoformat(),
        "people": arguments.people,
        "days": arguments.days,
        "history_seconds": round(history_seconds, 1),
        "history_failed_days": [day for day, status, _ in history_days if status != "ok"],
        "cold_day_seconds": round(built[arguments.days] if len(built) > arguments.days else 0, 2),
        # The history's days after the first, in the one process that built them (imports,
        # definitions, dbt's parse and first-use compilation already paid): what a day costs a
        # long `cdp run` such as a backfill, against the fresh process of the warm day. The
        # history lands every day first, so a day is its landing run plus its graph run.
        "day_in_running_process_seconds": round(
            statistics.median(
                built[day] + built[arguments.days + day] for day in range(1, arguments.days)
            ),
            2,
        )
        if len(built) == 2 * arguments.days and arguments.days > 1
        else None,
        "warm_day_seconds": round(statistics.median(warm), 2),
        "warm_day_runs": [round(s, 2) for s in warm],
        "floor_seconds": round(floor, 3),
        "warm_day_vs_floor": round(statistics.median(warm) / floor, 1) if floor else None,
        "peak_rss_mb_largest_process": round(peak_mb),
        "warm_day_phases": {k: round(v, 2) for k, v in median_phases.items()},
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "whole_graph.json").write_text(json.dumps(report, indent=2))
    print(f"whole graph, {arguments.people:,} people x {arguments.days} days (2 cores)")
    lines = {
        "history, every day from empty (model trained once)": history_seconds,
        "cold day (first built day, new dbt target)": report["cold_day_seconds"],
        "a later history day, in the running process (median)": report[
            "day_in_running_process_seconds"
        ]
        or 0.0,
        f"warm day in a fresh cdp run, median of {arguments.repeats}": report["warm_day_seconds"],
        "DuckDB floor, the same day's files": floor,
        "peak RSS of the largest process, MB": peak_mb,
    }
    for label, value in lines.items():
        print(f"  {label:<52} {value:9.2f}")
    print("  warm day by phase (median seconds):")
    for name, seconds in median_phases.items():
        print(f"    {name:<36} {seconds:6.2f}")
    if report["history_failed_days"]:
        print(f"  days that failed in the history run: {report['history_failed_days']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
