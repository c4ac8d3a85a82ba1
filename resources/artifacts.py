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

    def remove_files_naming(self, values: list[str], under: str) -> list[str]:
        """Delete every file under `under` whose text holds one of `values` (case-insensitive).

        For derived files that show people's records (Splink's dashboards): an erasure removes
        them rather than editing them, and the next training writes them again without the
        person. Returns the paths removed, relative to the store.
        """
        needles = [value.lower().encode() for value in values if value]
        root = self.path / under
        removed = []
        for path in sorted(root.rglob("*")) if needles and root.is_dir() else []:
            if path.is_file() and not path.is_symlink():
                content = path.read_bytes().lower()
                if any(needle in content for needle in needles):
                    path.unlink()
                    removed.append(path.relative_to(self.path).as_posix())
        return removed


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
