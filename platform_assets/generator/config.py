"""The generator's inputs and outputs as plain data, shared by every module of the package."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class GeneratorConfig:
    landing_dir: Path
    truth_dir: Path  # ground truth goes here, outside the landing zone
    people: int = 3000
    days: int = 14
    start_date: date = date(2026, 11, 1)
    seed: int = 42
    bad_rate: float = 0.01  # share of rows carrying a deliberate defect
    chunk_size: int = 5000  # people held in memory at once
    progress: bool = True  # tqdm progress bar on stderr

    def validate(self) -> None:
        """Raise ValueError for a config that cannot produce a sensible landing zone."""
        if self.people < 1:
            raise ValueError("people must be at least 1")
        if self.days < 1:
            raise ValueError("days must be at least 1")
        if not 0.0 <= self.bad_rate <= 1.0:
            raise ValueError("bad_rate must be between 0 and 1")
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        landing = Path(self.landing_dir).resolve()
        truth = Path(self.truth_dir).resolve()
        # Ground truth inside the landing zone would be loaded as data and leak the answers
        # that identity resolution is supposed to find.
        if truth == landing or landing in truth.parents:
            raise ValueError(f"truth_dir {truth} must be outside landing_dir {landing}")


@dataclass(frozen=True)
class GenerationSummary:
    files: int
    rows_by_source: dict[str, int]
    people: int
    seconds: float
