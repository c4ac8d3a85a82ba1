"""The export directory: `<root>/<YYYY-MM-DD>/<audience>.csv`, the files email platforms import."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

DEFAULT_EXPORT_DIR = "data/exports"

# Names become file names: nothing that could leave the day's folder or hide a file.
FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
# Beside the CSV files of a day: what was exported, from which consent, and each file's checksum.
MANIFEST = "manifest.json"


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

    def write_day(
        self,
        day: date,
        files: Mapping[str, pl.DataFrame],
        manifest: Mapping[str, Any] | None = None,
    ) -> list[Path]:
        """Replace every file of the day with these, one `<name>.csv` per frame, and the
        manifest (when given) with `manifest` plus each file's rows and SHA-256 under `files`;
        returns the CSV paths, sorted.

        The files are written to a hidden folder first and swapped in, so readers see the old
        day or the new day (manifest included), and a file of an audience that no longer exists
        does not linger.
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
        checksums = {}
        for name, rows in files.items():
            rows.write_csv(staging / f"{name}.csv")
            checksums[f"{name}.csv"] = {
                "rows": rows.height,
                "sha256": file_sha256(staging / f"{name}.csv"),
            }
        if manifest is not None:
            document = {**manifest, "files": checksums}
            (staging / MANIFEST).write_text(json.dumps(document, indent=2, sort_keys=True))
        if folder.exists():
            folder.rename(retired)
        staging.rename(folder)
        shutil.rmtree(retired, ignore_errors=True)
        return sorted(folder / f"{name}.csv" for name in files)

    def rewrite_day(
        self,
        day: date,
        changed: Mapping[str, tuple[bytes, int | None]],
        manifest: Mapping[str, Any],
    ) -> None:
        """Replace some files of a day (erasure only: file name -> bytes and rows), keeping the
        others byte for byte, and the manifest with `manifest` plus the changed files' rows and
        checksums; swapped in whole, as `write_day` does."""
        folder = self.day_folder(day)
        staging = folder.with_name(f".{folder.name}.writing")
        retired = folder.with_name(f".{folder.name}.replaced")
        for leftover in (staging, retired):
            shutil.rmtree(leftover, ignore_errors=True)
        shutil.copytree(folder, staging)
        checksums = dict(manifest.get("files") or {})
        for name, (content, rows) in changed.items():
            (staging / name).write_bytes(content)
            checksums[name] = {"rows": rows, "sha256": file_sha256(staging / name)}
        document = {**manifest, "files": checksums}
        (staging / MANIFEST).write_text(json.dumps(document, indent=2, sort_keys=True))
        folder.rename(retired)
        staging.rename(folder)
        shutil.rmtree(retired, ignore_errors=True)

    def days(self) -> list[date]:
        """Every day with a folder of files."""
        if not self.path.is_dir():
            return []
        found = []
        for entry in sorted(self.path.iterdir()):
            try:
                found.append(date.fromisoformat(entry.name))
            except ValueError:
                continue
        return found

    def other_files(self) -> list[Path]:
        """Files beside the day folders (triggered sends, the profile snapshot): everything an
        erasure must read besides the audience files."""
        if not self.path.is_dir():
            return []
        found = []
        for entry in sorted(self.path.iterdir()):
            if entry.name.startswith(".") or self._is_day(entry.name):
                continue
            candidates = sorted(entry.rglob("*")) if entry.is_dir() else [entry]
            found += [
                path
                for path in candidates
                if path.is_file() and not path.is_symlink() and not path.name.startswith(".")
            ]
        return found

    @staticmethod
    def _is_day(name: str) -> bool:
        try:
            date.fromisoformat(name)
        except ValueError:
            return False
        return True

    def replace_file(self, path: Path, content: bytes) -> None:
        """Rewrite one of `other_files` atomically (erasure only)."""
        from resources.landing_zone import replace_atomically

        if self.path not in path.resolve().parents:
            raise ValueError(f"{path} is not under the export directory {self.path}")
        replace_atomically(path, content)

    def remove_day(self, day: date) -> None:
        shutil.rmtree(self.day_folder(day), ignore_errors=True)

    def day_files(self, day: date) -> list[Path]:
        folder = self.day_folder(day)
        if not folder.is_dir():
            return []
        return sorted(folder.glob("*.csv"))

    def read_manifest(self, day: date) -> dict[str, Any] | None:
        """The day's manifest, or None when there is none or it is not a JSON object."""
        path = self.day_folder(day) / MANIFEST
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return document if isinstance(document, dict) else None

    def manifest_sha256(self, day: date) -> str | None:
        path = self.day_folder(day) / MANIFEST
        return file_sha256(path) if path.is_file() else None

    def checksums(self, day: date) -> dict[str, str]:
        """SHA-256 of every CSV file of the day as it is on disk, by file name."""
        return {path.name: file_sha256(path) for path in self.day_files(day)}

    def read_day(self, day: date) -> dict[str, pl.DataFrame]:
        """Every file of the day by name, all values as text, as an email platform reads them."""
        return {path.stem: pl.read_csv(path, infer_schema=False) for path in self.day_files(day)}


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
