"""Files land; the daemon's sensors load raw and cleaned with no one pressing a button."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import DAY, LandFile
from tests.processes import dagster_process, materialized_partitions, why_failed


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
        while time.monotonic() < deadline and DAY not in materialized_partitions(
            instance, ["cleaned", "orders"]
        ):
            assert daemon.poll() is None, "the daemon stopped"
            time.sleep(2)
        assert materialized_partitions(instance, ["raw", "orders"]) == {DAY}
        assert materialized_partitions(instance, ["cleaned", "orders"]) == {DAY}
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
            DAY in materialized_partitions(instance, ["cleaned", "orders"])
            and all(run.is_finished for run in retry_of(killed.run_id))
            and retry_of(killed.run_id)
        ):
            assert daemon.poll() is None, "the daemon stopped"
            time.sleep(2)
        dead = instance.get_run_by_id(killed.run_id)
        assert dead is not None and dead.status == dg.DagsterRunStatus.FAILURE
        [retry] = retry_of(killed.run_id)
        assert retry.status == dg.DagsterRunStatus.SUCCESS, why_failed(instance, retry)
        assert retry.tags.get("dagster/partition") == killed.tags.get("dagster/partition")
        assert DAY in materialized_partitions(instance, ["raw", "orders"])
        assert DAY in materialized_partitions(instance, ["cleaned", "orders"])
        stuck = instance.get_runs(
            dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.QUEUED])
        )
        assert [run for run in stuck if run.run_id == killed.run_id] == []
    rows = warehouse.query("select order_id from cleaned.orders")
    assert rows["order_id"].to_list() == ["o1"]  # the half-done run left nothing twice
