"""The identity layer's assets: the trained Splink model and the daily identity graph."""

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import polars as pl

from platform_assets.automation import FOLLOWS_INPUTS_ON_ANY_DAY
from platform_assets.checks import Verdict, check_results, column_schema, schema_verdict
from platform_assets.identity import graph, model, resolve, settings
from platform_assets.identity.accuracy import pairwise_accuracy
from platform_assets.identity.schemas import SCHEMAS
from platform_assets.partitions import DAILY_WRITER_STEP, daily_partitions
from platform_assets.settings import OWNERS, WAREHOUSE_WRITER_POOL
from resources import ArtifactStore, GroundTruth, Warehouse, WarehouseSession
from resources.audit import AuditEntry, record_audit

LAYER = "identity"
PERSON_SOURCES = ("crm_contacts", "shop_customers", "support_tickets", "email_events", "web_events")
MODEL_KEY = dg.AssetKey([LAYER, "splink_model"])
TABLES = (
    "person_records",
    "edges",
    "customer_records",
    "identity_events",
    "golden_customers",
    "review_queue",
)
KEYS = {table: dg.AssetKey([LAYER, table]) for table in TABLES}

DESCRIPTIONS = {
    "person_records": "Every person-bearing record of the cleaned layer in one shape, one row"
    " per version (current rows have `valid_to` null).",
    "edges": "Links between person records: deterministic rules, Splink scores and steward"
    " overrides, one row per version of an edge.",
    "customer_records": "The record-to-customer mapping every later layer joins on: one row per"
    " version of a record's `customer_id`.",
    "identity_events": "Append-only change log of customers: new, merged, split.",
    "golden_customers": "One row per current customer, each field chosen by survivorship with"
    " the record and time it came from.",
    "review_queue": "Pairs for data stewards: Splink scores between two customers in the"
    " uncertain band, or cut by an over-merge guard, with both records side by side, Splink's"
    " waterfall and a suggested decision. Decide with a row in identity_overrides.",
}

CHECKS = {
    "person_records": {"schema": "rows match the pandera model"},
    "edges": {
        "schema": "rows match the pandera model",
        "endpoints_exist": "every current edge joins two current person records",
    },
    "customer_records": {
        "schema": "rows match the pandera model",
        "one_customer_per_record": "every current person record has exactly one customer id",
        "cluster_sizes": "no cluster is too large or holds too many emails or birth dates",
        "accuracy": "pairwise F1 against the generator's ground truth is above the floor",
    },
    "identity_events": {"schema": "rows match the pandera model"},
    "review_queue": {"schema": "rows match the pandera model"},
    "golden_customers": {
        "schema": "rows match the pandera model",
        "one_row_per_customer": "golden customers are exactly the current customer ids",
    },
}
BLOCKING = {"one_customer_per_record", "one_row_per_customer", "endpoints_exist"}
WARNINGS = {"cluster_sizes"}

# Dagster's on_missing() waits for every partition of every input, and the daily inputs run to
# today: it would never train. The model is trained once it is missing and an input has landed
# since it was last requested (a failed training is tried again on the next landing), never
# while an input is being written.
TRAINED_WHEN_MISSING = (
    dg.AutomationCondition.missing()
    & dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("trained when missing, once its inputs have landed")

# The graph ignores a retrained model (it applies from the next day on) but not a missing one:
# a day evaluated before the first training waits for it, then follows.
WAITS_FOR_A_MODEL = ~dg.AutomationCondition.any_deps_match(
    dg.AutomationCondition.missing() | dg.AutomationCondition.in_progress()
).allow(dg.AssetSelection.keys(MODEL_KEY)).with_label("the identity model exists")

# Requested together with its inputs, the graph (which reads its own previous day) makes
# automation launch a backfill, which Dagster 1.13 can fail at its first iteration ("At least
# one run should be requested"), leaving the day unbuilt. The graph waits a tick instead: it
# runs once the day's cleaned records are in, as a run of its own.
AFTER_ITS_INPUTS_RUN = ~dg.AutomationCondition.any_deps_match(
    dg.AutomationCondition.will_be_requested()
).with_label("after its inputs' run")


@dg.asset(
    key=MODEL_KEY,
    group_name=LAYER,
    owners=OWNERS,
    pool=WAREHOUSE_WRITER_POOL,
    kinds={"splink", "duckdb"},
    tags={"layer": LAYER},
    deps=[dg.AssetKey(["cleaned", source]) for source in PERSON_SOURCES],
    # Trained once, then on demand or when the drift sensor says the data has moved on; a
    # retrain never re-runs the graph by itself.
    automation_condition=TRAINED_WHEN_MISSING,
    freshness_policy=settings.MODEL_FRESHNESS,
)
def splink_model(
    context: dg.AssetExecutionContext, warehouse: Warehouse, artifacts: ArtifactStore
) -> dg.MaterializeResult:
    """The Splink model that scores pairs of person records, trained without labels.

    One row per trained version in `identity.splink_models` (settings JSON with m and u
    values); the match-weight and m/u charts are written as HTML and linked below.
    """
    with warehouse.session() as db:
        profiles = resolve.training_profiles(db.connection)
        if profiles.height < 2:
            raise dg.Failure(
                "Not enough person records to train the identity model: materialize the"
                " cleaned layer (crm_contacts, shop_customers, ...) first."
            )
        trained = model.train_model(profiles)
        trained_at = datetime.now(UTC)
        db.execute(resolve.MODELS_DDL)
        db.connection.execute(
            f"insert into {LAYER}.splink_models values ($1, $2, $3, $4, $5)",
            [
                trained.version,
                trained_at,
                trained.settings_json,
                trained.training_records,
                json.dumps(resolve.null_rates(profiles)),
            ],
        )
    charts = {
        name: artifacts.write_text(f"identity/model-{trained.version}/{name}.html", html)
        for name, html in trained.charts.items()
    }
    parameters = json.loads(trained.settings_json)
    context.log.info("trained identity model %s on %d profiles", trained.version, profiles.height)
    return dg.MaterializeResult(
        metadata={
            "model_version": trained.version,
            "training_profiles": trained.training_records,
            "probability_two_random_records_match": parameters[
                "probability_two_random_records_match"
            ],
            "comparisons": [c["output_column_name"] for c in parameters["comparisons"]],
            # The charts' content, readable in the UI; the HTML files are on the Dagster host.
            "match_weights": dg.MetadataValue.md(model.match_weights_table(parameters)),
            **{f"{name}_chart": dg.MetadataValue.path(str(path)) for name, path in charts.items()},
        },
    )


def latest_model(db: WarehouseSession) -> tuple[str, str, int, dict[str, float]]:
    """The most recently trained model: version, settings JSON, profiles, null rates."""
    table = f"{LAYER}.splink_models"
    rows = (
        db.query(f"select * from {table} order by trained_at desc limit 1")
        if db.table_exists(table)
        else pl.DataFrame()
    )
    if rows.is_empty():
        raise dg.Failure(
            "No identity model has been trained yet: materialize identity/splink_model first"
            " (`cdp run` does it before the first identity partition)."
        )
    row = rows.row(0, named=True)
    return (
        row["model_version"],
        row["settings_json"],
        row["training_profiles"],
        json.loads(row["null_rates"]),
    )


def drift_verdict(
    trained_profiles: int, trained_null_rates: dict[str, float], profiles: pl.DataFrame
) -> Verdict:
    """Has the data moved on from what the model learned? Growth, or fields filling or emptying."""
    growth = profiles.height / trained_profiles if trained_profiles else float("inf")
    now = resolve.null_rates(profiles)
    shifts = {
        column: round(now[column] - rate, 4)
        for column, rate in trained_null_rates.items()
        if column in now and abs(now[column] - rate) > settings.DRIFT_NULL_RATE_CHANGE
    }
    passed = growth < settings.DRIFT_GROWTH_RATIO and not shifts
    description = (
        f"profiles grew {growth:.2f}x since training; null-rate shifts: {shifts or 'none'}"
        + ("" if passed else " — retrain identity/splink_model")
    )
    return Verdict(passed, description, {"growth": round(growth, 3), "null_rate_shifts": shifts})


def _graph_specs() -> list[dg.AssetSpec]:
    cleaned_deps = [dg.AssetKey(["cleaned", source]) for source in PERSON_SOURCES]
    specs = []
    for table in TABLES:
        # The same inputs and condition for all five: they are built together
        # (can_subset=False), and automation must reach one verdict for them. The graph of day
        # D is built on the graph as far as it got (resolve.py rewinds to the end of D-1 and
        # takes every record landed since), so it needs no partition dependency on its own
        # previous day; one would make automation launch backfills that Dagster 1.13 can fail.
        deps: list[dg.AssetDep | dg.AssetKey] = [
            *cleaned_deps,
            MODEL_KEY,
            dg.AssetKey(["cleaned", "identity_overrides"]),
            dg.AssetKey(["cleaned", "profile_corrections"]),
        ]
        specs.append(
            dg.AssetSpec(
                KEYS[table],
                description=DESCRIPTIONS[table],
                group_name=LAYER,
                owners=OWNERS,
                kinds={"splink", "duckdb"},
                tags={"layer": LAYER},
                deps=deps,
                freshness_policy=settings.FRESHNESS,
                # A retrained model applies from the next partition on; it does not re-run
                # history by itself.
                automation_condition=FOLLOWS_INPUTS_ON_ANY_DAY.ignore(
                    dg.AssetSelection.keys(MODEL_KEY)
                )
                & WAITS_FOR_A_MODEL
                & AFTER_ITS_INPUTS_RUN,
                metadata={
                    "dagster/table_name": f"{LAYER}.{table}",
                    "dagster/column_schema": column_schema(SCHEMAS[table]),
                },
            )
        )
    return specs


@dg.multi_asset(
    specs=_graph_specs(),
    **DAILY_WRITER_STEP,
    can_subset=False,
    check_specs=[
        dg.AssetCheckSpec(
            name,
            partitions_def=daily_partitions,
            asset=KEYS[table],
            description=description,
            blocking=name in BLOCKING,
        )
        for table, checks in CHECKS.items()
        for name, description in checks.items()
    ],
)
def identity_graph(
    context: dg.AssetExecutionContext, warehouse: Warehouse, ground_truth: GroundTruth
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """The identity graph as of the end of the partition's day.

    Built from the previous day's graph plus the records landed since: only new and changed
    records are scored, only the customers they touch are re-clustered.
    """
    partition = date.fromisoformat(context.partition_key)
    with warehouse.session() as db:
        version, model_json, _, _ = latest_model(db)
        result = resolve.resolve_partition(
            db.connection, partition, model_json, version, datetime.now(UTC)
        )
        if result.corrections:
            record_audit(db, _correction_audit(db, result.window_after, partition, context.run_id))
        verdicts = _verdicts(db, ground_truth, partition)
        stats = _graph_stats(db)
        coverage = golden_coverage(db)
    context.log.info(
        "identity %s: %d new and %d changed records, %d comparisons",
        partition,
        result.new_records,
        result.changed_records,
        result.comparisons_scored,
    )
    metadata_by_table = {
        "person_records": {
            "dagster/row_count": stats["records"],
            "records_in_window": result.records_in_window,
            "new_records": result.new_records,
            "changed_records": result.changed_records,
            "window_after": str(result.window_after),
        },
        "edges": {
            "dagster/row_count": stats["edges"],
            "edges_by_type": dg.MetadataValue.json(stats["edges_by_type"]),
            "edges_added": dg.MetadataValue.json(result.edges_added),
            "edges_retired": result.edges_retired,
            "comparisons_scored": result.comparisons_scored,
        },
        "customer_records": {
            "dagster/row_count": stats["records"],
            "customers": stats["customers"],
            "largest_cluster": stats["largest_cluster"],
            "customers_touched": result.customers_touched,
            "suspicious_clusters": result.suspicious_clusters,
            "edges_cut_by_guards": result.edges_cut_by_guards,
            "model_version": version,
        },
        "identity_events": {
            "events_today": dg.MetadataValue.json(result.events),
            "merges": result.events.get("merge", 0),
            "splits": result.events.get("split", 0),
            "new_customers": result.events.get("new", 0),
        },
        "review_queue": {
            "dagster/row_count": sum(result.review_by_kind.values()),
            "by_kind": dg.MetadataValue.json(result.review_by_kind),
            "suggested": dg.MetadataValue.json(result.review_suggested),
        },
        "golden_customers": {
            "dagster/row_count": stats["customers"],
            "customers_corrected": result.corrections,
            **coverage,
        },
    }
    if result.rewound_from:
        metadata_by_table["customer_records"]["rewound_from"] = str(result.rewound_from)
    for table in TABLES:
        yield dg.MaterializeResult(asset_key=KEYS[table], metadata=metadata_by_table[table])
    for table, checks in CHECKS.items():
        table_verdicts = {name: verdicts[f"{table}.{name}"] for name in checks}
        yield from check_results(table_verdicts, warnings=WARNINGS, asset_key=KEYS[table])


def _graph_stats(db: WarehouseSession) -> dict:
    row = db.query(
        f"""
        select
            (select count(*) from {LAYER}.person_records where valid_to is null) as records,
            (select count(*) from {LAYER}.edges where valid_to is null) as edges,
            (select count(*) from {LAYER}.golden_customers) as customers,
            (select coalesce(max(n), 0) from (
                select count(*) as n from {LAYER}.customer_records
                where valid_to is null group by customer_id)) as largest_cluster
        """
    ).row(0, named=True)
    by_type = db.query(
        f"select edge_type, count(*) as n from {LAYER}.edges where valid_to is null group by 1"
    )
    row["edges_by_type"] = dict(by_type.iter_rows())
    return row


def _correction_audit(
    db: WarehouseSession, after: date | None, partition: date, run_id: str
) -> list[AuditEntry]:
    """One audit entry per correction landed in the window: who and which field, never the
    value."""
    rows = db.query(
        "select customer_id, field, requested_at from cleaned.profile_corrections"
        " where _partition_date <= ? and (?::date is null or _partition_date > ?::date)"
        " order by customer_id, field, requested_at",
        [partition, after, after],
    )
    current = set(
        db.query(
            "select distinct customer_id from identity.customer_records where valid_to is null"
            " and customer_id in (select unnest(?::varchar[]))",
            [rows["customer_id"].unique().to_list()],
        )["customer_id"].to_list()
    )
    return [
        AuditEntry(
            action="correction_applied" if row["customer_id"] in current else "correction_unknown",
            subject=row["customer_id"],
            partition_key=partition.isoformat(),
            row_count=1,
            run_id=run_id,
            details={"field": row["field"], "requested_at": row["requested_at"].isoformat()},
        )
        for row in rows.iter_rows(named=True)
    ]


def golden_coverage(db: WarehouseSession) -> dict[str, Any]:
    """How complete the golden records are, in counts and shares: never sample rows (Dagster's
    run storage is out of reach of an erasure)."""
    fields = ", ".join(f"count({field}) as {field}" for field in settings.GOLDEN_FIELDS)
    row = db.query(
        "select count(*) as customers, count(*) filter (where record_count > 1) as several,"
        f" {fields} from {LAYER}.golden_customers"
    ).row(0, named=True)
    customers, several = row.pop("customers"), row.pop("several")
    return {
        "customers_with_email": row["email"],
        "customers_with_several_records": several,
        "field_coverage": dg.MetadataValue.md(
            "| field | customers with it | share |\n|---|---:|---:|\n"
            + "\n".join(
                f"| {field} | {count:,} | {count / customers:.1%} |" for field, count in row.items()
            )
            if customers
            else "no customers yet"
        ),
    }


# The column naming the partition that wrote a row, per table.
WRITTEN_BY = {
    "person_records": "valid_from",
    "edges": "valid_from",
    "customer_records": "valid_from",
    "identity_events": "partition_date",
    "golden_customers": "updated_partition",
    "review_queue": "partition_date",
}


def _verdicts(
    db: WarehouseSession, ground_truth: GroundTruth, partition: date
) -> dict[str, Verdict]:
    verdicts: dict[str, Verdict] = {}
    for table, schema in SCHEMAS.items():
        # The rows this partition wrote: earlier rows were validated by the partition that
        # wrote them, and re-reading a million current rows every day would cost more than
        # the day's resolution itself.
        frame = db.query(
            f"select * from {LAYER}.{table} where {WRITTEN_BY[table]} = ?", [partition]
        )
        verdicts[f"{table}.schema"] = schema_verdict(
            schema, frame, db.table_schema(f"{LAYER}.{table}")
        )
    verdicts["edges.endpoints_exist"] = _count_verdict(
        db,
        f"""select count(*) from {LAYER}.edges e where e.valid_to is null and (
            e.left_record_key not in (select record_key from {LAYER}.person_records
                where valid_to is null)
            or e.right_record_key not in (select record_key from {LAYER}.person_records
                where valid_to is null))""",
        "current edges with an endpoint that is not a current record",
    )
    verdicts["customer_records.one_customer_per_record"] = _count_verdict(
        db,
        f"""with p as (select record_key from {LAYER}.person_records where valid_to is null),
        c as (select record_key, count(*) as n from {LAYER}.customer_records
            where valid_to is null group by 1)
        select (select count(*) from p left join c using (record_key) where coalesce(n, 0) <> 1)
            + (select count(*) from c where record_key not in (select record_key from p))""",
        "person records without exactly one current customer id (or ids without a record)",
    )
    verdicts["golden_customers.one_row_per_customer"] = _count_verdict(
        db,
        f"""with c as (select distinct customer_id from {LAYER}.customer_records
            where valid_to is null),
        g as (select customer_id from {LAYER}.golden_customers)
        select (select count(*) from (from c except from g))
            + (select count(*) from (from g except from c))
            + (select count(*) - count(distinct customer_id) from g)""",
        "customer ids missing from, extra in or repeated in golden_customers",
    )
    verdicts["customer_records.cluster_sizes"] = _cluster_verdict(db)
    verdicts["customer_records.accuracy"] = _accuracy_verdict(db, ground_truth)
    return verdicts


def _count_verdict(db: WarehouseSession, sql: str, what: str) -> Verdict:
    count = int(db.connection.execute(sql).fetchall()[0][0])
    return Verdict(count == 0, f"{count} {what}", {"violations": count})


def _cluster_verdict(db: WarehouseSession) -> Verdict:
    clusters = db.query(
        f"""select c.customer_id as component, c.record_key, p.email, p.date_of_birth
        from {LAYER}.customer_records c
        join {LAYER}.person_records p on p.record_key = c.record_key and p.valid_to is null
        where c.valid_to is null"""
    )
    flagged = graph.suspicious_clusters(
        clusters.select("record_key", "component"),
        clusters.select("record_key", "email", "date_of_birth"),
    )
    examples = flagged.sort("records", descending=True).head(5).to_dicts()
    return Verdict(
        flagged.is_empty(),
        f"{flagged.height} suspicious cluster(s)",
        {"suspicious_clusters": flagged.height, "examples": examples},
    )


# Generated ground truth names the person behind each source row; web and email records are
# one per visitor or address, so they take the person behind most of their events.
TRUTH_SQL = """
with truth as (select * from read_csv($path, all_varchar = true)),
keyed as (
    select 'web_events:anon:' || w.anonymous_id as record_key, t.person_id
    from truth t join cleaned.web_events w
        on t.source = 'web_events' and w.event_id = t.source_record_id
    where w.anonymous_id is not null
    union all
    select 'web_events:user:' || w.user_id, t.person_id
    from truth t join cleaned.web_events w
        on t.source = 'web_events' and w.event_id = t.source_record_id
    where w.user_id is not null
    union all
    select 'email_events:' || e.email, t.person_id
    from truth t join cleaned.email_events e
        on t.source = 'email_events' and e.event_id = t.source_record_id
    union all
    select source || ':' || source_record_id, person_id
    from truth where source not in ('web_events', 'email_events')
)
select record_key, mode(person_id) as cluster from keyed group by record_key
"""


def _accuracy_verdict(db: WarehouseSession, ground_truth: GroundTruth) -> Verdict:
    path = ground_truth.person_records
    if path is None:
        return Verdict(True, "no ground truth for these sources: accuracy not measured", {})
    truth = db.connection.execute(TRUTH_SQL, {"path": str(path)}).pl()
    predicted = db.query(
        f"select record_key, customer_id as cluster from {LAYER}.customer_records"
        " where valid_to is null"
    )
    measured = pairwise_accuracy(predicted, truth)
    named = pairwise_accuracy(
        predicted.filter(
            pl.col("record_key").str.contains(r"^(crm_contacts|shop_customers|support_tickets):")
        ),
        truth,
    )
    passed = named.f1 >= settings.ACCURACY_F1_FLOOR
    return Verdict(
        passed,
        f"named records: pairwise precision {named.precision:.4f}, recall {named.recall:.4f},"
        f" F1 {named.f1:.4f} (floor {settings.ACCURACY_F1_FLOOR}); all records incl. anonymous"
        f" visitors: F1 {measured.f1:.4f}",
        {
            "precision": round(measured.precision, 4),
            "recall": round(measured.recall, 4),
            "f1": round(measured.f1, 4),
            "records": measured.records,
            "predicted_clusters": measured.predicted_clusters,
            "true_clusters": measured.true_clusters,
            "named_records_f1": round(named.f1, 4),
            "named_records_precision": round(named.precision, 4),
            "named_records_recall": round(named.recall, 4),
        },
    )


@dg.asset_check(
    asset=MODEL_KEY,
    name="drift_since_training",
    description="the current records still look like those the model was trained on",
)
def model_drift(warehouse: Warehouse) -> dg.AssetCheckResult:
    with warehouse.session() as db:
        _, _, trained_profiles, trained_nulls = latest_model(db)
        profiles = resolve.training_profiles(db.connection)
    verdict = drift_verdict(trained_profiles, trained_nulls, profiles)
    return dg.AssetCheckResult(
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=verdict.description,
        metadata=verdict.metadata,
    )


identity_assets = [splink_model, identity_graph]
identity_checks = [model_drift]
