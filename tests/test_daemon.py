"""Files land; the daemon's sensors load raw, then cleaned, with no one pressing a button."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import DAY, LandFile
from tests.processes import dagster_home, dagster_process


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The shipped dagster.yaml places the event log under $DAGSTER_HOME, for this process too.
    # Run monitoring looks every 5 s instead of 30 s: the killed worker's test waits on it.
    folder = dagster_home(tmp_path, monitoring_seconds=5)
    monkeypatch.setenv("DAGSTER_HOME", str(folder))
    return folder


@pytest.fixture
def daemon(home: Path, landing_zone, warehouse) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        "DAGSTER_HOME": str(home),
        "CDP_LANDING_DIR": str(landing_zone.path),
        "CDP_DUCKDB_PATH": str(warehouse.path),
        "CDP_SENSOR_INTERVAL_SECONDS": "5",
    }
    with dagster_process(["dagster-daemon", "run", "-w", "workspace.yaml"], env) as process:
        yield process


def _materialized(instance: dg.DagsterInstance, key: list[str]) -> set[str]:
    return instance.get_materialized_partitions(dg.AssetKey(key))


def test_landed_file_flows_to_raw_and_cleaned_through_the_daemon(
    land: LandFile, home: Path, daemon: subprocess.Popen[bytes], warehouse
) -> None:
    land(
        "orders",
        "orders.csv",
        "order_id,line_number,customer_id,ordered_at,status,sku,quantity,unit_price,currency\n"
        "o1,1,s1,2026-11-02T10:00:00Z,paid,SKU-1,2,9.99,EUR\n",
    )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # A wait, not a timing assertion: the daemon evaluates the whole graph on each tick,
        # and on 2 busy cores a tick can take a while.
        deadline = time.monotonic() + 480
        while time.monotonic() < deadline and DAY not in _materialized(
            instance, ["cleaned", "orders"]
        ):
            assert daemon.poll() is None, "the daemon stopped"
            time.sleep(2)
        assert _materialized(instance, ["raw", "orders"]) == {DAY}
        assert _materialized(instance, ["cleaned", "orders"]) == {DAY}
    assert warehouse.query("select order_id from cleaned.orders")["order_id"].to_list() == ["o1"]


def _run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        found = re.match(r"Started process for run \(pid: (\d+)\)", record.message or "")
        if found:
            return int(found.group(1))
    return None


def test_a_run_worker_killed_under_the_daemon_is_failed_retried_and_its_partition_converges(
    land: LandFile, home: Path, daemon: subprocess.Popen[bytes], warehouse
) -> None:
    land(
        "orders",
        "orders.csv",
        "order_id,line_number,customer_id,ordered_at,status,sku,quantity,unit_price,currency\n"
        "o1,1,s1,2026-11-02T10:00:00Z,paid,SKU-1,2,9.99,EUR\n",
    )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # Kill the first run's worker as soon as it has started: the process dies mid-run, as
        # under the kernel's OOM killer, with no chance to report anything.
        killed: dg.DagsterRun | None = None
        deadline = time.monotonic() + 300
        while killed is None and time.monotonic() < deadline:
            assert daemon.poll() is None, "the daemon stopped"
            for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
                pid = _run_worker_pid(instance, run.run_id)
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    killed = run
                    break
            time.sleep(0.1)
        assert killed is not None, "no run started"

        def retry_of(run_id: str) -> list[dg.DagsterRun]:
            return instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))

        # A wait, not a timing assertion: the code server notices the dead worker and fails the
        # run, which frees its pool slot; the retry daemon re-executes it.
        deadline = time.monotonic() + 480
        while time.monotonic() < deadline and not (
            DAY in _materialized(instance, ["cleaned", "orders"])
            and all(run.is_finished for run in retry_of(killed.run_id))
            and retry_of(killed.run_id)
        ):
            assert daemon.poll() is None, "the daemon stopped"
            time.sleep(2)
        dead = instance.get_run_by_id(killed.run_id)
        assert dead is not None and dead.status == dg.DagsterRunStatus.FAILURE
        [retry] = retry_of(killed.run_id)
        assert retry.status == dg.DagsterRunStatus.SUCCESS, _why_failed(instance, retry)
        assert retry.tags.get("dagster/partition") == killed.tags.get("dagster/partition")
        assert DAY in _materialized(instance, ["raw", "orders"])
        assert DAY in _materialized(instance, ["cleaned", "orders"])
        stuck = instance.get_runs(
            dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.QUEUED])
        )
        assert [run for run in stuck if run.run_id == killed.run_id] == []
    rows = warehouse.query("select order_id from cleaned.orders")
    assert rows["order_id"].to_list() == ["o1"]  # the half-done run left nothing twice


def _why_failed(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    messages = [
        str(record.dagster_event.step_failure_data.error.message)  # type: ignore[union-attr]
        for record in failures
        if record.dagster_event and record.dagster_event.step_failure_data
    ]
    return f"run {run.run_id} ({sorted(run.asset_selection or [])}) failed: {messages}"


def _partitioned_keys() -> list[dg.AssetKey]:
    from platform_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    # Every partitioned asset the platform builds (the landing files are observed, not built).
    return sorted(
        (
            key
            for key in graph.get_all_asset_keys()
            if graph.get(key).is_partitioned and graph.get(key).is_materializable
        ),
        key=lambda key: key.to_user_string(),
    )


def test_sources_that_skip_days_reach_the_audience_files_unattended(
    tmp_path: Path, home: Path, landing_zone, warehouse
) -> None:
    from platform_assets.generator import GeneratorConfig, generate

    staged = tmp_path / "staged"
    generate(
        GeneratorConfig(
            landing_dir=staged,
            truth_dir=tmp_path / "truth",
            people=60,
            days=2,
            start_date=date.fromisoformat(DAY),
            progress=False,
        )
    )
    first, second = DAY, "2026-11-03"
    # Day one, as on many real days: no web, email or support files.
    silent_on_first = {"web_events", "email_events", "support_tickets"}
    landing_zone.path.mkdir(parents=True)
    exports = tmp_path / "exports"
    env = {
        "DAGSTER_HOME": str(home),
        "CDP_LANDING_DIR": str(landing_zone.path),
        "CDP_DUCKDB_PATH": str(warehouse.path),
        "CDP_EXPORT_DIR": str(exports),
        "CDP_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "CDP_GROUND_TRUTH_DIR": str(tmp_path / "truth"),
        # The sensors look every 5 s, not every 30 s: a day is four runs, each a tick apart.
        "CDP_SENSOR_INTERVAL_SECONDS": "5",
    }

    def land_day(day: str, skip: set[str]) -> None:
        for source_folder in sorted(staged.iterdir()):
            if source_folder.name not in skip and (source_folder / day).is_dir():
                shutil.copytree(source_folder / day, landing_zone.path / source_folder.name / day)

    keys = _partitioned_keys()
    with (
        dagster_process(["dagster-daemon", "run", "-w", "workspace.yaml"], env) as daemon,
        dg.DagsterInstance.from_config(str(home)) as instance,
    ):

        def missing(days: set[str]) -> list[str]:
            return [
                f"{key.to_user_string()}:{day}"
                for key in keys
                for day in sorted(days - _materialized(instance, key.path))
            ]

        def wait_for(days: set[str]) -> list[str]:
            # A wait, not a timing assertion: every run is its own process on 2 busy cores.
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline and missing(days):
                assert daemon.poll() is None, "the daemon stopped"
                failed = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
                assert not failed, _why_failed(instance, failed[0])
                time.sleep(3)
            return missing(days)

        land_day(first, skip=silent_on_first)
        assert wait_for({first}) == []
        # The next day every source sends, and the silent ones' first-day files arrive late.
        land_day(second, skip=set())
        assert wait_for({first, second}) == []
        model = instance.get_latest_materialization_event(dg.AssetKey(["identity", "splink_model"]))
        assert model is not None
    for day in (first, second):
        assert sorted(path.name for path in (exports / day).glob("*.csv")), f"no audiences {day}"
    silent = warehouse.query(
        "select count(*) as n from raw.web_events where _partition_date = ?", [date(2026, 11, 2)]
    )
    assert silent["n"][0] == 0  # the silent day is an empty partition, not a missing one
