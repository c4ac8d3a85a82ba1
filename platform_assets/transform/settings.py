"""Settings of the dbt layers and the personas: where the project lives, freshness, clustering.

Data people change without touching logic. Like the identity and exports layers, the dbt layers
keep their settings in their own package; `platform_assets.settings` holds what raw and cleaned
share.
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

# Personas: k-means over standardized RFM and engagement features of the last year's buyers
# (customers without a purchase have no RFM to cluster on).
PERSONA_FEATURES = (
    "recency_days",
    "frequency_365d",
    "monetary_365d",
    "email_open_rate_90d",
    "email_click_rate_90d",
    "web_sessions_30d",
)
# Spend and order counts are heavily right-skewed; log1p keeps a few big spenders from
# becoming clusters of their own.
PERSONA_LOG_FEATURES = ("frequency_365d", "monetary_365d", "web_sessions_30d")
PERSONA_K_RANGE = range(2, 7)
PERSONA_RANDOM_SEED = 42
# Silhouette scores cost O(n^2): beyond this many customers they are computed on a sample.
PERSONA_SILHOUETTE_SAMPLE = 5_000
