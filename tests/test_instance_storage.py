"""The shipped instance's event log: one pooled SQLite file that another process reads back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from resources.instance_storage import PooledSqliteEventLogStorage
from tests.processes import dagster_home


@dg.asset(check_specs=[dg.AssetCheckSpec("has_rows", asset="tiny")])
def tiny() -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={"dagster/row_count": 3},
        check_results=[dg.AssetCheckResult(check_name="has_rows", passed=True)],
    )


def test_runs_recorded_through_the_shipped_instance_are_read_back_by_another_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = dagster_home(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        for _ in range(2):
            assert dg.materialize([tiny], instance=instance).success
        runs = instance.get_runs()
    assert (home / "event_log.db").exists()
    # A fresh process (as the webserver or the daemon) sees both runs, every event of the
    # latest and the check's evaluation.
    read_back = subprocess.run(
        [
            sys.executable,
            "-c",
            "import dagster as dg\n"
            "instance = dg.DagsterInstance.get()\n"
            "runs = instance.get_runs()\n"
            "record = instance.get_latest_materialization_event(dg.AssetKey('tiny'))\n"
            "check = instance.event_log_storage.get_latest_asset_check_execution_by_key(\n"
            "    [dg.AssetCheckKey(dg.AssetKey('tiny'), 'has_rows')])\n"
            "print(len(runs), len(instance.all_logs(runs[0].run_id)) > 5,\n"
            "      record.asset_materialization.metadata['dagster/row_count'].value,\n"
            "      len(check))\n",
        ],
        env={"DAGSTER_HOME": str(home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert read_back.stdout.split() == ["2", "True", "3", "1"]
    assert {run.run_id for run in runs} and len(runs) == 2
