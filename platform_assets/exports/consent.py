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


def address_evidence(
    consent: pl.DataFrame,
    email_events: pl.DataFrame,
    day_end: datetime,
    unreadable: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per address seen in `consent` or `email_events`: what is known about it as of
    `day_end` (see `address_states` for the rules).

    `consent`: email, status, recorded_at (statements of one purpose only).
    `email_events`: email, event_type, occurred_at.
    Columns: email, latest_status, latest_forbids (the latest statement is not a grant; for
    ties across addresses), stated_at, granted_at, complained, unsubscribed_at, bounced_at,
    recovered_at, unreadable_on.
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
        pl.col("_forbids").last().alias("latest_forbids"),
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
        return states.join(doubts, on="email", how="full", coalesce=True)
    return states.with_columns(pl.lit(None, dtype=pl.Date).alias("unreadable_on"))


def exclusion_reason() -> pl.Expr:
    """The first of EXCLUSION_REASONS that the evidence columns (`address_evidence`) give, null
    when they allow sending."""
    # Read after the day the unreadable row landed: someone stated consent again since.
    restated = pl.col("stated_at") >= (
        pl.col("unreadable_on").cast(pl.Datetime("us", "UTC")) + pl.duration(days=1)
    )
    return (
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


def address_states(
    consent: pl.DataFrame,
    email_events: pl.DataFrame,
    day_end: datetime,
    unreadable: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per address seen in `consent` or `email_events`, with why it may not be emailed.

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
    evidence = address_evidence(consent, email_events, day_end, unreadable)
    return evidence.select("email", exclusion_reason().alias("exclusion_reason")).sort("email")


def customer_states(evidence: pl.DataFrame, addresses: pl.DataFrame) -> pl.DataFrame:
    """One row per customer: the consent of everything their records say, as one person.

    `evidence`: `address_evidence` of one purpose. `addresses`: customer_id, email (every
    address their identity records carry) and send_address (the one they would be emailed at).
    The addresses of a person the identity graph merged count together, the most restrictive
    first: the latest statement on any of them decides (a withdrawal on one address is undone
    only by a grant recorded after it, on any); an unsubscribe or complaint on any of them
    suppresses the person; a consent row that could not be read about any of them holds the
    person back. A bounce belongs to an address: only the send address's counts. And the send
    address must allow sending by itself as well (consent is given for an address): a grant
    recorded under another of their addresses never opens the one they are emailed at.
    Columns: customer_id, exclusion_reason, latest_status, stated_at, addresses.
    """
    joined = (
        addresses.select("customer_id", normalized_email("email").alias("email"), "send_address")
        .filter(pl.col("email").is_not_null() & (pl.col("email") != ""))
        .unique(["customer_id", "email"], keep="first")
        .join(evidence, on="email", how="left")
        .with_columns(exclusion_reason().alias("_address_reason"))
        .sort("customer_id", "stated_at", "latest_forbids", nulls_last=False)
    )
    send = pl.col("send_address")
    return (
        joined.group_by("customer_id")
        .agg(
            pl.col("latest_status").drop_nulls().last().alias("latest_status"),
            pl.col("stated_at").max().alias("stated_at"),
            pl.col("granted_at").max().alias("granted_at"),
            pl.col("complained").fill_null(False).any().alias("complained"),
            pl.col("unsubscribed_at").max().alias("unsubscribed_at"),
            pl.col("bounced_at").filter(send).max().alias("bounced_at"),
            pl.col("recovered_at").filter(send).max().alias("recovered_at"),
            pl.col("unreadable_on").max().alias("unreadable_on"),
            pl.col("email").n_unique().cast(pl.Int64).alias("addresses"),
            # The send address must allow it by itself too: consent is given for an address.
            pl.col("_address_reason").filter(send).first().alias("_send_reason"),
            send.any().alias("_has_send_address"),
        )
        .select(
            "customer_id",
            pl.coalesce(
                exclusion_reason(),
                pl.col("_send_reason"),
                pl.when(~pl.col("_has_send_address")).then(pl.lit("no_consent")),
            ).alias("exclusion_reason"),
            "latest_status",
            "stated_at",
            "addresses",
        )
        .sort("customer_id")
    )


def member_exclusions(members: pl.DataFrame, consent_state: pl.DataFrame) -> pl.DataFrame:
    """One row per person: customer_id, email and exclusion_reason (null when exportable).

    `members`: customer_id, email (null when the person has no email). `consent_state`:
    customer_id, exclusion_reason (`exports.consent_state` of the marketing purpose; a person
    missing from it has no consent). An address shared by several exportable people goes to the
    smallest customer_id only: the email platform keys its contacts on the address, so two rows
    would overwrite each other's personalization.
    """
    people = members.select(
        "customer_id", "email", normalized_email("email").alias("_address")
    ).unique("customer_id", keep="first")
    known = consent_state.select(
        "customer_id", "exclusion_reason", pl.lit(True).alias("_known")
    ).unique("customer_id", keep="first")
    joined = people.join(known, on="customer_id", how="left").with_columns(
        pl.when(pl.col("_address").is_null() | (pl.col("_address") == ""))
        .then(pl.lit("no_email"))
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
    """A fingerprint of the consent a day's exports were decided on (`exports.consent_state`
    of the marketing purpose): the same states give the same hash, any change another."""
    snapshot = states.select("customer_id", "exclusion_reason").sort("customer_id")
    return hashlib.sha256(snapshot.write_csv().encode()).hexdigest()
