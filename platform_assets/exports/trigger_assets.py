"""`exports/trigger_sends` and `segments/trigger_performance`: triggered emails and their lift.

The rules are data (`triggers.yml`) and pure functions (`triggers.py`); this module reads the
warehouse, asks the delivery resource to send, and records what happened.
"""

# No `from __future__ import annotations`: Dagster reads the context annotations at run time.
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import pandera.polars as pa
import polars as pl

from platform_assets.automation import FOLLOWS_INPUTS_ON_ANY_DAY
from platform_assets.checks import Verdict, check_results, column_schema, schema_verdict
from platform_assets.exports.build import end_of_day
from platform_assets.exports.inputs import CONSENT_STATE, GOLDEN_CUSTOMERS
from platform_assets.exports.profiles import recommended_products
from platform_assets.exports.schemas import LAYER
from platform_assets.exports.settings import CONSENT_PURPOSE, FRESHNESS
from platform_assets.exports.triggers import (
    DELIVERED,
    HELD_OUT,
    PENDING,
    SEND_COLUMNS,
    SKIP_REASONS,
    STATUSES,
    WRITTEN,
    DecisionInputs,
    Lift,
    TriggerSettings,
    after_delivery,
    decide_due,
    delivery_payload,
    due_rows,
    empty_sends,
    load_triggers,
    merge,
    schedule_entries,
    schedule_next_steps,
)
from platform_assets.partitions import DAILY_WRITER_STEP, daily_partitions
from platform_assets.settings import OWNERS
from resources import Warehouse, WarehouseSession
from resources.trigger_delivery import TriggerDelivery

TRIGGER_SENDS = dg.AssetKey([LAYER, "trigger_sends"])
TRIGGER_PERFORMANCE = dg.AssetKey(["segments", "trigger_performance"])
SENDS_TABLE = f"{LAYER}.trigger_sends"
PERFORMANCE_TABLE = "segments.trigger_performance"
PEOPLE = dg.AssetKey([LAYER, "people"])
SEGMENT_HISTORY = dg.AssetKey(["segments", "segment_history"])
SEGMENT_MEMBERSHIP = dg.AssetKey(["segments", "segment_membership"])
FACTS = {
    name: dg.AssetKey(["star", name])
    for name in (
        "fct_orders",
        "fct_order_lines",
        "fct_web_events",
        "fct_cart_events",
        "fct_email_events",
        "dim_product",
    )
}
# The facts an `unless` condition may read, by placeholder.
FACT_TABLES = {name: f"star.{name}" for name in FACTS}


def utc_now() -> datetime:
    """The clock of sending (a seam for tests): what is due, and what has expired."""
    return datetime.now(UTC)


SENDS_SCHEMA = pa.DataFrameSchema(
    {
        "send_key": pa.Column(
            pl.String,
            nullable=False,
            unique=True,
            description="Idempotency key of the send: trigger, step, customer and entry day"
            " hashed; the email platform drops a repeat of a key it has seen.",
        ),
        "trigger": pa.Column(pl.String, nullable=False, description="The trigger (triggers.yml)."),
        "step": pa.Column(pl.String, nullable=False, description="The step of the trigger."),
        "step_number": pa.Column(
            pl.Int64, nullable=False, description="The step's position, from 1."
        ),
        "variant": pa.Column(
            pl.String, nullable=True, description="The A/B variant assigned, when the step has any."
        ),
        "customer_id": pa.Column(pl.String, nullable=False),
        "entry_date": pa.Column(
            pl.Date, nullable=False, description="The day's evaluation in which they entered."
        ),
        "entry_at": pa.Column(
            pl.Datetime("us", "UTC"),
            nullable=False,
            description="When the platform first saw the entry (UTC).",
        ),
        "scheduled_at": pa.Column(
            pl.Datetime("us", "UTC"), nullable=False, description="When the step is due (UTC)."
        ),
        "as_of_date": pa.Column(
            pl.Date, nullable=False, description="The day whose run scheduled the step."
        ),
        "decided_at": pa.Column(
            pl.Datetime("us", "UTC"),
            nullable=True,
            description="The evaluation moment that decided it; null while scheduled.",
        ),
        "status": pa.Column(
            pl.String,
            nullable=False,
            checks=[pa.Check.isin(STATUSES)],
            description="scheduled, pending, delivered (webhook acknowledged), written (JSONL"
            " file), failed (retried on the next run), held_out (the holdout group) or skipped.",
        ),
        "reason": pa.Column(
            pl.String,
            nullable=True,
            description=f"Why a step was skipped ({', '.join(SKIP_REASONS)}) or failed.",
        ),
        "sent_at": pa.Column(
            pl.Datetime("us", "UTC"),
            nullable=True,
            description="When the email platform acknowledged it, or the file was written.",
        ),
        "attempts": pa.Column(
            pl.Int64, nullable=False, checks=[pa.Check.ge(0)], description="Delivery attempts."
        ),
        "email": pa.Column(pl.String, nullable=True),
        "first_name": pa.Column(pl.String, nullable=True),
        "tokens": pa.Column(
            pl.String,
            nullable=True,
            description="The personalization tokens sent, as JSON: cart contents, recommended"
            " products, last purchased product, favourite category, best send hour, the step's"
            " and variant's own (an offer).",
        ),
    },
    strict=True,
    ordered=True,
    name=SENDS_TABLE,
)
SEND_CHECKS = {
    "schema": "The ledger matches the documented columns and types, one row per send key.",
    "consent_at_send_time": "No step that went out in this run lacks a standing grant in the"
    " day's exports.consent_state: the consent gate, verified again on what was sent.",
    "frequency_cap": "No person got two triggered emails within the frequency cap.",
}


def _unless_sql(settings: TriggerSettings) -> dict[tuple[str, str], str]:
    """Each step's `unless` as a SQL condition over the send `s`."""
    conditions = {}
    for trigger in settings.triggers:
        for step in trigger.steps:
            if step.unless_segment:
                if not re.fullmatch(r"[a-z][a-z0-9_]*", step.unless_segment):
                    raise ValueError(f"unless segment {step.unless_segment!r} is not a name")
                conditions[(trigger.name, step.name)] = (
                    "exists (select 1 from segments.segment_membership as m"
                    " where m.customer_id = s.customer_id and m.as_of_date = s.as_of_date"
                    f" and m.segment = '{step.unless_segment}')"
                )
            elif step.unless_sql:
                conditions[(trigger.name, step.name)] = step.unless_sql.format(**FACT_TABLES)
    return conditions


def unless_hits(
    db: WarehouseSession,
    settings: TriggerSettings,
    due: pl.DataFrame,
    day: date,
    moment: datetime,
) -> set[str]:
    """The send keys of due steps whose `unless` holds at `moment`."""
    conditions = _unless_sql(settings)
    if due.is_empty() or not conditions:
        return set()
    frame = due.select(
        "send_key", "trigger", "step", "customer_id", "entry_at", "scheduled_at"
    ).with_columns(
        pl.lit(moment, dtype=pl.Datetime("us", "UTC")).alias("as_of_at"),
        pl.lit(day).alias("as_of_date"),
    )
    hits: set[str] = set()
    db.connection.register("due_sends", frame.to_arrow())
    try:
        for (trigger, step), condition in conditions.items():
            found = db.query(
                f"select send_key from due_sends as s where s.trigger = ? and s.step = ?"
                f" and ({condition})",
                [trigger, step],
            )
            hits |= set(found["send_key"].to_list())
    finally:
        db.connection.unregister("due_sends")
    return hits


def decision_inputs(
    db: WarehouseSession,
    settings: TriggerSettings,
    due: pl.DataFrame,
    day: date,
    moment: datetime,
) -> DecisionInputs:
    """Consent, contacts, campaign sends and tokens of the people with a step due."""
    people = due["customer_id"].unique().to_list()
    consent = db.query(
        f"select customer_id from {CONSENT_STATE.path[0]}.{CONSENT_STATE.path[1]}"
        " where as_of_date = ? and purpose = ? and may_send"
        " and customer_id in (select unnest(?::varchar[]))",
        [day, CONSENT_PURPOSE, people],
    )
    contacts = db.query(
        "select customer_id, email, first_name from identity.golden_customers"
        " where customer_id in (select unnest(?::varchar[]))",
        [people],
    )
    campaigns = db.query(
        "select customer_id, max(occurred_at) as at from star.fct_email_events"
        " where event_type = 'sent' and campaign_id is not null and occurred_at <= ?"
        " and customer_id in (select unnest(?::varchar[])) group by customer_id",
        [moment, people],
    )
    return DecisionInputs(
        may_send=set(consent["customer_id"].to_list()),
        unless_hits=unless_hits(db, settings, due, day, moment),
        last_campaign_sent_at=dict(campaigns.iter_rows()),
        contacts={row[0]: (row[1], row[2]) for row in contacts.iter_rows()},
        tokens=personal_tokens(db, settings, people, day, moment),
    )


def personal_tokens(
    db: WarehouseSession,
    settings: TriggerSettings,
    people: list[str],
    day: date,
    moment: datetime,
) -> dict[str, dict[str, Any]]:
    """Per person: the cart of the last 24 hours, the export's recommendations and tokens, and
    the best send hour."""
    tokens: dict[str, dict[str, Any]] = {person: {} for person in people}
    carts = db.query(
        """
        select customer_id, sku, product_name, quantity, price from (
            select c.customer_id, c.sku, p.product_name, c.quantity, c.price, c.occurred_at
            from star.fct_cart_events as c
            left join star.dim_product as p using (sku)
            where c.cart_action = 'add_to_cart' and c.occurred_at <= ?
                and c.occurred_at > ? - interval 24 hour
                and c.customer_id in (select unnest(?::varchar[]))
            qualify row_number() over (
                partition by c.customer_id, c.sku order by c.occurred_at desc
            ) = 1
        ) order by customer_id, occurred_at
        """,
        [moment, moment, people],
    )
    for row in carts.iter_rows(named=True):
        tokens[row["customer_id"]].setdefault("cart_contents", []).append(
            {
                "sku": row["sku"],
                "product_name": row["product_name"],
                "quantity": row["quantity"],
                "price": None if row["price"] is None else float(row["price"]),
            }
        )
    if db.table_exists(f"{LAYER}.people"):
        exported = db.query(
            f"select * exclude (as_of_date) from {LAYER}.people where as_of_date = ?"
            " and customer_id in (select unnest(?::varchar[]))",
            [day, people],
        )
        for row in exported.iter_rows(named=True):
            person = tokens[row["customer_id"]]
            person["last_purchased_product"] = row.get("last_purchased_product")
            person["favourite_category"] = row.get("favourite_category")
            person["recommended_products"] = recommended_products(row)
    hours, fallback = best_send_hours(db, settings, moment)
    for customer_id, values in tokens.items():
        values["best_send_hour"] = hours.get(customer_id, fallback)
    return tokens


def best_send_hours(
    db: WarehouseSession, settings: TriggerSettings, moment: datetime
) -> tuple[dict[str, int], int]:
    """Each person's most common hour (UTC) of opening an email in the window, and the
    fallback for people with none: everyone's most common hour, else the default."""
    opens = db.query(
        """
        select customer_id, hour(occurred_at) as hour, count(*) as opens
        from star.fct_email_events
        where event_type = 'open' and occurred_at <= ? and occurred_at > ?
        group by all
        """,
        [moment, moment - settings.send_hour_window],
    )
    return pick_send_hours(opens, settings.default_send_hour)


def pick_send_hours(opens: pl.DataFrame, default: int) -> tuple[dict[str, int], int]:
    """From (customer_id, hour, opens): the hour with most opens, the earliest on a tie."""
    if opens.is_empty():
        return {}, default
    overall = (
        opens.group_by("hour")
        .agg(pl.sum("opens"))
        .sort(["opens", "hour"], descending=[True, False])
    )
    best = (
        opens.filter(pl.col("customer_id").is_not_null())
        .sort(["customer_id", "opens", "hour"], descending=[False, True, False])
        .unique("customer_id", keep="first")
    )
    return dict(best.select("customer_id", "hour").iter_rows()), int(overall["hour"][0])


def read_ledger(db: WarehouseSession) -> pl.DataFrame:
    if not db.table_exists(SENDS_TABLE):
        return empty_sends()
    return db.query(f"select {', '.join(SEND_COLUMNS)} from {SENDS_TABLE}").cast(
        SEND_COLUMNS  # type: ignore[arg-type]
    )


def read_entries(db: WarehouseSession, settings: TriggerSettings, day: date) -> pl.DataFrame:
    return db.query(
        "select customer_id, segment from segments.segment_history"
        " where as_of_date = ? and event_type = 'entered'"
        " and segment in (select unnest(?::varchar[]))",
        [day, sorted({t.on_enter for t in settings.triggers})],
    )


@dg.asset(
    key=TRIGGER_SENDS,
    deps=[
        SEGMENT_HISTORY,
        SEGMENT_MEMBERSHIP,
        CONSENT_STATE,
        PEOPLE,
        GOLDEN_CUSTOMERS,
        *FACTS.values(),
    ],
    group_name=LAYER,
    owners=OWNERS,
    kinds={"duckdb", "polars"},
    tags={"layer": LAYER},
    freshness_policy=FRESHNESS,
    automation_condition=FOLLOWS_INPUTS_ON_ANY_DAY,
    description="Triggered emails (platform_assets/exports/triggers.yml): one row per step per"
    " segment entry, from scheduled to delivered, held out or skipped with its reason. A run"
    " schedules the day's entries, decides the steps due, sends them (CDP_TRIGGER_WEBHOOK_URL,"
    " else a JSONL file per day) and retries what was not acknowledged; a re-run sends nothing"
    " twice.",
    metadata={
        "dagster/table_name": SENDS_TABLE,
        "dagster/column_schema": column_schema(SENDS_SCHEMA),
        "path_pattern": "<CDP_EXPORT_DIR>/trigger_sends/<YYYY-MM-DD>.jsonl",
    },
    check_specs=[
        dg.AssetCheckSpec(
            name,
            asset=TRIGGER_SENDS,
            partitions_def=daily_partitions,
            description=description,
            # As every export's schema check: a ledger of the wrong shape stops the lift.
            blocking=name == "schema",
        )
        for name, description in SEND_CHECKS.items()
    ],
    **DAILY_WRITER_STEP,
)
def trigger_sends(
    context: dg.AssetExecutionContext, warehouse: Warehouse, trigger_delivery: TriggerDelivery
) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    now = utc_now()
    moment = min(end_of_day(day), now)
    settings = load_triggers()
    sent_now: list[pl.DataFrame] = []
    with warehouse.session() as db:
        ledger = read_ledger(db)
        changed = schedule_entries(settings, read_entries(db, settings, day), ledger, day, moment)
        ledger = merge(ledger, changed)
        # Each pass decides what is due, sends it, and schedules the steps after those sent:
        # a follow-up due at once goes out in the same run.
        # Failed deliveries are retried once per run, on the first pass.
        for attempt in range(max(len(t.steps) for t in settings.triggers) + 1):
            due = due_rows(ledger, moment, retry_failed=attempt == 0)
            if due.is_empty():
                break
            inputs = decision_inputs(db, settings, due, day, moment)
            decided = decide_due(settings, ledger, due, inputs, moment, now)
            ledger = merge(ledger, decided)
            pending = ledger.filter(pl.col("status") == PENDING)
            # Recorded before delivery: a crash in between leaves them pending, sent again
            # under the same send_key on the next run, never lost.
            changed = merge(changed, decided)
            db.upsert(SENDS_TABLE, changed, "send_key")
            delivery = trigger_delivery.deliver(day, delivery_payload(pending))
            delivered = after_delivery(
                pending, delivery.acknowledged, delivery.status, utc_now(), delivery.failure
            )
            sent_now.append(delivered.filter(pl.col("status") == delivery.status))
            ledger = merge(ledger, delivered)
            changed = merge(changed, delivered)
            following = schedule_next_steps(settings, ledger, day, moment)
            ledger = merge(ledger, following)
            changed = merge(changed, following)
        db.upsert(SENDS_TABLE, changed, "send_key")
        written = read_ledger(db)
        schema = schema_verdict(SENDS_SCHEMA, written, db.table_schema(SENDS_TABLE))
        went_out = pl.concat(sent_now) if sent_now else empty_sends()
        consent = consent_at_send_verdict(db, went_out, day)
    cap = frequency_cap_verdict(written, settings)
    statuses = (
        dict(changed.group_by("status").len().sort("status").iter_rows())
        if not changed.is_empty()
        else {}
    )
    context.log.info(f"triggered sends of {day}: {statuses}; {went_out.height} sent in this run")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written.height,
            "changed_by_status": dg.MetadataValue.json(statuses),
            "sent_in_this_run": went_out.height,
            "delivery": "webhook" if trigger_delivery.url else "file",
            "file": dg.MetadataValue.path(str(trigger_delivery.file_for(day))),
        },
        check_results=check_results(
            {"schema": schema, "consent_at_send_time": consent, "frequency_cap": cap},
            set(),
            asset_key=TRIGGER_SENDS,
        ),
    )


def consent_at_send_verdict(db: WarehouseSession, went_out: pl.DataFrame, day: date) -> Verdict:
    """Every step sent in the run has a standing grant in the day's consent_state."""
    people = went_out["customer_id"].unique().to_list()
    if not people:
        return Verdict(True, "nothing was sent in this run", {"sent": 0})
    allowed = db.query(
        "select customer_id from exports.consent_state where as_of_date = ? and purpose = ?"
        " and may_send and customer_id in (select unnest(?::varchar[]))",
        [day, CONSENT_PURPOSE, people],
    )
    refused = sorted(set(people) - set(allowed["customer_id"].to_list()))
    if refused:
        return Verdict(
            False,
            f"{len(refused)} person(s) were sent a triggered email without a standing grant",
            {"customers": refused[:20]},
        )
    return Verdict(True, f"all {len(people)} recipients may be emailed", {"sent": len(people)})


def frequency_cap_verdict(ledger: pl.DataFrame, settings: TriggerSettings) -> Verdict:
    """No two sends to one person closer than the frequency cap."""
    sent = ledger.filter(pl.col("status").is_in([PENDING, DELIVERED, WRITTEN]))
    close = (
        sent.sort("customer_id", "scheduled_at")
        .with_columns(
            (pl.col("scheduled_at") - pl.col("scheduled_at").shift(1).over("customer_id")).alias(
                "gap"
            )
        )
        .filter(pl.col("gap") < settings.frequency_cap)
    )
    if close.height:
        return Verdict(
            False,
            f"{close.height} send(s) within {settings.frequency_cap} of another to the same person",
            {"send_keys": close["send_key"].head(20).to_list()},
        )
    return Verdict(True, f"{sent.height} sends, none within the cap of another", {})


# --- lift -------------------------------------------------------------------------------------

PERFORMANCE_SCHEMA = pa.DataFrameSchema(
    {
        "as_of_date": pa.Column(pl.Date, nullable=False),
        "trigger": pa.Column(pl.String, nullable=False, description="The trigger."),
        "step": pa.Column(pl.String, nullable=False, description="The step of the trigger."),
        "variant": pa.Column(
            pl.String, nullable=False, description="The variant, or `all` for the whole step."
        ),
        "sent": pa.Column(pl.Int64, nullable=False, description="Entrants sent the step."),
        "held_out": pa.Column(
            pl.Int64, nullable=False, description="Entrants of the holdout at the step."
        ),
        "sent_converted": pa.Column(
            pl.Int64,
            nullable=False,
            description="Sent entrants who ordered within the conversion window of entering.",
        ),
        "held_out_converted": pa.Column(pl.Int64, nullable=False),
        "sent_revenue": pa.Column(
            pl.Float64, nullable=False, description="Their revenue in the window (reporting)."
        ),
        "held_out_revenue": pa.Column(pl.Float64, nullable=False),
        "sent_conversion_rate": pa.Column(pl.Float64, nullable=True),
        "held_out_conversion_rate": pa.Column(pl.Float64, nullable=True),
        "lift": pa.Column(
            pl.Float64,
            nullable=True,
            description="Sent conversion rate minus held-out conversion rate.",
        ),
        "lift_ci_low": pa.Column(
            pl.Float64, nullable=True, description="95 % interval of the lift (two-proportion)."
        ),
        "lift_ci_high": pa.Column(pl.Float64, nullable=True),
        "p_value": pa.Column(
            pl.Float64, nullable=True, description="Two-sided pooled two-proportion z-test."
        ),
    },
    strict=True,
    ordered=True,
    unique=["as_of_date", "trigger", "step", "variant"],
    name=PERFORMANCE_TABLE,
)


def _performance_columns() -> dict[str, Any]:
    return {name: column.dtype.type for name, column in PERFORMANCE_SCHEMA.columns.items()}


def performance_rows(outcomes: pl.DataFrame, day: date) -> pl.DataFrame:
    """Lift per trigger, step and variant (and `all`) from one row per sent or held-out step:
    trigger, step, variant, group ("sent" | "held_out"), converted (bool), revenue."""
    rows = []
    if outcomes.is_empty():
        return pl.DataFrame(schema=_performance_columns())
    for (trigger, step), frame in outcomes.group_by(["trigger", "step"], maintain_order=True):
        held = frame.filter(pl.col("group") == "held_out")
        sent = frame.filter(pl.col("group") == "sent")
        variants = sorted(v for v in sent["variant"].unique().to_list() if v is not None)
        for variant in ["all", *variants]:
            treated = sent if variant == "all" else sent.filter(pl.col("variant") == variant)
            lift = Lift(
                treated=treated.height,
                treated_converted=int(treated["converted"].sum()),
                held_out=held.height,
                held_out_converted=int(held["converted"].sum()),
            )
            difference = lift.difference()
            rows.append(
                {
                    "as_of_date": day,
                    "trigger": trigger,
                    "step": step,
                    "variant": variant,
                    "sent": lift.treated,
                    "held_out": lift.held_out,
                    "sent_converted": lift.treated_converted,
                    "held_out_converted": lift.held_out_converted,
                    "sent_revenue": float(treated["revenue"].sum()),
                    "held_out_revenue": float(held["revenue"].sum()),
                    "sent_conversion_rate": lift.treated_rate,
                    "held_out_conversion_rate": lift.held_out_rate,
                    "lift": difference[0] if difference else None,
                    "lift_ci_low": difference[1] if difference else None,
                    "lift_ci_high": difference[2] if difference else None,
                    "p_value": lift.z_test_p_value(),
                }
            )
    return pl.DataFrame(rows, schema=_performance_columns())


def read_outcomes(db: WarehouseSession, settings: TriggerSettings, day: date) -> pl.DataFrame:
    """Every step sent or held out by the day's end, with whether the person ordered within
    the conversion window of entering (by the day's end) and the revenue of those orders."""
    if not db.table_exists(SENDS_TABLE):
        return pl.DataFrame()
    return db.query(
        f"""
        with steps as (
            select trigger, step, variant, customer_id, entry_at,
                case when status = '{HELD_OUT}' then 'held_out' else 'sent' end as "group"
            from {SENDS_TABLE}
            where status in ('{DELIVERED}', '{WRITTEN}', '{HELD_OUT}') and entry_date <= ?
        )
        -- one row per entrant and step
        select steps.trigger, steps.step, steps.variant, steps."group", steps.customer_id,
            count(o.order_id) > 0 as converted,
            coalesce(sum(o.order_amount_reporting), 0)::double as revenue
        from steps
        left join star.fct_orders as o
            on o.customer_id = steps.customer_id and o.is_revenue
            and o.ordered_at > steps.entry_at
            and o.ordered_at <= least(steps.entry_at + ?, ?)
        group by steps.trigger, steps.step, steps.variant, steps."group", steps.customer_id,
            steps.entry_at
        """,
        [day, settings.conversion_window, end_of_day(day)],
    )


@dg.asset(
    key=TRIGGER_PERFORMANCE,
    deps=[TRIGGER_SENDS, FACTS["fct_orders"]],
    group_name="segments",
    owners=OWNERS,
    kinds={"duckdb", "polars"},
    tags={"layer": "segments"},
    freshness_policy=FRESHNESS,
    automation_condition=FOLLOWS_INPUTS_ON_ANY_DAY,
    description="Does personalization pay? Per trigger, step and variant: sent and held-out"
    " entrants, their orders and revenue within the conversion window of entering, conversion"
    " rates and the lift with its 95 % interval (two-proportion test), as of each day.",
    metadata={
        "dagster/table_name": PERFORMANCE_TABLE,
        "dagster/column_schema": column_schema(PERFORMANCE_SCHEMA),
    },
    check_specs=[
        dg.AssetCheckSpec(
            "schema",
            asset=TRIGGER_PERFORMANCE,
            partitions_def=daily_partitions,
            description="The day's rows match the documented columns and types.",
        )
    ],
    **DAILY_WRITER_STEP,
)
def trigger_performance(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> Iterator[dg.MaterializeResult]:
    from resources import TableWrite

    day = date.fromisoformat(context.partition_key)
    settings = load_triggers()
    with warehouse.session() as db:
        rows = performance_rows(read_outcomes(db, settings, day), day)
        db.replace([TableWrite(PERFORMANCE_TABLE, rows, {"as_of_date": day})])
        schema = schema_verdict(PERFORMANCE_SCHEMA, rows, db.table_schema(PERFORMANCE_TABLE))
    # Its columns on the materialization too, as the dbt models of its layer carry theirs.
    metadata: dict[str, Any] = {
        "dagster/row_count": rows.height,
        "dagster/column_schema": column_schema(PERFORMANCE_SCHEMA),
    }
    # Numbers Dagster plots over the days: each trigger's lift and conversion.
    for row in rows.filter(pl.col("variant") == "all").iter_rows(named=True):
        name = f"{row['trigger']}.{row['step']}"
        metadata[f"{name}.sent"] = row["sent"]
        metadata[f"{name}.held_out"] = row["held_out"]
        if row["lift"] is not None:
            metadata[f"{name}.lift"] = float(row["lift"])
    metadata["table"] = dg.MetadataValue.json(json.loads(rows.write_json()) if rows.height else [])
    yield dg.MaterializeResult(
        metadata=metadata,
        check_results=check_results({"schema": schema}, set(), asset_key=TRIGGER_PERFORMANCE),
    )
