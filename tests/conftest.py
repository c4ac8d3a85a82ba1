"""Shared fixtures: a real DuckDB file and a real landing zone under each test's tmp_path."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.definitions import defs
from resources import LandingZone, Warehouse

DAY = "2026-11-02"

# Tests write a landing file and read it at once; in production a file is read only once it
# has been still for the settle interval. The tests of that interval set it themselves.
os.environ["CDP_LANDING_SETTLE_SECONDS"] = "0"
# Required by every command and dbt run (hashed identifiers); a test salt, not a secret.
os.environ.setdefault("CDP_PII_SALT", "test-salt")


# The modules that take longest, heaviest first (seconds of one worker, summed per module from
# `pytest --durations=0` on 2 cores). `make test` hands whole modules to its workers in
# collection order (`--dist loadscope --no-loadscope-reorder`): started first, the long ones
# run beside the many short ones instead of after them, on one worker while the others idle.
# The daemon's test mostly waits on the processes it starts, so it goes first.
SLOWEST_MODULES = (
    "test_daemon_whole_graph.py",  # 160 s, most of it waiting on the daemon
    "test_dbt_models.py",  # 200 s
    "test_whole_graph.py",  # 190 s
    "test_identity.py",  # 120 s
    "test_realtime.py",  # 100 s
    "test_ui.py",  # 95 s
    "test_recovery.py",  # 95 s
    "test_daemon.py",  # 95 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return SLOWEST_MODULES.index(name) if name in SLOWEST_MODULES else len(SLOWEST_MODULES)

    items.sort(key=rank)  # stable: every module keeps its own order of tests


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(database=str(tmp_path / "warehouse.duckdb"))


@pytest.fixture
def landing_zone(tmp_path: Path) -> LandingZone:
    return LandingZone(root=str(tmp_path / "landing"))


LandFile = Callable[..., Path]


@pytest.fixture
def land(landing_zone: LandingZone) -> LandFile:
    """Write a landing file: bytes as given, or CSV/JSONL built from rows."""

    def write(
        source: str,
        name: str,
        content: bytes | str | None = None,
        *,
        rows: Iterable[dict[str, object]] | None = None,
        day: str = DAY,
    ) -> Path:
        path = landing_zone.path / source / day / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if rows is not None:
            content = _serialize(name, list(rows))
        data = content.encode() if isinstance(content, str) else (content or b"")
        if name.endswith(".gz") and rows is not None:
            data = gzip.compress(data)
        path.write_bytes(data)
        return path

    return write


def _serialize(name: str, rows: list[dict[str, object]]) -> str:
    if ".jsonl" in name:
        return "".join(json.dumps(row) + "\n" for row in rows)
    header = list(rows[0])
    lines = [",".join(header)] + [",".join(str(row.get(c) or "") for c in header) for row in rows]
    return "\n".join(lines) + "\n"


MaterializeDay = Callable[..., dg.ExecuteInProcessResult]


@pytest.fixture
def materialize_day(warehouse: Warehouse, landing_zone: LandingZone) -> MaterializeDay:
    """Materialize a selection of the real asset graph for one day, in process."""

    def run(
        selection: str, day: str = DAY, raise_on_error: bool = True
    ) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)],
            partition_key=day,
            selection=dg.AssetSelection.from_string(selection).materializable(),
            resources={
                **(defs.resources or {}),
                "warehouse": warehouse,
                "landing_zone": landing_zone,
            },
            raise_on_error=raise_on_error,
        )

    return run


def check_results(
    result: dg.ExecuteInProcessResult,
) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {
        (evaluation.asset_key.to_user_string(), evaluation.check_name): evaluation
        for evaluation in result.get_asset_check_evaluations()
    }


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Dagster instance folder for tests that start the daemon (tests/processes.py)."""
    from tests.processes import dagster_home

    # The shipped dagster.yaml places the event log under $DAGSTER_HOME, for this process too.
    # Run monitoring looks every 5 s instead of 30 s: the killed worker's test waits on it.
    folder = dagster_home(tmp_path, monitoring_seconds=5)
    monkeypatch.setenv("DAGSTER_HOME", str(folder))
    return folder
