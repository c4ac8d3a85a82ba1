"""The export directory: `<root>/<YYYY-MM-DD>/<audience>.csv`, the files email platforms import."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl

DEFAULT_EXPORT_DIR = "data/exports"

# Names become file names: nothing that could leave the day's folder or hide a file.
FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")


def resolve_export_dir(configured: str | None = None) -> Path:
    """The absolute export root: configured value, else CDP_EXPORT_DIR, else the default."""
    raw = configured or os.environ.get("CDP_EXPORT_DIR") or DEFAULT_EXPORT_DIR
    return Path(raw).expanduser().resolve()


class ExportDirectory(dg.ConfigurableResource):
    """Audience files for email platforms. Empty `root` means CDP_EXPORT_DIR, read at run time."""

    root: str = ""

    @property
    def path(self) -> Path:
        return resolve_export_dir(self.root)

    def day_folder(self, day: date) -> Path:
        return self.path / day.isoformat()

    def write_day(self, day: date, files: Mapping[str, pl.DataFrame]) -> list[Path]:
        """Replace every file of the day with these, one `<name>.csv` per frame; returns their
        paths, sorted.

        The files are written to a hidden folder first and swapped in, so readers see the old
        day or the new day, and a file of an audience that no longer exists does not linger.
        """
        bad_names = sorted(name for name in files if not FILE_NAME.match(name))
        if bad_names:
            raise ValueError(
                f"export file names {bad_names} are not lower-case letters, digits and"
                " underscores; rename the segments"
            )
        folder = self.day_folder(day)
        staging = folder.with_name(f".{folder.name}.writing")
        retired = folder.with_name(f".{folder.name}.replaced")
        for leftover in (staging, retired):
            shutil.rmtree(leftover, ignore_errors=True)
        staging.mkdir(parents=True)
        for name, rows in files.items():
            rows.write_csv(staging / f"{name}.csv")
        if folder.exists():
            folder.rename(retired)
        staging.rename(folder)
        shutil.rmtree(retired, ignore_errors=True)
        return sorted(folder / f"{name}.csv" for name in files)

    def remove_day(self, day: date) -> None:
        shutil.rmtree(self.day_folder(day), ignore_errors=True)

    def day_files(self, day: date) -> list[Path]:
        folder = self.day_folder(day)
        if not folder.is_dir():
            return []
        return sorted(folder.glob("*.csv"))

    def read_day(self, day: date) -> dict[str, pl.DataFrame]:
        """Every file of the day by name, all values as text, as an email platform reads them."""
        return {path.stem: pl.read_csv(path, infer_schema=False) for path in self.day_files(day)}
