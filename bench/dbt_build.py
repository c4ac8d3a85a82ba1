"""Benchmark: dbt build of the star schema and segments (plus personas), one day and every day.

    .venv/bin/python bench/dbt_build.py [--people 200000] [--days 30] [--repeats 1]
        [--out-dir bench/out/dbt-<people>-<days>] [--skip-setup] [--cold-only] [--keep-warehouse]

Setup (timed, but not part of any measurement): the project's generator lands `--days` days of
`--people` people under the out dir, ending yesterday (UTC) so that every partition exists and
each day's segments are evaluated as of the end of that day, not as of now. Then
`cdp run --select "group:raw or group:cleaned or group:identity"` in a child process ingests
every day, trains the identity model once and builds identity day by day into
`<out-dir>/prepared/warehouse.duckdb`. `--skip-setup` reuses that file (and the dates in
`setup.json`).

Each measurement runs in a fresh process on a fresh copy of the prepared warehouse, and
materializes "group:staging or group:intermediate or group:star or group:segments" (the dbt
models with their tests as checks, and personas) through the real asset graph with
`dagster.materialize`, one partition per run as the platform does (one dbt invocation per
build phase, the personas Python models included):

- cold day: the last day, no earlier day built by dbt (first build of every table);
- all days: every day in order (total, and the median day);
- warm day: the last day again, on a copy of the warehouse taken after the all-days
  measurement built the previous days, at the same path and with the dbt target folder that
  run kept (partial parse, column lineage): the daily increment of a platform in production.
  `--keep-warehouse` keeps that copy (`work/warm-base`) to profile a day against.

How to read the table: `seconds` is the wall time of the materialize call(s). The layer columns
sum dbt's duration of each model (its materialization's `Execution Duration`), over dbt's
threads, so their sum may exceed the wall time; `tests` is the data tests' queries, one per
build phase; `dbt wall` is the wall time of dbt's runs (a run per build phase, with its
start-up, hooks and scheduling) and of the tests' queries; `dbt overhead` is the rest of the
dbt step, a cost that hardly grows with the data (dbt's parse of the project on the first day
of a process, and Dagster's work around it: row counts, events); `personas` is the time in the
personas Python models (part of the segments column too). `RSS MB`
is the measuring process's own peak (getrusage): Dagster, dbt and DuckDB, which run in it.
`dbt RSS` is the largest peak of a child process (none since dbt runs in the run's process)
and `sum RSS` the largest sum over the process tree at one moment, both sampled from /proc
every 0.1 s. The
target is a day's partition under 60 s at 200,000 people on 2 cores: on a bigger machine run
the benchmark under `taskset -c 0,1`.

Writes `bench/out/dbt_build.json`; dbt's target folders and each run's log stay under
`<out-dir>/work/`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parent.parent
INGEST_AND_IDENTITY = "group:raw or group:cleaned or group:identity"
SELECTION = "group:staging or group:intermediate or group:star or group:segments"
LAYERS = ("staging", "intermediate", "star", "segments")
COLUMNS = (*LAYERS, "tests", "dbt wall", "dbt overhead", "personas")
# Every copy keeps this name, in its own folder: DuckDB names the catalog after the file's stem,
# and the dbt asset queries tables by the manifest's relation names ("warehouse"."star"...).
WAREHOUSE_FILE = "warehouse.duckdb"


# --------------------------------------------------------------------------------------------
# Setup
# --------------------------------------------------------------------------------------------


def _environment(out_dir: Path, database: Path, start: date) -> dict[str, str]:
    """The platform's settings for a child process: everything under the out dir."""
    environment = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    environment.update(
        CDP_LANDING_DIR=str(out_dir / "landing"),
        CDP_GROUND_TRUTH_DIR=str(out_dir / "truth"),
        CDP_ARTIFACT_DIR=str(out_dir / "artifacts"),
        CDP_EXPORT_DIR=str(out_dir / "exports"),
        CDP_DUCKDB_PATH=str(database),
        # The partition set is read when the definitions load: it must start on the first day.
        CDP_START_DATE=start.isoformat(),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    return environment


def _setup(out_dir: Path, people: int, days: int) -> dict[str, Any]:
    from platform_assets.generator import GeneratorConfig, generate

    # Yesterday is the last day: a partition of today would be evaluated as of now.
    start = datetime.now(UTC).date() - timedelta(days=days)
    # Only what this script writes: --out-dir may be a folder that holds other things.
    for folder in ("landing", "truth", "artifacts", "exports", "prepared", "logs", "work"):
        shutil.rmtree(out_dir / folder, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    summary = generate(
        GeneratorConfig(
            landing_dir=out_dir / "landing",
            truth_dir=out_dir / "truth",
            people=people,
            days=days,
            start_date=start,
            progress=True,
        )
    )
    generate_seconds = time.perf_counter() - began
    print(f"generated {people:,} people x {days} days in {generate_seconds:.0f} s", flush=True)

    prepared = out_dir / "prepared" / WAREHOUSE_FILE
    began = time.perf_counter()
    # A failed check (identity accuracy, say) is reported by cdp and does not stop the benchmark:
    # the dbt timings are what is measured here.
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "cdp"), "run", "--select", INGEST_AND_IDENTITY],
        check=False,
        cwd=ROOT,
        env=_environment(out_dir, prepared, start),
    )
    ingest_seconds = time.perf_counter() - began
    if not prepared.exists():
        raise SystemExit(f"cdp run built no warehouse at {prepared}: see its output above")
    # The cdp child is this process's first: its peak is the children's peak so far.
    ingest_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    setup = {
        "people": people,
        "days": days,
        "start": start.isoformat(),
        "rows_by_source": summary.rows_by_source,
        "generate_seconds": round(generate_seconds, 1),
        "raw_cleaned_identity_seconds": round(ingest_seconds, 1),
        "raw_cleaned_identity_peak_rss_mb": round(ingest_peak_mb),
        "prepared_warehouse_mb": round(prepared.stat().st_size / 2**20),
    }
    (out_dir / "setup.json").write_text(json.dumps(setup, indent=2))
    return setup


def _copy_warehouse(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".wal"):
        copied = target.with_name(target.name + suffix)
        copied.unlink(missing_ok=True)
        original = source.with_name(source.name + suffix)
        if original.exists():
            shutil.copyfile(original, copied)


# --------------------------------------------------------------------------------------------
# Measurement, in a child process
# --------------------------------------------------------------------------------------------


def _dbt_seconds(result: Any, instance: Any) -> dict[str, float]:
    """Seconds per layer (dbt's duration of each model, from its materialization), of the
    personas models, and of the data tests' queries, with dbt's time and its invocations (the
    dbt step's line per build phase)."""
    from whole_graph import PHASE_LINE

    seconds = dict.fromkeys([*LAYERS, "tests", "personas", "dbt elapsed"], 0.0)
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        duration = materialization.metadata.get("Execution Duration")
        if duration is None:
            continue
        layer = materialization.asset_key.path[0]
        seconds[layer] = seconds.get(layer, 0.0) + float(duration.value)
        if "persona" in materialization.asset_key.path[-1]:
            seconds["personas"] += float(duration.value)
    phases = [
        match
        for record in instance.all_logs(result.run_id)
        if record.dagster_event is None and (match := PHASE_LINE.match(record.user_message))
    ]
    seconds["tests"] = sum(float(match.group(2)) for match in phases)
    seconds["dbt elapsed"] = sum(float(match.group(1)) for match in phases) + seconds["tests"]
    seconds["dbt invocations"] = len(phases)
    return seconds


class _TreeMemory(threading.Thread):
    """Samples /proc every 0.1 s for the peak RSS of this process's descendants (dbt) and of the
    whole tree. A child's getrusage peak is no use here: it starts from the pages it shared with
    this process before exec, so it reports this process's size whenever dbt is smaller."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.descendants_peak_kib = 0
        self.tree_peak_kib = 0
        self._stop_sampling = threading.Event()

    def run(self) -> None:
        while not self._stop_sampling.wait(0.1):
            self._sample()

    def stop(self) -> None:
        self._stop_sampling.set()
        self.join()

    def _sample(self) -> None:
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                # The command name may hold spaces: the parent pid is 2 fields after its ")".
                parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        tree, frontier = set(), {os.getpid()}
        while frontier:
            tree |= frontier
            frontier = {pid for pid, parent in parents.items() if parent in frontier} - tree
        total = 0
        for pid in tree:
            fields = _status_kib(pid)
            total += fields.get("VmRSS", 0)
            if pid != os.getpid():
                self.descendants_peak_kib = max(self.descendants_peak_kib, fields.get("VmHWM", 0))
        self.tree_peak_kib = max(self.tree_peak_kib, total)


def _status_kib(pid: int) -> dict[str, int]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {
        name: int(value.split()[0])
        for name, value in (line.split(":", 1) for line in lines if line.startswith("Vm"))
    }


def _child(days: list[str], database: Path, snapshot: Path | None) -> dict[str, Any]:
    """Runs in a fresh process: materialize the dbt layers and personas for `days`, in order."""
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", message="Asset job .* varying BackfillPolicies")

    from platform_assets.definitions import defs
    from resources import ArtifactStore, ExportDirectory, GroundTruth, LandingZone, Warehouse

    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    # As tests/test_whole_graph.py does; CDP_DUCKDB_PATH (set by the parent) names the same
    # file, which the dbt asset checks.
    resources = {
        **(defs.resources or {}),
        "warehouse": Warehouse(database=str(database)),
        "landing_zone": LandingZone(root=os.environ["CDP_LANDING_DIR"]),
        "ground_truth": GroundTruth(root=os.environ["CDP_GROUND_TRUTH_DIR"]),
        "artifacts": ArtifactStore(root=os.environ["CDP_ARTIFACT_DIR"]),
        "export_directory": ExportDirectory(root=os.environ["CDP_EXPORT_DIR"]),
    }
    selection = dg.AssetSelection.from_string(SELECTION)
    instance = dg.DagsterInstance.ephemeral()  # its event log holds the dbt step's phase lines
    memory = _TreeMemory()
    memory.start()
    per_day = []
    for index, day in enumerate(days):
        began = time.perf_counter()
        # dagster-dbt echoes dbt's log to stdout, which carries only the result here.
        with contextlib.redirect_stdout(sys.stderr):
            result = dg.materialize(
                assets,
                instance=instance,
                partition_key=day,
                selection=selection,
                resources=resources,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
        seconds = time.perf_counter() - began
        steps = {
            event.step_key: event.step_success_data.duration_ms / 1000
            for event in result.all_events
            if event.is_step_success and event.step_key
        }
        failed_checks = sorted(
            f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            for evaluation in result.get_asset_check_evaluations()
            if not evaluation.passed
        )
        dbt = _dbt_seconds(result, instance)
        dbt_steps = sum(s for key, s in steps.items() if key.startswith("dbt_models"))
        per_day.append(
            {
                "day": day,
                "success": result.success,
                "seconds": seconds,
                **{column: dbt[column] for column in (*LAYERS, "tests")},
                "dbt wall": dbt["dbt elapsed"],
                "dbt overhead": dbt_steps - dbt["dbt elapsed"],
                "personas": dbt["personas"],
                "dbt elapsed": dbt["dbt elapsed"],
                "dbt invocations": dbt["dbt invocations"],
                "steps": steps,
                "failed_checks": failed_checks,
            }
        )
        print(f"{day}: {seconds:.1f} s, success {result.success}", file=sys.stderr, flush=True)
        if snapshot is not None and index == len(days) - 2:
            # Every day but the last is built: the starting point of the warm-day measurement.
            _copy_warehouse(database, snapshot)
    memory.stop()
    return {
        "per_day": per_day,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_rss_dbt_mb": memory.descendants_peak_kib / 1024,
        "peak_rss_tree_mb": memory.tree_peak_kib / 1024,
    }


# --------------------------------------------------------------------------------------------
# Runs and summary
# --------------------------------------------------------------------------------------------


def _run_child(
    name: str,
    attempt: int,
    days: list[str],
    base: Path,
    out_dir: Path,
    start: date,
    snapshot: Path | None = None,
    deployment: str | None = None,
) -> dict[str, Any]:
    """Runs `days` in a fresh process on a copy of `base`. `deployment` names the folder of an
    earlier run to continue: its warehouse path and its kept dbt target folder (partial parse,
    column lineage), as a deployment's next day has them; otherwise a new folder, whose first
    dbt call parses the project whole (the parse is valid for one warehouse path)."""
    folder = out_dir / "work" / (deployment or f"{name}-{attempt}")
    if deployment is None:
        shutil.rmtree(folder, ignore_errors=True)
    database = folder / WAREHOUSE_FILE
    _copy_warehouse(base, database)
    environment = _environment(out_dir, database, start)
    log = folder / "run.log"
    command = [sys.executable, __file__, "--child", "--database", str(database), *days]
    if snapshot is not None:
        command += ["--snapshot", str(snapshot)]
    with log.open("w") as stderr:
        completed = subprocess.run(
            command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    for suffix in ("", ".wal"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    if completed.returncode != 0:
        raise SystemExit(f"{name} (attempt {attempt}) failed, see {log}")
    run = json.loads(completed.stdout.strip().splitlines()[-1])
    failed = {c for day in run["per_day"] for c in day["failed_checks"]}
    if not all(day["success"] for day in run["per_day"]):
        print(f"  WARNING: {name} had a failed run, timings are not comparable; see {log}")
    elif failed:
        print(f"  note: {name}: failed (non-blocking) checks {', '.join(sorted(failed))}")
    return run


def _median_of(rows: list[dict[str, Any]], column: str) -> float:
    return statistics.median(row[column] for row in rows)


def _summarize(name: str, runs: list[dict[str, Any]], per_day_median: bool) -> dict[str, Any]:
    """One table row: the median run (single day) or the median day (all days)."""
    row: dict[str, Any] = {"scenario": name, "days": len(runs[0]["per_day"])}
    days = [day for run in runs for day in run["per_day"]]
    for column in ("seconds", *COLUMNS):
        if per_day_median:
            row[column] = round(_median_of(days, column), 2)
        else:
            totals = [{column: sum(d[column] for d in run["per_day"])} for run in runs]
            row[column] = round(_median_of(totals, column), 2)
    row["peak_rss_mb"] = round(max(run["peak_rss_mb"] for run in runs))
    row["peak_rss_dbt_mb"] = round(max(run["peak_rss_dbt_mb"] for run in runs))
    row["peak_rss_tree_mb"] = round(max(run["peak_rss_tree_mb"] for run in runs))
    row["success"] = all(day["success"] for day in days)
    return row


def _print_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'scenario':<26}{'seconds':>9}" + "".join(f"{c:>13}" for c in COLUMNS)
    header += f"{'RSS MB':>9}{'dbt RSS':>9}{'sum RSS':>9}"
    print(header)
    for row in rows:
        line = f"{row['scenario']:<26}{row['seconds']:>9.1f}"
        line += "".join(f"{row[c]:>13.1f}" for c in COLUMNS)
        line += "".join(
            f"{row[c]:>9,}" for c in ("peak_rss_mb", "peak_rss_dbt_mb", "peak_rss_tree_mb")
        )
        print(line + ("" if row["success"] else "  FAILED"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--skip-setup", action="store_true", help="reuse the prepared warehouse")
    parser.add_argument(
        "--cold-only", action="store_true", help="measure the cold day only (a quick re-check)"
    )
    parser.add_argument(
        "--keep-warehouse",
        action="store_true",
        help="keep the warehouse of all the days (work/warm-base) to profile a day against",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("child_days", nargs="*", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if not arguments.child:
        from whole_graph import use_bench_salt  # bench/ is the script's folder, on sys.path

        use_bench_salt()

    if arguments.child:
        result = _child(arguments.child_days, arguments.database, arguments.snapshot)
        print(json.dumps(result))
        return 0

    out_dir = (arguments.out_dir or OUT / f"dbt-{arguments.people}-{arguments.days}").resolve()
    prepared = out_dir / "prepared" / WAREHOUSE_FILE
    if arguments.skip_setup:
        if not prepared.exists():
            parser.error(f"--skip-setup: no prepared warehouse at {prepared}; run without it")
        setup = json.loads((out_dir / "setup.json").read_text())
        print(f"reusing {prepared} (prepared {setup['people']:,} people x {setup['days']} days)")
    else:
        setup = _setup(out_dir, arguments.people, arguments.days)
    print(
        f"setup: generate {setup['generate_seconds']} s, raw + cleaned + identity"
        f" {setup['raw_cleaned_identity_seconds']} s (peak"
        f" {setup['raw_cleaned_identity_peak_rss_mb']:,} MB), warehouse"
        f" {setup['prepared_warehouse_mb']:,} MB",
        flush=True,
    )

    start = date.fromisoformat(setup["start"])
    all_days = [(start + timedelta(days=d)).isoformat() for d in range(setup["days"])]
    last = all_days[-1:]
    warm_base = out_dir / "work" / "warm-base" / WAREHOUSE_FILE
    repeats = range(arguments.repeats)
    scenarios: dict[str, list[dict[str, Any]]] = {}
    print(f"cold day {last[0]} ...", flush=True)
    scenarios["cold day"] = [_run_child("cold", a, last, prepared, out_dir, start) for a in repeats]
    if len(all_days) > 1 and not arguments.cold_only:
        print(f"all {len(all_days)} days ...", flush=True)
        scenarios["all days"] = [
            _run_child("all", a, all_days, prepared, out_dir, start, warm_base if a == 0 else None)
            for a in repeats
        ]
        print(f"warm day {last[0]} ...", flush=True)
        scenarios["warm day"] = [
            _run_child("warm", a, last, warm_base, out_dir, start, deployment="all-0")
            for a in repeats
        ]
        if not arguments.keep_warehouse:
            shutil.rmtree(warm_base.parent)

    rows = [_summarize(f"cold day ({last[0]})", scenarios["cold day"], per_day_median=True)]
    if "all days" in scenarios:
        rows += [
            _summarize(f"warm day ({last[0]})", scenarios["warm day"], per_day_median=True),
            _summarize(f"{len(all_days)} days, median day", scenarios["all days"], True),
            _summarize(f"{len(all_days)} days, total", scenarios["all days"], False),
        ]
    print(f"\n{setup['people']:,} people, {len(all_days)} days, {os.cpu_count()} cores")
    _print_table(rows)
    one_day = max(row["seconds"] for row in rows if "day (" in row["scenario"])
    verdict = "met" if one_day < 60 else "NOT met"
    print(f"target: one day's partition < 60 s: slowest single day {one_day:.1f} s, {verdict}")

    OUT.mkdir(exist_ok=True)
    report = {
        "setup": setup,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "repeats": arguments.repeats,
        "rows": rows,
        "runs": scenarios,
    }
    (OUT / "dbt_build.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {OUT / 'dbt_build.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
