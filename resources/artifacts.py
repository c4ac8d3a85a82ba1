"""Files the platform writes for people to read (model charts): one directory, one door."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from resources.paths import resolve_path

DEFAULT_ARTIFACT_DIR = "data/artifacts"
DEFAULT_GROUND_TRUTH_DIR = "data/ground_truth"


class ArtifactStore(dg.ConfigurableResource):
    """A directory of generated files. Empty `root` means CDP_ARTIFACT_DIR, read at run time."""

    root: str = ""

    @property
    def path(self) -> Path:
        return resolve_path(self.root, "CDP_ARTIFACT_DIR", DEFAULT_ARTIFACT_DIR)

    def write_text(self, relative_path: str, text: str) -> Path:
        """Write a file atomically (a reader never sees half a chart) and return its path."""
        target = self.path / relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
        return target


class GroundTruth(dg.ConfigurableResource):
    """Who is who in generated data (`cdp generate` writes it beside the landing zone).

    Empty `root` means CDP_GROUND_TRUTH_DIR; real sources have no ground truth, and the
    accuracy check then says so instead of measuring.
    """

    root: str = ""

    @property
    def path(self) -> Path:
        return resolve_path(self.root, "CDP_GROUND_TRUTH_DIR", DEFAULT_GROUND_TRUTH_DIR)

    @property
    def person_records(self) -> Path | None:
        candidate = self.path / "person_records.csv.gz"
        return candidate if candidate.exists() else None
