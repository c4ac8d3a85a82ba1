"""Who may receive marketing email: consent and suppression per address, as pure functions.

Consent and suppressions belong to an email address (that is how the consent log and the email
platform record them), so they are evaluated for the address a person would be exported with.

Evidence that *allows* sending (a grant, a delivery after a bounce) counts only when it happened
before the end of the export day; evidence that *forbids* sending (a withdrawal, an unsubscribe,
a complaint, a bounce) counts whenever it became known. Re-running an old day can therefore only
export fewer people than before, never someone who has since said no.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import polars as pl

from platform_assets.exports.settings import (
    BOUNCE_EVENTS,
    BOUNCE_RECOVERY_EVENTS,
    COMPLAINT_EVENTS,
    EXCLUSION_REASONS,
    GRANTED,
    UNSUBSCRIBE_EVENTS,
    WITHDRAWN,
)


def normalized_email(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().str.to_lowercase()


def address_states(
    consent: pl.DataFrame,
    email_events: pl.DataFrame,
    day_end: datetime,
    unreadable: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per address seen in `consent` or `email_events`, with why it may not be emailed.

    `consent`: email, status, recorded_at (statements of the marketing purpose only).
    `email_events`: email, event_type, occurred_at.
    Returns email and `exclusion_reason`: null when the address may be emailed on the day
    ending at `day_end`, else the first of EXCLUSION_REASONS that applies.

    - The latest statement decides; a grant and a withdrawal at the same instant is a withdrawal.
    - An unsubscribe is lifted by a later grant: the person opted in again on purpose.
    - A spam complaint is never lifted by consent: such people stay suppressed.
    - A bounce is hard until a later delivery, open or click; consent does not lift it.
    - A consent or suppression row that could not be read (`unreadable`: email, landed_on)
      suppresses its address until a readable statement is recorded after the day it landed:
      when in doubt, do not send.
    """
    statements = (
        consent.select(normalized_email("email").alias("email"), "status", pl.col("recorded_at"))
        .filter(pl.col("email").is_not_null() & pl.col("recorded_at").is_not_null())
        .filter((pl.col("status") != GRANTED) | (pl.col("recorded_at") < day_end))
        # Sorting a grant before anything else recorded at the same instant makes that other
        # statement the latest one.
        .with_columns((pl.col("status") != GRANTED).alias("_forbids"))
        .sort("email", "recorded_at", "_forbids", "status")
    )
    latest = statements.group_by("email").agg(
        pl.col("status").last().alias("latest_status"),
        pl.col("recorded_at").max().alias("stated_at"),
        pl.col("recorded_at").filter(pl.col("status") == GRANTED).max().alias("granted_at"),
    )
    events = email_events.select(
        normalized_email("email").alias("email"), "event_type", "occurred_at"
    ).filter(pl.col("email").is_not_null() & pl.col("occurred_at").is_not_null())
    is_recovery = pl.col("event_type").is_in(BOUNCE_RECOVERY_EVENTS) & (
        pl.col("occurred_at") < day_end
    )
    suppressions = events.group_by("email").agg(
        pl.col("event_type").is_in(COMPLAINT_EVENTS).any().alias("complained"),
        pl.col("occurred_at")
        .filter(pl.col("event_type").is_in(UNSUBSCRIBE_EVENTS))
        .max()
        .alias("unsubscribed_at"),
        pl.col("occurred_at")
        .filter(pl.col("event_type").is_in(BOUNCE_EVENTS))
        .max()
        .alias("bounced_at"),
        pl.col("occurred_at").filter(is_recovery).max().alias("recovered_at"),
    )
    states = latest.join(suppressions, on="email", how="full", coalesce=True)
    if unreadable is not None and not unreadable.is_empty():
        doubts = (
            unreadable.select(normalized_email("email").alias("email"), "landed_on")
            .filter(pl.col("email").is_not_null())
            .group_by("email")
            .agg(pl.col("landed_on").max().alias("unreadable_on"))
        )
        states = states.join(doubts, on="email", how="full", coalesce=True)
    else:
        states = states.with_columns(pl.lit(None, dtype=pl.Date).alias("unreadable_on"))
    # Read after the day the unreadable row landed: someone stated consent again since.
    restated = pl.col("stated_at") >= (
        pl.col("unreadable_on").cast(pl.Datetime("us", "UTC")) + pl.duration(days=1)
    )
    reason = (
        pl.when(pl.col("unreadable_on").is_not_null() & ~restated.fill_null(False))
        .then(pl.lit("unreadable_consent"))
        .when(pl.col("latest_status").is_null())
        .then(pl.lit("no_consent"))
        .when(pl.col("latest_status") == WITHDRAWN)
        .then(pl.lit("withdrawn"))
        .when(pl.col("latest_status") != GRANTED)
        .then(pl.lit("no_consent"))
        .when(pl.col("complained").fill_null(False))
        .then(pl.lit("complaint"))
        .when(
            pl.col("bounced_at").is_not_null()
            & (pl.col("recovered_at").is_null() | (pl.col("recovered_at") <= pl.col("bounced_at")))
        )
        .then(pl.lit("hard_bounce"))
        .when(
            pl.col("unsubscribed_at").is_not_null()
            & (pl.col("unsubscribed_at") >= pl.col("granted_at"))
        )
        .then(pl.lit("unsubscribed"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return states.select("email", reason.alias("exclusion_reason")).sort("email")


def member_exclusions(members: pl.DataFrame, address_state: pl.DataFrame) -> pl.DataFrame:
    """One row per person: customer_id, email and exclusion_reason (null when exportable).

    `members`: customer_id, email (null when the person has no email). An address shared by
    several exportable people goes to the smallest customer_id only: the email platform keys its
    contacts on the address, so two rows would overwrite each other's personalization.
    """
    people = members.select(
        "customer_id", "email", normalized_email("email").alias("_address")
    ).unique("customer_id", keep="first")
    known = address_state.select(
        pl.col("email").alias("_address"), "exclusion_reason", pl.lit(True).alias("_known")
    )
    joined = people.join(known, on="_address", how="left").with_columns(
        pl.when(pl.col("_address").is_null() | (pl.col("_address") == ""))
        .then(pl.lit("no_email"))
        # An address the consent log has never heard of has no consent.
        .when(pl.col("_known").is_null())
        .then(pl.lit("no_consent"))
        .otherwise(pl.col("exclusion_reason"))
        .alias("exclusion_reason")
    )
    first_holder = (
        joined.filter(pl.col("exclusion_reason").is_null())
        .group_by("_address")
        .agg(pl.col("customer_id").min().alias("_holder"))
    )
    return (
        joined.join(first_holder, on="_address", how="left")
        .with_columns(
            pl.when(
                pl.col("exclusion_reason").is_null() & (pl.col("customer_id") != pl.col("_holder"))
            )
            .then(pl.lit("shared_email"))
            .otherwise(pl.col("exclusion_reason"))
            .alias("exclusion_reason")
        )
        .select("customer_id", "email", "exclusion_reason")
        .sort("customer_id")
    )


def exclusion_counts(exclusions: pl.DataFrame) -> dict[str, int]:
    """People excluded per reason, every reason listed (zero included) in precedence order."""
    counts = dict(
        exclusions.filter(pl.col("exclusion_reason").is_not_null())
        .group_by("exclusion_reason")
        .len()
        .iter_rows()
    )
    return {reason: int(counts.get(reason, 0)) for reason in EXCLUSION_REASONS}


def consent_snapshot_sha256(states: pl.DataFrame) -> str:
    """A fingerprint of the consent a day's exports were decided on (`address_states`): the
    same statements and suppressions give the same hash, any change to them another."""
    snapshot = states.select("email", "exclusion_reason").sort("email", nulls_last=True)
    return hashlib.sha256(snapshot.write_csv().encode()).hexdigest()
