"""The landing zone: `<root>/<source>/<YYYY-MM-DD>/<file>`, one date folder per daily partition."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg

from resources.paths import resolve_path

DEFAULT_LANDING_DIR = "data/landing"

# A file is read once its size and modification time have been still this long: a sender still
# writing it would otherwise be read half-written. CDP_LANDING_SETTLE_SECONDS overrides it.
DEFAULT_SETTLE_SECONDS = 10.0
# A run that finds files still settling waits for them when they settle within this long.
SETTLE_WAIT_MAX_SECONDS = 30.0

# Names a sender uses while a transfer is under way; never data, however long they sit.
# Files the platform's own ingest API wrote: renamed into place complete, so read at once, without
# waiting out the settle interval (the real-time path would otherwise wait 10 s per event).
COMPLETE_FILE_PREFIX = "ingest-"

IN_TRANSFER_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


class LandingRootUnusable(Exception):
    """The landing root is missing or empty: never read as "no files landed"."""


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relative_path: str  # "<source>/<date>/<name>", the lineage value stored with every row
    size_bytes: int
    modified_at: float


class LandingZone(dg.ConfigurableResource):
    """Files landed by the source systems. Empty `root` means CDP_LANDING_DIR, read at run time."""

    root: str = ""
    settle_seconds: float | None = None

    @property
    def path(self) -> Path:
        return resolve_path(self.root, "CDP_LANDING_DIR", DEFAULT_LANDING_DIR)

    @property
    def settle(self) -> float:
        if self.settle_seconds is not None:
            return self.settle_seconds
        configured = os.environ.get("CDP_LANDING_SETTLE_SECONDS")
        return float(configured) if configured else DEFAULT_SETTLE_SECONDS

    def require_root(self) -> None:
        """Refuse a landing root that is missing or empty: an unmounted disk or a wrong path
        would otherwise read as a zone where nothing landed."""
        if not self.path.is_dir():
            raise LandingRootUnusable(
                f"the landing root {self.path} does not exist (CDP_LANDING_DIR): mount it or"
                " point CDP_LANDING_DIR at it"
            )
        if not any(self.path.iterdir()):
            raise LandingRootUnusable(
                f"the landing root {self.path} is empty (CDP_LANDING_DIR): nothing is loaded"
                " from an empty zone, which is what an unmounted disk looks like"
            )

    def _inside_root(self, path: Path) -> bool:
        """Whether a path, symlinks followed, stays under the landing root."""
        return path.resolve().is_relative_to(self.path.resolve())

    def _candidates(self, source: str, partition_date: str) -> list[Path]:
        folder = self.path / source / partition_date
        if not folder.is_dir() or not self._inside_root(folder):
            return []
        return [
            file_path
            for file_path in sorted(folder.iterdir())
            # Hidden files and transfer names are leftovers of a sender at work, not data.
            if not file_path.name.startswith(".")
            and not file_path.name.lower().endswith(IN_TRANSFER_SUFFIXES)
            and file_path.is_file()
        ]

    def files(self, source: str, partition_date: str) -> list[LandingFile]:
        """The settled files of one source and day, in name order (the order rows are
        reconciled in).

        Files whose suffix the contract does not know are returned too: the raw layer rejects
        them with a reason rather than ignoring them. Not returned: hidden files, names a
        transfer uses (`.tmp`, `.part`), files changed within the settle interval, and
        symlinks that leave the landing root (reported by `misplaced_entries`).
        """
        settled_before = time.time() - self.settle
        found = []
        for file_path in self._candidates(source, partition_date):
            if not self._inside_root(file_path):
                continue
            landing_file = self._landing_file(file_path)
            if landing_file.modified_at > settled_before and not _complete(file_path):
                continue  # still being written, or just written: read on a later look
            found.append(landing_file)
        return found

    def _landing_file(self, file_path: Path) -> LandingFile:
        stat = file_path.stat()
        return LandingFile(
            path=file_path,
            relative_path=file_path.relative_to(self.path).as_posix(),
            size_bytes=stat.st_size,
            modified_at=stat.st_mtime,
        )

    def _unsettled_files(self, source: str, partition_date: str) -> list[Path]:
        settled_before = time.time() - self.settle
        return [
            file_path
            for file_path in self._candidates(source, partition_date)
            if self._inside_root(file_path)
            and file_path.stat().st_mtime > settled_before
            and not _complete(file_path)
        ]

    def unsettled(self, source: str, partition_date: str) -> list[str]:
        """Files of the day changed within the settle interval: not read yet."""
        return [
            file_path.relative_to(self.path).as_posix()
            for file_path in self._unsettled_files(source, partition_date)
        ]

    def wait_until_settled(self, source: str, partition_date: str) -> list[str]:
        """Wait for the day's files changed within the settle interval to settle, when they
        will within SETTLE_WAIT_MAX_SECONDS; returns the files still unsettled after that.

        A run started right after a sender wrote its files (`cdp generate && cdp run`, or a
        run requested a moment after a drop) would otherwise load the day without them and
        call it complete. A file that keeps changing is left for a later run.
        """
        deadline = time.time() + SETTLE_WAIT_MAX_SECONDS
        while pending := self._unsettled_files(source, partition_date):
            settles_at = max(path.stat().st_mtime for path in pending) + self.settle
            if settles_at > deadline:
                break
            time.sleep(max(settles_at - time.time(), 0.0) + 0.05)
        return [path.relative_to(self.path).as_posix() for path in pending]

    def land_complete_file(
        self, source: str, partition_date: str, name: str, content: bytes
    ) -> bool:
        """Land a file whose content is complete (`cdp serve`): written under a hidden name,
        fsynced, renamed into `<source>/<date>/`, the folder fsynced, so that once this returns
        a crash loses nothing. False when a file of that name is there already: names carry
        their content's hash, so a retried request lands nothing twice."""
        if not name.startswith(COMPLETE_FILE_PREFIX) or "/" in name or name.startswith("."):
            raise ValueError(f"{name!r} is not a name for a complete landing file")
        folder = self.path / source / partition_date
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        if target.exists():
            return False
        replace_atomically(target, content)
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return True

    def read_bytes(self, landing_file: LandingFile) -> bytes:
        return landing_file.path.read_bytes()

    def replace_file(self, landing_file: LandingFile, content: bytes) -> None:
        """Replace a landed file's bytes atomically (erasure only): a hidden temporary name,
        fsynced, renamed over it. Its modification time is kept, so the rewrite does not read
        as a sender still writing the file."""
        stat = landing_file.path.stat()
        replace_atomically(landing_file.path, content)
        os.utime(landing_file.path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    def every_file(self) -> list[LandingFile]:
        """Every file under a source's date folders, settled or not (erasure scans them all)."""
        if not self.path.is_dir():
            return []
        found = []
        for source_folder in sorted(self.path.iterdir()):
            if not source_folder.is_dir() or source_folder.is_symlink():
                continue
            for day in self.date_folders(source_folder.name):
                found += [
                    self._landing_file(file_path)
                    for file_path in self._candidates(source_folder.name, day)
                    if self._inside_root(file_path)
                ]
        return found

    def fingerprint(self, source: str, partition_date: str) -> str:
        """Changes whenever a settled file of the day is added, removed, rewritten or renamed."""
        return _fingerprint(
            f"{f.relative_path}|{f.size_bytes}|{f.modified_at}"
            for f in self.files(source, partition_date)
        )

    @staticmethod
    def empty_fingerprint() -> str:
        """The fingerprint of a day with no settled file."""
        return _fingerprint([])

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
            for folder in sorted(source_folder.iterdir()):
                inside = folder.is_dir() and self._inside_root(folder)
                entries = [folder, *folder.iterdir()] if inside else [folder]
                misplaced += [
                    f"{entry.relative_to(self.path).as_posix()}: symlink leaves the landing"
                    " root; not followed"
                    for entry in entries
                    if entry.is_symlink() and not self._inside_root(entry)
                ]
        return misplaced


def _complete(file_path: Path) -> bool:
    """Files `cdp serve` renamed into place whole: nothing is still writing them."""
    return file_path.name.startswith(COMPLETE_FILE_PREFIX)


def _fingerprint(lines: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def replace_atomically(target: Path, content: bytes) -> None:
    """Write beside the target under a hidden name, fsync, rename over it: a reader or a crash
    sees the old bytes or the new, never half of either."""
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, target.stat().st_mode & 0o777 if target.exists() else 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def file_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
