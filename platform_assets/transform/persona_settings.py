"""Settings of the personas (dbt Python models `segments.personas`, `segments.persona_centroids`).

Kept apart from `settings.py` so dbt imports them without loading Dagster.
"""

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
