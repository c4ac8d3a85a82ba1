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

# A day's dbt build, phase by phase (platform_assets/transform/data_tests.py): each phase's
# models, then their tests as one query; a failed blocking test holds its model's descendants
# back from every later phase. Views first: they store nothing, so building the intermediate
# views over a failing staging view writes nothing from it.
BUILD_PHASES: tuple[tuple[str, ...], ...] = (("staging", "intermediate"), ("star",), ("segments",))

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

# What each kind of dbt test checks, as the Dagster UI describes its check: `{column}`,
# `{to}`, `{field}`, `{values}`, `{min_value}`, `{max_value}` and `{columns}` come from the
# test's arguments. A test with a description of its own in the YAML keeps it.
TEST_DESCRIPTIONS = {
    "not_null": "`{column}` is never null.",
    "unique": "`{column}` is unique.",
    "relationships": "Every `{column}` is a `{field}` of `{to}`.",
    "relationships_in_evaluation": "Every `{column}` of the day's evaluation is a `{field}`"
    " of `{to}`.",
    "accepted_values": "`{column}` is one of: {values}.",
    "accepted_range": "`{column}` lies between {min_value} and {max_value}.",
    "unique_combination_of_columns": "No two rows share ({columns}).",
    "no_email_addresses": "`{column}` holds no email address (personal data stays out of the"
    " marts).",
    "no_email_addresses_in_text": "No text column holds an email address (personal data stays"
    " out of the marts).",
}
