"""`exports/consent_state`: who may be emailed, per customer and purpose, as of each day's end.

The one source of consent for everything that sends: the audience exports read it, and so will
triggers and the profile API. It combines the `consent` source, the email platform's
unsubscribes, complaints and bounces, and the consent rows no one could read, over every
address the identity graph ties to a person (`consent.customer_states` for the rules).
"""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import pandera.polars as pa
import polars as pl

from platform_assets.automation import FOLLOWS_INPUTS_ON_ANY_DAY
from platform_assets.checks import Verdict, check_results, column_schema, schema_verdict
from platform_assets.exports.build import end_of_day
from platform_assets.exports.consent import address_evidence, customer_states
from platform_assets.exports.inputs import (
    CONSENT,
    CONSENT_STATE,
    CUSTOMER_RECORDS,
    EMAIL_EVENTS,
    GOLDEN_CUSTOMERS,
    PERSON_RECORDS,
    SUPPRESSION_EVENTS,
    read_unreadable_consent,
    table_name,
)
from platform_assets.exports.schemas import LAYER
from platform_assets.exports.settings import (
    CONSENT_PURPOSE,
    EXCLUSION_REASONS,
    FRESHNESS,
)
from platform_assets.partitions import DAILY_WRITER_STEP, daily_partitions
from platform_assets.settings import OWNERS
from resources import TableWrite, Warehouse, WarehouseSession

TABLE = f"{LAYER}.consent_state"
CONSENT_REASONS = [
    reason for reason in EXCLUSION_REASONS if reason not in ("no_email", "shared_email")
]

SCHEMA = pa.DataFrameSchema(
    {
        "as_of_date": pa.Column(pl.Date, nullable=False),
        "customer_id": pa.Column(pl.String, nullable=False),
        "purpose": pa.Column(pl.String, nullable=False),
        "may_send": pa.Column(
            pl.Boolean, nullable=False, description="No consent reason holds the person back."
        ),
        "exclusion_reason": pa.Column(
            pl.String,
            nullable=True,
            checks=[pa.Check.isin(CONSENT_REASONS)],
            description="Why the person may not be emailed for the purpose (docs/exports.md),"
            " null when they may.",
        ),
        "latest_status": pa.Column(
            pl.String,
            nullable=True,
            description="The latest consent statement over all the person's addresses.",
        ),
        "stated_at": pa.Column(
            pl.Datetime("us", "UTC"),
            nullable=True,
            description="When the latest statement was recorded.",
        ),
        "addresses": pa.Column(
            pl.Int64,
            nullable=False,
            checks=[pa.Check.ge(0)],
            description="How many addresses the person's identity records carry.",
        ),
    },
    strict=True,
    ordered=True,
    unique=["as_of_date", "customer_id", "purpose"],
    name=TABLE,
)
CHECKS = {
    "schema": "The day's rows match the documented columns and types, one row per customer and"
    " purpose.",
    "every_customer_has_a_state": "Every customer of identity.golden_customers has a state for"
    f" `{CONSENT_PURPOSE}` and every purpose the consent source names. Not blocking: a person"
    " with no row is not exported (no consent), so the gap fails closed.",
}
BLOCKING = {"schema"}


def read_addresses(db: WarehouseSession) -> pl.DataFrame:
    """customer_id, email, send_address: every address the customer's current identity records
    carry, and the golden record's address (the one they are emailed at)."""
    return db.query(
        f"""
        select golden.customer_id, golden.email, true as send_address
        from {table_name(GOLDEN_CUSTOMERS)} as golden
        union all
        select records.customer_id, people.email,
            lower(trim(people.email)) = lower(trim(golden.email)) as send_address
        from {table_name(CUSTOMER_RECORDS)} as records
        join {table_name(PERSON_RECORDS)} as people using (record_key)
        left join {table_name(GOLDEN_CUSTOMERS)} as golden using (customer_id)
        where records.valid_to is null and people.valid_to is null and people.email is not null
        """
    ).with_columns(pl.col("send_address").fill_null(False))


def consent_state_rows(
    day: date,
    consent: pl.DataFrame,
    email_events: pl.DataFrame,
    unreadable: pl.DataFrame,
    addresses: pl.DataFrame,
) -> pl.DataFrame:
    """The day's rows: one per customer of `addresses` and purpose (CONSENT_PURPOSE and every
    purpose `consent` names). Suppressions and unreadable rows count for every purpose."""
    purposes = sorted({CONSENT_PURPOSE, *consent["purpose"].drop_nulls().to_list()})
    customers = addresses.select("customer_id").unique()
    frames = []
    for purpose in purposes:
        statements = consent.filter(pl.col("purpose") == purpose)
        evidence = address_evidence(statements, email_events, end_of_day(day), unreadable)
        states = customer_states(evidence, addresses)
        frames.append(
            customers.join(states, on="customer_id", how="left").with_columns(
                pl.lit(purpose).alias("purpose"),
                # A customer without any address has stated nothing.
                pl.col("exclusion_reason").fill_null(
                    pl.when(pl.col("addresses").is_null()).then(pl.lit("no_consent"))
                ),
                pl.col("addresses").fill_null(0),
            )
        )
    return (
        pl.concat(frames)
        .with_columns(
            pl.lit(day).alias("as_of_date"),
            pl.col("exclusion_reason").is_null().alias("may_send"),
            pl.col("stated_at").cast(pl.Datetime("us", "UTC")),
        )
        .select(list(SCHEMA.columns))
        .sort("customer_id", "purpose")
    )


@dg.asset(
    key=CONSENT_STATE,
    deps=[CONSENT, EMAIL_EVENTS, CUSTOMER_RECORDS, PERSON_RECORDS, GOLDEN_CUSTOMERS],
    group_name=LAYER,
    owners=OWNERS,
    kinds={"duckdb", "polars"},
    tags={"layer": LAYER},
    freshness_policy=FRESHNESS,
    automation_condition=FOLLOWS_INPUTS_ON_ANY_DAY,
    description="Who may be emailed, per customer and purpose, as of the end of each day: the "
    "consent source's latest statement over every address the identity graph ties to the "
    "person, the email platform's unsubscribes, complaints and bounces, and consent rows that "
    "could not be read (held back). The one consent every export reads. Grain: one row per "
    "customer per purpose per day (as_of_date).",
    metadata={
        "dagster/table_name": TABLE,
        "dagster/column_schema": column_schema(SCHEMA),
    },
    check_specs=[
        dg.AssetCheckSpec(
            name,
            asset=CONSENT_STATE,
            description=description,
            blocking=name in BLOCKING,
            partitions_def=daily_partitions,
        )
        for name, description in CHECKS.items()
    ],
    **DAILY_WRITER_STEP,
)
def consent_state(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> Iterator[dg.MaterializeResult]:
    day = date.fromisoformat(context.partition_key)
    with warehouse.session() as db:
        rows = consent_state_rows(
            day,
            db.query(
                "select subject_email as email, purpose, status, recorded_at"
                f" from {table_name(CONSENT)}"
            ),
            db.query(
                f"select email, event_type, occurred_at from {table_name(EMAIL_EVENTS)}"
                " where list_contains(?, event_type)",
                [list(SUPPRESSION_EVENTS)],
            ),
            read_unreadable_consent(db),
            read_addresses(db),
        )
        db.replace([TableWrite(TABLE, rows, {"as_of_date": day})])
        customers = db.query(f"select count(*) as n from {table_name(GOLDEN_CUSTOMERS)}")["n"][0]
        verdicts = {
            "schema": schema_verdict(SCHEMA, rows, db.table_schema(TABLE)),
            "every_customer_has_a_state": _complete_verdict(rows, int(customers)),
        }
    marketing = rows.filter(pl.col("purpose") == CONSENT_PURPOSE)
    reasons = dict(marketing.group_by("exclusion_reason").len().iter_rows())
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows.height,
            "customers": int(customers),
            "may_send": int(marketing["may_send"].sum()),
            "held_back_by_reason": dg.MetadataValue.json(
                {reason: int(reasons.get(reason, 0)) for reason in CONSENT_REASONS}
            ),
        },
        check_results=check_results(verdicts, set()),
    )


def _complete_verdict(rows: pl.DataFrame, customers: int) -> Verdict:
    per_purpose = dict(rows.group_by("purpose").agg(pl.col("customer_id").n_unique()).iter_rows())
    short = {purpose: count for purpose, count in per_purpose.items() if count != customers}
    return Verdict(
        not short and CONSENT_PURPOSE in per_purpose,
        f"{customers} customers, each with a state per purpose"
        if not short
        else f"{customers} customers, but states for {short}",
        {"customers": customers, "states_per_purpose": per_purpose},
    )
