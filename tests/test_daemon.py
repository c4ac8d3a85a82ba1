"""Files land; the daemon's sensors load raw, then cleaned, with no one pressing a button."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import DAY, LandFile
from tests.processes import dagster_home, dagster_process


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The shipped dagster.yaml places the event log under $DAGSTER_HOME, for this process too.
    folder = dagster_home(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(folder))
    return folder


@pytest.fixture
def daemon(home: Path, landing_zone, warehouse) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        "DAGSTER_HOME": str(home),
        "CDP_LANDING_DIR": str(landing_zone.path),
        "CDP_DUCKDB_PATH": str(warehouse.path),
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
