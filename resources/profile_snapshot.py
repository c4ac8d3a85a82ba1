"""The profile snapshot: a Parquet file beside the audience files, published whole, read by
`cdp serve` without touching the warehouse.

Publishing writes a hidden temporary file, fsyncs it and renames it over the old one, so the
API reads the old snapshot or the new, never half of one. An older day never replaces a newer
snapshot: a backfill of last month leaves today's profiles in place.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

SNAPSHOT_PATH = Path("profiles") / "profiles.parquet"


def snapshot_path(export_root: Path) -> Path:
    return export_root / SNAPSHOT_PATH


def published_day(path: Path) -> date | None:
    """The as_of_date of the published snapshot, or None when there is none."""
    if not path.is_file():
        return None
    days = pl.read_parquet(path, columns=["as_of_date"])["as_of_date"]
    return days.max() if len(days) else None  # type: ignore[return-value]


def publish(path: Path, profiles: pl.DataFrame, day: date) -> bool:
    """Swap in `profiles` as the snapshot unless a newer day's is published; True if it was."""
    current = published_day(path)
    if current is not None and current > day:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        profiles.write_parquet(temporary)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return True


@dataclass
class _Loaded:
    signature: tuple[int, int, int]
    by_id: dict[str, dict[str, Any]]
    by_email: dict[str, str]


class ProfileStore:
    """The snapshot in memory, by customer id and by email; read again when the file changes
    (a new publication, or an erasure rewriting it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._loaded: _Loaded | None = None

    def _current(self) -> _Loaded | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._loaded = None
            return None
        signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if self._loaded is None or self._loaded.signature != signature:
            rows = pl.read_parquet(self.path).to_dicts()
            self._loaded = _Loaded(
                signature,
                {row["customer_id"]: row for row in rows},
                {row["email"]: row["customer_id"] for row in rows if row.get("email")},
            )
        return self._loaded

    @property
    def signature(self) -> tuple[int, int, int] | None:
        """Changes whenever the snapshot file does (rendered answers are then stale)."""
        loaded = self._current()
        return loaded.signature if loaded else None

    @property
    def available(self) -> bool:
        return self._current() is not None

    def by_id(self, customer_id: str) -> dict[str, Any] | None:
        loaded = self._current()
        return loaded.by_id.get(customer_id) if loaded else None

    def by_email(self, email: str) -> dict[str, Any] | None:
        loaded = self._current()
        if loaded is None:
            return None
        customer_id = loaded.by_email.get(email.strip().lower())
        return loaded.by_id.get(customer_id) if customer_id else None

    def size(self) -> int:
        loaded = self._current()
        return len(loaded.by_id) if loaded else 0
