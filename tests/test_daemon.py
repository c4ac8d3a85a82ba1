"""Files land; the daemon's sensors load raw, then cleaned, with no one pressing a button."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import DAY, LandFile

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return home


@pytest.fixture
def daemon(dagster_home: Path, landing_zone, warehouse) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "CDP_LANDING_DIR": str(landing_zone.path),
        "CDP_DUCKDB_PATH": str(warehouse.path),
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the runs it launches stop with it
        preexec_fn=lambda: (
            signal.signal(signal.SIGINT, signal.SIG_DFL),
            signal.signal(signal.SIGTERM, signal.SIG_DFL),
        ),
    )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _materialized(instance: dg.DagsterInstance, key: list[str]) -> set[str]:
    return instance.get_materialized_partitions(dg.AssetKey(key))


def test_landed_file_flows_to_raw_and_cleaned_through_the_daemon(
    land: LandFile, dagster_home: Path, daemon: subprocess.Popen[bytes], warehouse
) -> None:
    land(
        "orders",
        "orders.csv",
        "order_id,line_number,customer_id,ordered_at,status,sku,quantity,unit_price,currency\n"
        "o1,1,s1,2026-11-02T10:00:00Z,paid,SKU-1,2,9.99,EUR\n",
    )
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and DAY not in _materialized(
            instance, ["cleaned", "orders"]
        ):
            assert daemon.poll() is None, "the daemon stopped"
            time.sleep(2)
        assert _materialized(instance, ["raw", "orders"]) == {DAY}
        assert _materialized(instance, ["cleaned", "orders"]) == {DAY}
    assert warehouse.query("select order_id from cleaned.orders")["order_id"].to_list() == ["o1"]
