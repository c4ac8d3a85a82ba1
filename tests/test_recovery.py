"""Crashes and contention: a killed `cdp run` leaves nothing half-done, two runs queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from resources import Warehouse
from tests.processes import ROOT, dagster_home

DAY = date(2026, 11, 2)


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    from platform_assets.generator import GeneratorConfig, generate

    generate(
        GeneratorConfig(
            landing_dir=tmp_path / "landing",
            truth_dir=tmp_path / "truth",
            people=120,
            days=2,
            start_date=DAY,
            progress=False,
        )
    )
    return {
        **os.environ,
        "CDP_LANDING_DIR": str(tmp_path / "landing"),
        "CDP_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "CDP_EXPORT_DIR": str(tmp_path / "exports"),
        "CDP_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "CDP_GROUND_TRUTH_DIR": str(tmp_path / "truth"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PYTHONWARNINGS": "ignore",
        # A persistent instance with the shipped dagster.yaml, as `make demo` runs: a killed
        # run's pool slot must not hold the next run back.
        "DAGSTER_HOME": str(dagster_home(tmp_path)),
    }


def _cdp(env: dict[str, str], *arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "cdp"), *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _dbt_building(log: Path) -> bool:
    """dbt runs inside `cdp run`, which writes dbt's log here: a node has started."""
    return log.exists() and " START " in log.read_text(errors="replace")


def test_a_run_killed_inside_dbt_leaves_a_warehouse_the_next_run_completes(
    environment: dict[str, str], tmp_path: Path
) -> None:
    log = Path(environment["CDP_DUCKDB_PATH"]).parent / "logs" / "cdp-run.log"
    log.unlink(missing_ok=True)
    first = _cdp(environment, "run")
    deadline = time.monotonic() + 300
    while not _dbt_building(log) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first.poll() is None, "the run ended before dbt started"
    time.sleep(1.5)  # inside dbt build, models half written
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    again = _cdp(environment, "run")
    output, _ = again.communicate(timeout=600)
    assert again.returncode == 0, output
    assert "had crashed: marked failed" in output
    warehouse = Warehouse(database=environment["CDP_DUCKDB_PATH"])
    # Both days reached the audience tables and files, and no day is left half-swapped.
    days = warehouse.query("select distinct as_of_date from exports.audiences order by 1")
    assert [d.isoformat() for d in days["as_of_date"]] == ["2026-11-02", "2026-11-03"]
    exports = tmp_path / "exports"
    assert sorted(p.name for p in exports.iterdir() if not p.name.startswith(".")) == [
        "2026-11-02",
        "2026-11-03",
        "profiles",  # the profile snapshot, published whole
    ]
    assert not [p for p in exports.rglob(".*")]  # no half-written day or snapshot
    assert warehouse.query("select count(*) as n from ops.dbt_partition")["n"][0] == 0


def test_two_runs_at_once_queue_instead_of_failing(environment: dict[str, str]) -> None:
    selection = ("run", "--select", "group:raw or group:cleaned")
    runs = [_cdp(environment, *selection), _cdp(environment, *selection)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert any("waiting for the cdp run already working" in output for output in outputs)
