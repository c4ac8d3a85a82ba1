"""`exports/profile_snapshot`: the profiles `cdp serve` answers from, published as a file."""

# No `from __future__ import annotations`: Dagster reads the context annotations at run time.
from datetime import date

import dagster as dg
import pandera.polars as pa
import polars as pl

from platform_assets.automation import FOLLOWS_INPUTS_ON_ANY_DAY
from platform_assets.checks import column_schema
from platform_assets.exports.build import end_of_day
from platform_assets.exports.inputs import CONSENT_STATE, GOLDEN_CUSTOMERS
from platform_assets.exports.profiles import build_profiles
from platform_assets.exports.schemas import LAYER
from platform_assets.exports.settings import FRESHNESS
from platform_assets.exports.trigger_assets import PEOPLE, SEGMENT_MEMBERSHIP, best_send_hours
from platform_assets.exports.triggers import load_triggers
from platform_assets.partitions import DAILY_WRITER_STEP, daily_partitions
from platform_assets.settings import OWNERS
from resources import ExportDirectory, Warehouse
from resources.profile_snapshot import SNAPSHOT_PATH, publish, snapshot_path

PROFILE_SNAPSHOT = dg.AssetKey([LAYER, "profile_snapshot"])
# The snapshot's columns as the UI shows them (the JSON columns are what the API answers).
SNAPSHOT_SCHEMA = pa.DataFrameSchema(
    {
        "customer_id": pa.Column(pl.String, nullable=False, unique=True),
        "email": pa.Column(pl.String, nullable=True),
        "first_name": pa.Column(pl.String, nullable=True),
        "last_name": pa.Column(pl.String, nullable=True),
        "country": pa.Column(pl.String, nullable=True),
        "consent": pa.Column(
            pl.String,
            nullable=False,
            description="Consent per purpose as JSON: may_send, exclusion_reason, latest_status,"
            " stated_at (exports.consent_state of the day).",
        ),
        "segments": pa.Column(
            pl.String,
            nullable=False,
            description="The day's segments as JSON: [{segment, reason}].",
        ),
        "tokens": pa.Column(
            pl.String,
            nullable=False,
            description="Personalization tokens as JSON: recommended products, last purchased"
            " product, favourite category, best send hour.",
        ),
        "as_of_date": pa.Column(pl.Date, nullable=False, description="The day of the snapshot."),
    },
    strict=True,
    ordered=True,
    name="exports.profile_snapshot",
)


@dg.asset(
    key=PROFILE_SNAPSHOT,
    deps=[GOLDEN_CUSTOMERS, CONSENT_STATE, SEGMENT_MEMBERSHIP, PEOPLE],
    group_name=LAYER,
    owners=OWNERS,
    kinds={"parquet"},
    tags={"layer": LAYER},
    freshness_policy=FRESHNESS,
    automation_condition=FOLLOWS_INPUTS_ON_ANY_DAY,
    description="One profile per customer for the email platform's templates (names, country,"
    " consent per purpose, segments with their reasons, tokens and recommendations), published"
    f" as `<CDP_EXPORT_DIR>/{SNAPSHOT_PATH.as_posix()}`, swapped in whole. `cdp serve` answers"
    " GET /v1/profiles from it without opening the warehouse. An older day never replaces a"
    " newer snapshot.",
    metadata={
        "path_pattern": f"<CDP_EXPORT_DIR>/{SNAPSHOT_PATH.as_posix()}",
        "dagster/column_schema": column_schema(SNAPSHOT_SCHEMA),
    },
    check_specs=[
        dg.AssetCheckSpec(
            "one_profile_per_customer",
            asset=PROFILE_SNAPSHOT,
            partitions_def=daily_partitions,
            description="The published file holds exactly one profile per golden customer, and"
            " nobody else.",
        )
    ],
    **DAILY_WRITER_STEP,
)
def profile_snapshot(
    context: dg.AssetExecutionContext, warehouse: Warehouse, export_directory: ExportDirectory
) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    settings = load_triggers()
    with warehouse.session() as db:
        customers = db.query(
            "select customer_id, email, first_name, last_name, country"
            " from identity.golden_customers"
        )
        consent = db.query(
            "select customer_id, purpose, may_send, exclusion_reason, latest_status, stated_at"
            " from exports.consent_state where as_of_date = ?",
            [day],
        )
        memberships = db.query(
            "select customer_id, segment, reason from segments.segment_membership"
            " where as_of_date = ?",
            [day],
        )
        people = (
            db.query(f"select * from {LAYER}.people where as_of_date = ?", [day])
            if db.table_exists(f"{LAYER}.people")
            else pl.DataFrame(schema={"customer_id": pl.String})
        )
        hours, fallback = best_send_hours(db, settings, end_of_day(day))
    profiles = build_profiles(day, customers, consent, memberships, people, hours, fallback)
    path = snapshot_path(export_directory.path)
    published = publish(path, profiles, day)
    written = pl.read_parquet(path, columns=["customer_id", "as_of_date"])
    if published:
        ids = written["customer_id"]
        passed = ids.n_unique() == len(ids) == customers.height and set(ids) == set(
            customers["customer_id"]
        )
        description = f"{len(ids)} profiles for {customers.height} golden customers"
    else:
        passed = True
        newest = written["as_of_date"].max()
        description = f"a newer day's snapshot ({newest!s}) stays published"
    context.log.info(description)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": profiles.height,
            "published": published,
            "file": dg.MetadataValue.path(str(path)),
            "bytes": path.stat().st_size,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="one_profile_per_customer",
                asset_key=PROFILE_SNAPSHOT,
                passed=passed,
                description=description,
            )
        ],
    )
