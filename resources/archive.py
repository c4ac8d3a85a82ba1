"""The landing archive: every landed file kept, content-addressed and immutable.

The raw layer archives each file as it loads it, so a file that later vanishes from the landing
zone (an expired drop-zone file, a mistaken `rm`, an unmounted disk) keeps its rows: raw is
rebuilt from the archive, never emptied by an absence. Removing a file's data is an explicit
retraction (`cdp retract`), recorded here beside the archive.

Layout under the root (CDP_ARCHIVE_DIR, default `archive/` beside the warehouse file, so
`data/archive` for the default `data/warehouse.duckdb`):
- `objects/<sha256[:2]>/<sha256>`: the bytes of every distinct file, written once;
- `manifest/<source>/<day>.jsonl`: append-only, one line per file version archived for the day
  (`"event": "archived"`) and per retraction (`"event": "retracted"`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from resources.landing_zone import replace_atomically
from resources.paths import resolve_path
from resources.warehouse import resolve_duckdb_path

ARCHIVE_FOLDER = "archive"


@dataclass(frozen=True)
class ArchivedFile:
    relative_path: str  # "<source>/<day>/<name>", as in the landing zone
    sha256: str
    size_bytes: int
    archived_at: str


class ArchiveMissing(Exception):
    """A file the platform loaded is in neither the landing zone nor the archive."""


class LandingArchive(dg.ConfigurableResource):
    """Landed files kept for good. Empty `root` means CDP_ARCHIVE_DIR, read at run time, else
    `archive/` beside the warehouse file (`warehouse`, empty for CDP_DUCKDB_PATH): a warehouse
    and the archive it was loaded from belong together."""

    root: str = ""
    warehouse: str = ""

    @property
    def path(self) -> Path:
        if self.root or os.environ.get("CDP_ARCHIVE_DIR"):
            return resolve_path(self.root, "CDP_ARCHIVE_DIR", "")
        return resolve_duckdb_path(self.warehouse).parent / ARCHIVE_FOLDER

    def beside(self, warehouse_path: Path) -> LandingArchive:
        """This archive, defaulting to the folder beside the given warehouse file."""
        return LandingArchive(root=self.root, warehouse=str(warehouse_path))

    def _object(self, sha256: str) -> Path:
        return self.path / "objects" / sha256[:2] / sha256

    def _manifest(self, source: str, day: str) -> Path:
        return self.path / "manifest" / source / f"{day}.jsonl"

    def keep(
        self,
        source: str,
        day: str,
        relative_path: str,
        content: bytes,
        sha256: str,
        known: dict[str, ArchivedFile] | None = None,
    ) -> None:
        """Archive one version of a landed file (a no-op when that version is already kept).

        `known`: the day's `files(..., include_retracted=True)`, when the caller has read it.
        """
        target = self._object(sha256)
        if not target.exists():
            _write_durably(target, content)
        if known is None:
            known = self.files(source, day, include_retracted=True)
        current = known.get(relative_path)
        if current is None or current.sha256 != sha256:
            self._append(
                source,
                day,
                {
                    "event": "archived",
                    "file": relative_path,
                    "sha256": sha256,
                    "size_bytes": len(content),
                },
            )

    def read(self, archived: ArchivedFile) -> bytes:
        target = self._object(archived.sha256)
        if not target.exists():
            raise ArchiveMissing(
                f"{archived.relative_path} (sha256 {archived.sha256[:12]}) is gone from the"
                f" landing zone and its archive copy {target} is missing: restore the file, or"
                f" remove its data on purpose with `cdp retract`"
            )
        return target.read_bytes()

    def files(
        self, source: str, day: str, *, include_retracted: bool = False
    ) -> dict[str, ArchivedFile]:
        """The latest archived version of every file of a day, by landing path.

        A retraction removes the version it names; a later version of the same file (new
        content landed under that name) is a new file and counts again.
        """
        latest: dict[str, ArchivedFile] = {}
        retracted: set[tuple[str, str]] = set()
        for entry in self._entries(source, day):
            if entry["event"] == "archived":
                latest[entry["file"]] = ArchivedFile(
                    entry["file"], entry["sha256"], entry["size_bytes"], entry["at"]
                )
            elif entry["event"] == "retracted":
                retracted.add((entry["file"], entry["sha256"]))
        return {
            path: archived
            for path, archived in latest.items()
            if include_retracted or (path, archived.sha256) not in retracted
        }

    def retracted(self, source: str, day: str) -> set[tuple[str, str]]:
        """(landing path, sha256) of every retracted file version of a day."""
        return {
            (entry["file"], entry["sha256"])
            for entry in self._entries(source, day)
            if entry["event"] == "retracted"
        }

    def retract(self, source: str, day: str, relative_path: str, reason: str) -> ArchivedFile:
        """Record that a file's data is to be removed; its bytes stay in the archive."""
        archived = self.files(source, day).get(relative_path)
        if archived is None:
            known = ", ".join(sorted(self.files(source, day))) or "none"
            raise KeyError(
                f"{relative_path} is not an archived file of {source} on {day} (known: {known})"
            )
        self._append(
            source,
            day,
            {
                "event": "retracted",
                "file": relative_path,
                "sha256": archived.sha256,
                "reason": reason,
                "by": os.environ.get("USER", "unknown"),
            },
        )
        return archived

    def scrub(self, scrub: Callable[[str, str, bytes], tuple[bytes, int]]) -> dict[str, int]:
        """Rewrite every archived version of every file through `scrub(source, file name,
        bytes) -> (bytes, rows removed)` (erasure only); returns the rows removed per landing
        path.

        The scrubbed bytes become objects of their own, each day's manifest is replaced
        atomically to name them (retractions follow their file), and then every object no
        manifest names is deleted. Interrupted anywhere, running it again finishes the job.
        """
        removed_by_path: dict[str, int] = {}
        for manifest in sorted((self.path / "manifest").glob("*/*.jsonl")):
            source = manifest.parent.name
            entries = [json.loads(line) for line in manifest.read_text().splitlines() if line]
            replaced: dict[str, tuple[str, int]] = {}
            for entry in entries:
                old = entry.get("sha256", "")
                if entry["event"] != "archived" or old in replaced:
                    continue
                target = self._object(old)
                if not target.exists():
                    continue
                kept, removed = scrub(source, entry["file"].rsplit("/", 1)[-1], target.read_bytes())
                if removed:
                    new = hashlib.sha256(kept).hexdigest()
                    if not self._object(new).exists():
                        _write_durably(self._object(new), kept)
                    replaced[old] = (new, len(kept))
                    removed_by_path[entry["file"]] = removed_by_path.get(entry["file"], 0) + removed
            if replaced:
                for entry in entries:
                    if entry.get("sha256") in replaced:
                        new, size = replaced[entry["sha256"]]
                        entry["sha256"] = new
                        if "size_bytes" in entry:
                            entry["size_bytes"] = size
                lines = "".join(json.dumps(entry, sort_keys=True) + "\n" for entry in entries)
                replace_atomically(manifest, lines.encode())
        self._delete_unnamed_objects()
        return removed_by_path

    def _delete_unnamed_objects(self) -> None:
        named = {
            entry["sha256"]
            for manifest in (self.path / "manifest").glob("*/*.jsonl")
            for line in manifest.read_text().splitlines()
            if line and "sha256" in (entry := json.loads(line))
        }
        for target in (self.path / "objects").glob("*/*"):
            if target.is_file() and target.name not in named:
                target.unlink()

    def every_object(self) -> list[tuple[str, str, Path]]:
        """(source, landing path, object path) of every archived version still on disk."""
        found = []
        for manifest in sorted((self.path / "manifest").glob("*/*.jsonl")):
            for line in manifest.read_text().splitlines():
                entry = json.loads(line) if line else {}
                if entry.get("event") == "archived" and self._object(entry["sha256"]).exists():
                    found.append(
                        (manifest.parent.name, entry["file"], self._object(entry["sha256"]))
                    )
        return found

    def _entries(self, source: str, day: str) -> list[dict]:
        manifest = self._manifest(source, day)
        if not manifest.exists():
            return []
        return [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]

    def _append(self, source: str, day: str, entry: dict) -> None:
        manifest = self._manifest(source, day)
        manifest.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({**entry, "at": datetime.now(UTC).isoformat()}, sort_keys=True) + "\n"
        with manifest.open("a") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


def _write_durably(target: Path, content: bytes) -> None:
    """Write to a temporary name, fsync, then rename: a crash never leaves half an object."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
        os.chmod(target, 0o444)  # immutable by convention: objects are never rewritten
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
