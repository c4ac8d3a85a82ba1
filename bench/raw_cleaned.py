"""Benchmark: raw + cleaned layers against a plain DuckDB read of the same files (the floor).

    .venv/bin/python bench/raw_cleaned.py [--people 200000] [--days 7] [--repeats 3]

Generates the demo data once (not timed), then measures, each in a fresh process so that peak
memory is the process's own, `--repeats` times:

- floor/day and floor/all: DuckDB `read_csv` / `read_json` / `read_parquet` of the day's files
  (or of every day's) into tables, nothing else;
- platform/day and platform/all: materializing raw + cleaned for those days through the real
  asset graph (`dagster.materialize`, in process), checks included.

Prints medians, rows per second, peak RSS and the platform/floor ratio, and writes them to
`bench/out/raw_cleaned.json`.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
START = date(2026, 11, 1)


def _child(mode: str, days: list[str], landing: Path, database: Path) -> dict[str, float]:
    """Runs in a fresh process: one measurement."""
    began = time.perf_counter()
    if mode == "floor":
        rows = _floor(days, landing, database)
    else:
        rows = _platform(days, landing, database)
    seconds = time.perf_counter() - began
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "rows": rows, "peak_rss_mb": peak_kib / 1024}


def _floor(days: list[str], landing: Path, database: Path) -> int:
    import duckdb

    from platform_assets.contract import SOURCES

    connection = duckdb.connect(str(database))
    total = 0
    for source in SOURCES:
        for day in days:
            folder = landing / source / day
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                name = path.name
                if name.endswith((".csv", ".csv.gz")):
                    reader = f"read_csv('{path}', all_varchar = true, header = true)"
                elif name.endswith((".jsonl", ".jsonl.gz")):
                    reader = f"read_json('{path}', format = 'newline_delimited')"
                else:
                    reader = f"read_parquet('{path}')"
                table = f"{source}_{day.replace('-', '_')}_{abs(hash(name))}"
                connection.execute(f"create table {table} as select * from {reader}")
                total += connection.execute(f"select count(*) from {table}").fetchall()[0][0]
    connection.close()
    return total


def _platform(days: list[str], landing: Path, database: Path) -> int:
    import dagster as dg

    from platform_assets.definitions import defs
    from resources import LandingZone, Warehouse

    warehouse = Warehouse(database=str(database))
    resources = {
        **(defs.resources or {}),
        "warehouse": warehouse,
        "landing_zone": LandingZone(root=str(landing)),
    }
    for day in days:
        result = dg.materialize(
            list(defs.assets or []),
            partition_key=day,
            selection=dg.AssetSelection.groups("raw", "cleaned"),
            resources=resources,
        )
        assert result.success
    from platform_assets.contract import SOURCES

    counts = warehouse.query(
        " union all ".join(f"select count(*) as n from raw.{source}" for source in SOURCES)
    )
    return int(counts["n"].sum())


def _measure(mode: str, days: list[str], landing: Path, repeats: int) -> dict[str, object]:
    runs = []
    for attempt in range(repeats):
        # A folder of its own: the landing archive lives beside the warehouse, and a run that
        # found the previous run's archive would skip archiving the day's files.
        folder = OUT / f"{mode}-{attempt}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        database = folder / "warehouse.duckdb"
        output = (
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    mode,
                    "--landing",
                    str(landing),
                    "--database",
                    str(database),
                    *days,
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        runs.append(json.loads(output))
        shutil.rmtree(folder)
    seconds = statistics.median(run["seconds"] for run in runs)
    rows = runs[0]["rows"]
    return {
        "mode": mode,
        "days": len(days),
        "rows": rows,
        "median_seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
        "peak_rss_mb": round(max(run["peak_rss_mb"] for run in runs)),
        "runs_seconds": [round(run["seconds"], 2) for run in runs],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--day", default=None, help="the one day to measure (default: the 2nd)")
    parser.add_argument("--child", choices=["floor", "platform"])
    parser.add_argument("--landing", type=Path)
    parser.add_argument("--database", type=Path)
    parser.add_argument("child_days", nargs="*")
    arguments = parser.parse_args()

    if arguments.child:
        print(
            json.dumps(
                _child(arguments.child, arguments.child_days, arguments.landing, arguments.database)
            )
        )
        return 0

    from platform_assets.generator import GeneratorConfig, generate

    OUT.mkdir(exist_ok=True)
    landing = OUT / f"landing-{arguments.people}-{arguments.days}"
    if not landing.exists():
        began = time.perf_counter()
        generate(
            GeneratorConfig(
                landing_dir=landing,
                truth_dir=OUT / f"truth-{arguments.people}-{arguments.days}",
                people=arguments.people,
                days=arguments.days,
                start_date=START,
                progress=True,
            )
        )
        print(
            f"generated {arguments.people} people x {arguments.days} days"
            f" in {time.perf_counter() - began:.0f} s"
        )
    all_days = [(START + timedelta(days=d)).isoformat() for d in range(arguments.days)]
    one_day = [arguments.day or all_days[min(1, len(all_days) - 1)]]

    results = []
    for label, days in (("one day", one_day), ("all days", all_days)):
        floor = _measure("floor", days, landing, arguments.repeats)
        platform = _measure("platform", days, landing, arguments.repeats)
        ratio = platform["median_seconds"] / floor["median_seconds"]  # type: ignore[operator]
        results.append(
            {"scope": label, "floor": floor, "platform": platform, "ratio": round(ratio, 2)}
        )
        print(
            f"{label:>8}: floor {floor['median_seconds']} s ({floor['rows_per_second']:,} rows/s,"
            f" {floor['peak_rss_mb']} MB) | raw+cleaned {platform['median_seconds']} s"
            f" ({platform['rows_per_second']:,} rows/s, peak {platform['peak_rss_mb']} MB)"
            f" | ratio {ratio:.2f}x | rows {platform['rows']:,}",
            flush=True,
        )
    (OUT / "raw_cleaned.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
