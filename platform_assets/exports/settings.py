"""Settings of the audience exports, as data: who may be emailed, guards and recommendations.

`docs/exports.md` explains each rule; people change the values here without touching logic.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

# Exports follow the segments they are built from, which follow the cleaned layer (27 h):
# a few hours more before an export counts as late.
FRESHNESS = dg.FreshnessPolicy.time_window(
    warn_window=timedelta(hours=30), fail_window=timedelta(hours=40)
)

# The consent purpose that allows marketing email, and the statuses of `cleaned.consent`.
CONSENT_PURPOSE = "email_marketing"
GRANTED = "granted"
WITHDRAWN = "withdrawn"

# Email-platform events (`cleaned.email_events.event_type`) that stop marketing email to an
# address. The contract has one `bounce` type with no hard/soft flag, so a bounce counts as hard
# until a later delivery, open or click proves the address still receives mail (a soft bounce).
UNSUBSCRIBE_EVENTS = ("unsubscribe",)
COMPLAINT_EVENTS = ("spam_complaint",)
BOUNCE_EVENTS = ("bounce",)
BOUNCE_RECOVERY_EVENTS = ("delivered", "open", "click")
# A quarantined email event is read as a suppression (when in doubt, do not send) when its
# type is a suppression that failed another rule, or looks like one in a spelling nobody
# mapped ("Unsubscribed", "spam-report", "hard_bounce"); other unknown types ("forwarded")
# are not.
SUPPRESSION_LOOKALIKE = r"unsub|opt.?out|complain|spam|abuse|bounce|block"

# Why a segment member is not exported, in precedence order: a person is counted once, under
# the first reason that applies. `no_email` and `shared_email` are not consent reasons but
# every member must be accounted for.
EXCLUSION_REASONS = (
    "no_email",
    "unreadable_consent",
    "no_consent",
    "withdrawn",
    "complaint",
    "hard_bounce",
    "unsubscribed",
    "shared_email",
)

# The size guard: an audience whose exported size moves by more than this share of its usual
# size (the median of its last SIZE_GUARD_BASELINE_DAYS exports) stops its file from being
# written. Changes of fewer than SIZE_CHANGE_MIN_PEOPLE people never trip it: a 4-person
# audience doubling is noise, not an incident. Time-window audiences (cart abandoners of the
# last 24 hours) swing by half from one day to the next as a matter of course; a move of three
# quarters is what stops a send.
SIZE_CHANGE_MAX_RATIO = 0.75
SIZE_CHANGE_MIN_PEOPLE = 50
SIZE_GUARD_BASELINE_DAYS = 7
# An audience is guarded once it has this many earlier exports: until then there is no usual
# size to compare with (a platform's first days, or a first campaign, reshape every audience).
SIZE_GUARD_MIN_HISTORY = 3

# An audience with members in any of the last AUDIENCE_CARRY_DAYS days is exported (empty, a
# header-only file) on a day it has none, so the email platform's copy is emptied too. A segment
# removed from the YAML file stops being exported after that many days.
AUDIENCE_CARRY_DAYS = 7

# Recommendations per person. Cancelled and refunded lines are not evidence that two products
# go together or sell well; every line a person ordered still counts as owned.
RECOMMENDATIONS_PER_PERSON = 3
COUNTED_ORDER_STATUSES = ("placed", "paid", "shipped")

# Column names of the dbt model `segments.customer_features` that the exports read, keyed by
# the token each one fills. The model is young: when a column is renamed, change it here only.
CUSTOMER_FEATURE_COLUMNS = {
    "favourite_category": "favourite_category",
    "last_purchased_product": "last_purchased_product_name",
}

# What each audience is for, shown to the marketers who pick it in the email platform.
# Segments without an entry get a generic description naming the segment.
AUDIENCE_DESCRIPTIONS: dict[str, str] = {}
