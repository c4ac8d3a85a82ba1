"""The dbt project as Dagster sees it: its manifest, its CLI resource and the partition vars."""

from __future__ import annotations

import functools
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliResource
from packaging import version

from platform_assets.transform.settings import DBT_MANIFEST_PATH, DBT_PROJECT_DIR


class DbtManifestMissingError(FileNotFoundError):
    pass


def manifest_path(path: Path = DBT_MANIFEST_PATH) -> Path:
    """The parsed dbt manifest, which `make install` writes; a clear error when it is missing."""
    if not path.is_file():
        raise DbtManifestMissingError(
            f"dbt manifest not found at {path}. Run `make install` (it runs `dbt parse` in"
            f" {DBT_PROJECT_DIR}) before loading the definitions, or after changing the dbt"
            " project."
        )
    return path


def dbt_executable() -> str:
    """The dbt installed beside this Python, so a run does not depend on the caller's PATH."""
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else shutil.which("dbt") or "dbt"


class CdpDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two costs it pays on every run, about 2.5 s together:
    it asks `dbt --version` in a subprocess for each new resource instance (one per run), and
    it opens a dbt adapter in the Dagster process for features this project does not use
    (fetch_row_counts, column metadata: DuckDB allows one writer, so those are read through the
    Warehouse once dbt has exited)."""

    @functools.cached_property
    def _cli_version(self) -> version.Version:
        # The dbt beside this Python is the dbt-core imported here: no subprocess to ask it.
        if Path(self.dbt_executable) == Path(sys.executable).parent / "dbt":
            from dbt.version import __version__

            return version.parse(__version__)
        return DbtCliResource._cli_version.func(self)  # type: ignore[attr-defined]

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        return None


def dbt_cli_resource(project_dir: Path = DBT_PROJECT_DIR) -> DbtCliResource:
    """The `dbt` resource. profiles.yml reads CDP_DUCKDB_PATH, like the Warehouse resource."""
    return CdpDbtCliResource(
        project_dir=str(project_dir),
        profiles_dir=str(project_dir),
        dbt_executable=dbt_executable(),
    )


def partition_vars(partition_key: str, now: datetime) -> dict[str, Any]:
    """The `--vars` of a partition run: its landing-day window and the as-of moment.

    Partition D reads landing partitions [D, D + 1) and is evaluated as of D + 1 day 00:00 UTC;
    while D is still running (today's partition) it is evaluated as of `now`.
    """
    day = date.fromisoformat(partition_key)
    end_of_day = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    as_of = min(end_of_day, now.astimezone(UTC))
    return {
        "min_date": day.isoformat(),
        "max_date": (day + timedelta(days=1)).isoformat(),
        "as_of": as_of.isoformat(sep=" "),
    }
