"""Exports layer: consent-safe audiences as tables for reverse-ETL and CSV files for email.

Two steps, so the guards run before anything is written to disk: `export_tables` writes the
three tables and checks them (consent re-derived in SQL, schema, size change; all blocking),
then `audience_files` writes one CSV per audience only when those checks passed.
"""

from collections.abc import Iterator
from datetime import date
from typing import Any

import dagster as dg
import polars as pl

from platform_assets.checks import Verdict, column_schema, schema_verdict
from platform_assets.checks import volume_verdict as trailing_volume_verdict
from platform_assets.exports.build import audience_files as build_audience_files
from platform_assets.exports.build import build_exports
from platform_assets.exports.consent import exclusion_counts
from platform_assets.exports.inputs import UPSTREAM, read_export_inputs, segment_member_count
from platform_assets.exports.schemas import export_schema
from platform_assets.exports.settings import (
    FRESHNESS,
    SIZE_CHANGE_MAX_RATIO,
    SIZE_CHANGE_MIN_PEOPLE,
    VOLUME_TRAILING_PARTITIONS,
)
from platform_assets.exports.verification import (
    consent_verdict,
    file_violations,
    files_verdict,
    previous_sizes,
    size_changes,
    size_verdict,
    table_violations,
    trailing_people_counts,
)
from platform_assets.partitions import daily_partitions
from platform_assets.settings import OWNERS, WAREHOUSE_WRITER_POOL
from resources import TableWrite, Warehouse, WarehouseSession
from resources.export_dir import ExportDirectory

LAYER = "exports"
AUDIENCES = dg.AssetKey([LAYER, "audiences"])
PEOPLE = dg.AssetKey([LAYER, "people"])
MEMBERSHIPS = dg.AssetKey([LAYER, "audience_memberships"])
FILES = dg.AssetKey([LAYER, "audience_files"])
TABLES = {AUDIENCES: "audiences", PEOPLE: "people", MEMBERSHIPS: "audience_memberships"}

CONSENT_CHECK = (
    "Consent re-derived independently in SQL from cleaned.consent and cleaned.email_events: "
    "zero exported rows reach an address without a standing email_marketing grant, or one that "
    "unsubscribed, bounced hard or complained."
)
CHECKS: dict[dg.AssetKey, dict[str, str]] = {
    PEOPLE: {
        "consent_safe": f"{CONSENT_CHECK} Counted in exports.people and "
        "exports.audience_memberships for the day.",
        "schema": "The day's rows match the documented columns, types and key.",
        "volume": f"People exported are within 50 % to 300 % of the trailing "
        f"{VOLUME_TRAILING_PARTITIONS} days' median.",
    },
    AUDIENCES: {
        "size_change": f"No audience's size moved by more than {SIZE_CHANGE_MAX_RATIO:.0%} "
        f"(and at least {SIZE_CHANGE_MIN_PEOPLE} people) since the previous day's export of the "
        "same segment; a jump stops the day's files from being written.",
        "schema": "The day's rows match the documented columns, types and key.",
    },
    MEMBERSHIPS: {
        "schema": "The day's rows match the documented columns, types and key.",
    },
}
WARNING_CHECKS = {"volume"}

DESCRIPTIONS = {
    AUDIENCES: "The audiences of the day: one row per segment per day (as_of_date), with its "
    "exported size after consent filtering and its member count before.",
    PEOPLE: "People who may receive marketing email and are in at least one audience: one row "
    "per customer per day (as_of_date), with email, first name and personalization tokens "
    "(last purchased product, favourite category, three recommended products).",
    MEMBERSHIPS: "Who is in which audience: one row per audience per customer per day "
    "(as_of_date); every customer is in exports.people for the same day.",
}

# Like the cleaned layer's condition: an update of any input for any day (a late withdrawal
# included) re-builds that day's exports, once no input is missing or still running.
FOLLOWS_INPUTS_ON_ANY_DAY = (
    (
        dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()
    ).since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("follows its inputs on any day")


def _table_spec(key: dg.AssetKey) -> dg.AssetSpec:
    table = TABLES[key]
    return dg.AssetSpec(
        key,
        deps=UPSTREAM,
        group_name=LAYER,
        owners=OWNERS,
        kinds={"duckdb", "polars"},
        tags={"layer": LAYER},
        freshness_policy=FRESHNESS,
        automation_condition=FOLLOWS_INPUTS_ON_ANY_DAY,
        description=DESCRIPTIONS[key],
        metadata={
            "dagster/table_name": f"{LAYER}.{table}",
            "dagster/column_schema": column_schema(export_schema(table)),
        },
    )


@dg.multi_asset(
    name="export_tables",
    specs=[_table_spec(key) for key in TABLES],
    check_specs=[
        dg.AssetCheckSpec(
            name, asset=key, description=description, blocking=name not in WARNING_CHECKS
        )
        for key, checks in CHECKS.items()
        for name, description in checks.items()
    ],
    partitions_def=daily_partitions,
    pool=WAREHOUSE_WRITER_POOL,
    can_subset=False,
)
def export_tables(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> Iterator[dg.MaterializeResult]:
    """Replace the day's rows of exports.audiences, exports.people and
    exports.audience_memberships in one transaction, then check them."""
    day = date.fromisoformat(context.partition_key)
    with warehouse.session() as db:
        if segment_member_count(db, day) == 0:
            raise dg.Failure(
                description=f"segments.segment_membership has no rows for as_of_date {day}:"
                " materialize segments/segment_membership for the day, then the exports."
            )
        exports = build_exports(read_export_inputs(db, day), day)
        where = {"as_of_date": day}
        db.replace(
            [
                TableWrite(f"{LAYER}.audiences", exports.audiences, where),
                TableWrite(f"{LAYER}.people", exports.people, where),
                TableWrite(f"{LAYER}.audience_memberships", exports.memberships, where),
            ]
        )
        verdicts = _table_verdicts(db, day, exports.audiences, exports.people, exports.memberships)
    sizes = dict(exports.audiences.select("audience_id", "size").iter_rows())
    excluded = exclusion_counts(exports.exclusions)
    context.log.info(
        f"{exports.people.height} people exported to {len(sizes)} audiences;"
        f" {sum(excluded.values())} segment members excluded"
    )
    metadata: dict[dg.AssetKey, dict[str, Any]] = {
        AUDIENCES: {
            "dagster/row_count": exports.audiences.height,
            "audience_sizes": dg.MetadataValue.json(sizes),
        },
        PEOPLE: {
            "dagster/row_count": exports.people.height,
            "people_exported": exports.people.height,
            "segment_members": exports.exclusions.height,
            "excluded_by_reason": dg.MetadataValue.json(excluded),
        },
        MEMBERSHIPS: {"dagster/row_count": exports.memberships.height},
    }
    for key in TABLES:
        yield dg.MaterializeResult(
            asset_key=key,
            metadata=metadata[key],
            check_results=_check_results(key, verdicts[key]),
        )


def _check_results(key: dg.AssetKey, verdicts: dict[str, Verdict]) -> list[dg.AssetCheckResult]:
    """One result per verdict, named with its asset: a multi-asset has several to choose from."""
    return [
        dg.AssetCheckResult(
            asset_key=key,
            check_name=name,
            passed=verdict.passed,
            severity=dg.AssetCheckSeverity.WARN
            if name in WARNING_CHECKS
            else dg.AssetCheckSeverity.ERROR,
            description=verdict.description,
            metadata=verdict.metadata,
        )
        for name, verdict in verdicts.items()
    ]


def _table_verdicts(
    db: WarehouseSession,
    day: date,
    audiences: pl.DataFrame,
    people: pl.DataFrame,
    memberships: pl.DataFrame,
) -> dict[dg.AssetKey, dict[str, Verdict]]:
    def schema(table: str, frame: pl.DataFrame) -> Verdict:
        return schema_verdict(export_schema(table), frame, db.table_schema(f"{LAYER}.{table}"))

    changes = size_changes(
        audiences,
        previous_sizes(db, day),
        max_ratio=SIZE_CHANGE_MAX_RATIO,
        min_people=SIZE_CHANGE_MIN_PEOPLE,
    )
    return {
        PEOPLE: {
            "consent_safe": consent_verdict(table_violations(db, day)),
            "schema": schema("people", people),
            "volume": trailing_volume_verdict(
                people.height, trailing_people_counts(db, day, VOLUME_TRAILING_PARTITIONS)
            ),
        },
        AUDIENCES: {
            "size_change": size_verdict(
                changes, max_ratio=SIZE_CHANGE_MAX_RATIO, min_people=SIZE_CHANGE_MIN_PEOPLE
            ),
            "schema": schema("audiences", audiences),
        },
        MEMBERSHIPS: {"schema": schema("audience_memberships", memberships)},
    }


@dg.asset(
    key=FILES,
    deps=list(TABLES),
    group_name=LAYER,
    partitions_def=daily_partitions,
    pool=WAREHOUSE_WRITER_POOL,
    owners=OWNERS,
    kinds={"csv"},
    tags={"layer": LAYER},
    freshness_policy=FRESHNESS,
    automation_condition=FOLLOWS_INPUTS_ON_ANY_DAY,
    check_specs=[
        dg.AssetCheckSpec(
            "consent_safe",
            asset=FILES,
            blocking=True,
            description=f"{CONSENT_CHECK} Counted in the day's export tables and in every CSV "
            "file written for the day (read back from disk); failing files are deleted.",
        ),
        dg.AssetCheckSpec(
            "schema",
            asset=FILES,
            blocking=True,
            description="The files read back from disk: one per audience of the day, the "
            "documented columns in order, as many rows as the audience's size.",
        ),
    ],
    metadata={"path_pattern": "<CDP_EXPORT_DIR>/<YYYY-MM-DD>/<audience_id>.csv"},
)
def audience_files(
    context: dg.AssetExecutionContext, warehouse: Warehouse, export_directory: ExportDirectory
) -> dg.MaterializeResult:
    """One CSV per audience per day, `<CDP_EXPORT_DIR>/<day>/<audience_id>.csv`: one row per
    person of the audience with email first and the personalization tokens, ready for an email
    platform. Written from the day's export tables, replacing the day's files."""
    day = context.partition_key
    partition_date = date.fromisoformat(day)
    with warehouse.session() as db:
        tables = {
            table: db.query(f"select * from {LAYER}.{table} where as_of_date = ?", [partition_date])
            for table in TABLES.values()
        }
        files = build_audience_files(
            tables["audiences"], tables["people"], tables["audience_memberships"]
        )
        paths = export_directory.write_day(day, files)
        written = export_directory.read_day(day)
        verdict = consent_verdict(
            table_violations(db, partition_date),
            file_violations(db, partition_date, written),
        )
    shape = files_verdict(written, tables["audiences"])
    if not verdict.passed:
        # Nothing unsafe may wait on disk for an email platform to pick up.
        export_directory.remove_day(day)
        paths = []
    return dg.MaterializeResult(
        metadata={
            "file_paths": dg.MetadataValue.json([str(path) for path in paths]),
            "rows_per_file": dg.MetadataValue.json(
                {name: rows.height for name, rows in files.items()}
            ),
            "people_exported": tables["people"].height,
        },
        check_results=_check_results(FILES, {"consent_safe": verdict, "schema": shape}),
    )
