"""Settings as data: thresholds, policies and vocabularies the layers read.

People change these without touching logic. Environment-specific values (paths, the first
partition) are read by the resources and `platform_assets.partitions`, not here.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

# The first daily partition when CDP_START_DATE is not set: the first day of the demo data.
DEFAULT_START_DATE = "2026-11-01"

# DuckDB allows one writer process per file; every asset that writes joins this pool, whose
# limit the shipped dagster.yaml sets to 1 so concurrent runs queue instead of failing on the lock.
WAREHOUSE_WRITER_POOL = "duckdb_writer"

OWNERS = ["team:data-platform"]

# Landing files arrive daily; a layer is late when it has not caught up for a day and a bit.
FRESHNESS = {
    "raw": dg.FreshnessPolicy.time_window(
        warn_window=timedelta(hours=26), fail_window=timedelta(hours=36)
    ),
    "cleaned": dg.FreshnessPolicy.time_window(
        warn_window=timedelta(hours=27), fail_window=timedelta(hours=37)
    ),
}

# A compressed landing file is rejected when it expands past either limit (a gzip bomb): more
# than this many bytes, or, once past RATIO_CHECKED_ABOVE_BYTES, more than this many times its
# compressed size (real CSV and JSONL compress 5 to 20 times).
MAX_DECOMPRESSED_BYTES = 4 * 1024**3
MAX_COMPRESSION_RATIO = 200
RATIO_CHECKED_ABOVE_BYTES = 64 * 1024**2

# Row count of a partition against the median of the trailing partitions.
VOLUME_TRAILING_PARTITIONS = 7
# ... once at least this many of them have rows.
VOLUME_BASELINE_PARTITIONS = 3
VOLUME_LOW_RATIO = 0.5
VOLUME_HIGH_RATIO = 3.0

# Above this share of quarantined rows in a partition, the cleaned layer warns.
QUARANTINE_WARN_RATIO = 0.05

# Phones written in national format are read in the row's country, else in this region.
DEFAULT_PHONE_REGION = "GB"

# Event times later than the moment of cleaning by more than this are "in the future"; the
# slack absorbs clock skew between the source systems and this platform.
FUTURE_TOLERANCE = timedelta(minutes=5)

# Birth dates before this, or after the day of cleaning, are nulled as implausible (the person
# keeps their record). A recent date is possible (a child's account, a parent's typo) and is
# evidence identity needs: nulling every date under 13 years old lost 16 % of one public
# benchmark's dates and 0.05 of its F1. Who may be marketed to is consent's question.
BIRTH_DATE_EARLIEST = "1900-01-01"

# Country spellings that ISO 3166 does not know but people write.
COUNTRY_ALIASES = {
    "uk": "GB",
    "u.k.": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "great britain": "GB",
    "northern ireland": "GB",
    "usa": "US",
    "u.s.a.": "US",
    "u.s.": "US",
    "america": "US",
    "deutschland": "DE",
    "holland": "NL",
    "the netherlands": "NL",
    "nederland": "NL",
    "españa": "ES",
    "espana": "ES",
    "italia": "IT",
    "schweiz": "CH",
    "suisse": "CH",
    "österreich": "AT",
    "belgique": "BE",
    "belgië": "BE",
}

# Spellings of enum values seen in the wild, mapped onto the contract's values
# (after trimming, lower-casing and turning spaces and hyphens into underscores).
ENUM_SYNONYMS: dict[str, dict[str, str]] = {
    "order_status": {
        "canceled": "cancelled",
        "cancel": "cancelled",
        "new": "placed",
        "pending": "placed",
        "dispatched": "shipped",
        "refund": "refunded",
    },
    "web_event_type": {
        "pageview": "page_view",
        "page": "page_view",
        "productview": "product_view",
        "view_item": "product_view",
        "addtocart": "add_to_cart",
        "add_to_basket": "add_to_cart",
        "removefromcart": "remove_from_cart",
        "begin_checkout": "checkout_started",
        "purchase": "order_completed",
    },
    "email_event_type": {
        "send": "sent",
        "opened": "open",
        "clicked": "click",
        "bounced": "bounce",
        "unsubscribed": "unsubscribe",
        "complaint": "spam_complaint",
        "spam": "spam_complaint",
    },
    "consent_status": {
        "opt_in": "granted",
        "opted_in": "granted",
        "given": "granted",
        "yes": "granted",
        "opt_out": "withdrawn",
        "opted_out": "withdrawn",
        "revoked": "withdrawn",
        "no": "withdrawn",
    },
    "device_type": {"phone": "mobile", "smartphone": "mobile", "pc": "desktop"},
    "ticket_channel": {"e_mail": "email", "livechat": "chat", "live_chat": "chat"},
    "ticket_status": {"new": "open", "resolved": "solved", "on_hold": "pending"},
    "ticket_priority": {"medium": "normal", "critical": "urgent"},
}
