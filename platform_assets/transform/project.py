"""The dbt project as Dagster sees it: its manifest, its CLI resource and the partition vars."""

from __future__ import annotations

import shutil
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliResource

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


def dbt_cli_resource(project_dir: Path = DBT_PROJECT_DIR) -> DbtCliResource:
    """The `dbt` resource. profiles.yml reads CDP_DUCKDB_PATH, like the Warehouse resource."""
    return DbtCliResource(
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
