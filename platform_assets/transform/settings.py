"""Settings of the dbt layers and the personas: where the project lives, freshness, clustering.

Data people change without touching logic. Like the identity and exports layers, the dbt layers
keep their settings in their own package; `platform_assets.settings` holds what raw and cleaned
share. The personas' clustering settings are in `persona_settings.py`, which dbt's Python models
import without loading Dagster.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt"
# Written by `make install` (`dbt parse`), never at import: loading the code location must not
# run dbt.
DBT_MANIFEST_PATH = DBT_PROJECT_DIR / "target" / "manifest.json"

# Each layer follows the one before it by an hour or so of processing.
FRESHNESS = {
    "staging": dg.FreshnessPolicy.time_window(
        warn_window=timedelta(hours=28), fail_window=timedelta(hours=38)
    ),
    "intermediate": dg.FreshnessPolicy.time_window(
        warn_window=timedelta(hours=28), fail_window=timedelta(hours=38)
    ),
    "star": dg.FreshnessPolicy.time_window(
        warn_window=timedelta(hours=28), fail_window=timedelta(hours=38)
    ),
    "segments": dg.FreshnessPolicy.time_window(
        warn_window=timedelta(hours=29), fail_window=timedelta(hours=39)
    ),
}
