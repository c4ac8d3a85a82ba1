"""The landing zone: `<root>/<source>/<YYYY-MM-DD>/<file>`, one date folder per daily partition."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg

from resources.paths import resolve_path

DEFAULT_LANDING_DIR = "data/landing"


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relative_path: str  # "<source>/<date>/<name>", the lineage value stored with every row
    size_bytes: int
    modified_at: float


class LandingZone(dg.ConfigurableResource):
    """Files landed by the source systems. Empty `root` means CDP_LANDING_DIR, read at run time."""

    root: str = ""

    @property
    def path(self) -> Path:
        return resolve_path(self.root, "CDP_LANDING_DIR", DEFAULT_LANDING_DIR)

    def files(self, source: str, partition_date: str) -> list[LandingFile]:
        """The files of one source and day, in name order (the order rows are reconciled in).

        Files whose suffix the contract does not know are returned too: the raw layer rejects
        them with a reason rather than ignoring them.
        """
        folder = self.path / source / partition_date
        if not folder.is_dir():
            return []
        found = []
        for file_path in sorted(folder.iterdir()):
            # Hidden files are editor or transfer leftovers (".part", ".DS_Store"), not data.
            if not file_path.is_file() or file_path.name.startswith("."):
                continue
            stat = file_path.stat()
            found.append(
                LandingFile(
                    path=file_path,
                    relative_path=file_path.relative_to(self.path).as_posix(),
                    size_bytes=stat.st_size,
                    modified_at=stat.st_mtime,
                )
            )
        return found

    def read_bytes(self, landing_file: LandingFile) -> bytes:
        return landing_file.path.read_bytes()

    def fingerprint(self, source: str, partition_date: str) -> str:
        """Changes whenever a file of the day is added, removed, rewritten or renamed."""
        listing = "\n".join(
            f"{f.relative_path}|{f.size_bytes}|{f.modified_at}"
            for f in self.files(source, partition_date)
        )
        return hashlib.sha256(listing.encode()).hexdigest()[:16]

    def date_folders(self, source: str) -> list[str]:
        """Every folder name under a source, dates or not."""
        folder = self.path / source
        if not folder.is_dir():
            return []
        return sorted(entry.name for entry in folder.iterdir() if entry.is_dir())

    def dates_in_range(self, source: str, first_date: date, last_date: date) -> list[date]:
        """The date folders of a source that a partition loads."""
        days = []
        for name in self.date_folders(source):
            try:
                day = date.fromisoformat(name)
            except ValueError:
                continue  # reported by misplaced_entries
            if first_date <= day <= last_date:
                days.append(day)
        return days

    def misplaced_entries(self, source: str, first_date: date, last_date: date) -> list[str]:
        """Folders that no partition will ever load: not a date, or outside the partition range."""
        misplaced = []
        for name in self.date_folders(source):
            try:
                day = date.fromisoformat(name)
            except ValueError:
                misplaced.append(f"{source}/{name}: folder name is not a YYYY-MM-DD date")
                continue
            if day < first_date:
                misplaced.append(
                    f"{source}/{name}: before the first partition {first_date.isoformat()}"
                    " (set CDP_START_DATE earlier to load it)"
                )
            elif day > last_date:
                misplaced.append(f"{source}/{name}: after the last partition {last_date}")
        source_folder = self.path / source
        if source_folder.is_dir():
            misplaced += [
                f"{source}/{entry.name}: file outside a date folder"
                for entry in sorted(source_folder.iterdir())
                if entry.is_file() and not entry.name.startswith(".")
            ]
        return misplaced


def file_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
