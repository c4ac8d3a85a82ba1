"""Exports layer: consent-safe audiences as tables for reverse-ETL and CSV files for email.

Two steps, so the guards run before anything is written to disk: `export_tables` verifies
consent on the day's rows (re-derived in SQL) before writing the three tables, then checks
them (schema, size change; blocking); `audience_files` writes one CSV per audience only when
those checks passed.
"""

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from platform_assets.automation import FOLLOWS_INPUTS_ON_ANY_DAY
from platform_assets.checks import (
    Verdict,
    check_results,
    column_schema,
    schema_verdict,
    volume_verdict,
)
from platform_assets.exports.build import build_exports, day_manifest, files_by_audience
from platform_assets.exports.consent import exclusion_counts
from platform_assets.exports.inputs import (
    CONSENT_STATE,
    SEGMENT_MEMBERSHIP,
    UPSTREAM,
    consent_held_back_by,
    read_export_inputs,
    table_name,
)
from platform_assets.exports.schemas import LAYER, SCHEMAS
from platform_assets.exports.settings import (
    FRESHNESS,
    SIZE_CHANGE_MAX_RATIO,
    SIZE_CHANGE_MIN_PEOPLE,
    SIZE_GUARD_BASELINE_DAYS,
    SIZE_GUARD_MIN_HISTORY,
)
from platform_assets.exports.verification import (
    consent_verdict,
    file_violations,
    files_verdict,
    manifest_problems,
    previous_sizes,
    size_verdict,
    table_violations,
    with_manifest,
)
from platform_assets.partitions import DAILY_WRITER_STEP, daily_partitions
from platform_assets.raw.assets import trailing_row_counts
from platform_assets.settings import (
    OWNERS,
    VOLUME_HIGH_RATIO,
    VOLUME_LOW_RATIO,
    VOLUME_TRAILING_PARTITIONS,
)
from resources import TableWrite, Warehouse, WarehouseSession
from resources.audit import AuditEntry, record_audit
from resources.export_dir import MANIFEST, ExportDirectory

# The export tables by name (`exports.<name>` in DuckDB), in the order they are written.
TABLES = {table: dg.AssetKey([LAYER, table]) for table in SCHEMAS}
AUDIENCES = TABLES["audiences"]
PEOPLE = TABLES["people"]
MEMBERSHIPS = TABLES["audience_memberships"]
FILES = dg.AssetKey([LAYER, "audience_files"])

CONSENT_CHECK = (
    "Consent re-derived independently in SQL from cleaned.consent and cleaned.email_events: "
    "zero exported rows reach an address without a standing email_marketing grant, or one that "
    "unsubscribed, bounced hard or complained."
)
CHECKS: dict[dg.AssetKey, dict[str, str]] = {
    PEOPLE: {
        "consent_safe": f"{CONSENT_CHECK} Counted in the day's exports.people and "
        "exports.audience_memberships rows before they are written: on a violation the step "
        "fails and the day's tables are left as they were.",
        "schema": "The day's rows match the documented columns, types and key.",
        "consent_readable": "Every consent statement and suppression (unsubscribe, complaint,"
        " bounce) could be read. A quarantined one holds back the person it names (reason"
        " `unreadable_consent`) until a readable statement is recorded after it; the check"
        " names each such row by file, line and rule, never by address.",
        "volume": f"People exported are within {VOLUME_LOW_RATIO:.0%} to {VOLUME_HIGH_RATIO:.0%}"
        f" of the trailing {VOLUME_TRAILING_PARTITIONS} days' median.",
    },
    AUDIENCES: {
        "size_change": f"No audience's size moved by more than {SIZE_CHANGE_MAX_RATIO:.0%} "
        f"(and at least {SIZE_CHANGE_MIN_PEOPLE} people) from both its last export and the"
        f" median of its last {SIZE_GUARD_BASELINE_DAYS} days' exports, once it has"
        f" {SIZE_GUARD_MIN_HISTORY}; a jump stops the day's files from being written.",
        "schema": "The day's rows match the documented columns, types and key.",
    },
    MEMBERSHIPS: {
        "schema": "The day's rows match the documented columns, types and key.",
    },
}
WARNING_CHECKS = {"volume"}
# Error-severity but not blocking: the day's exports go out without the people held back.
NOT_BLOCKING = {*WARNING_CHECKS, "consent_readable"}

DESCRIPTIONS = {
    AUDIENCES: "The audiences of the day: one row per segment per day (as_of_date), with its "
    "exported size after consent filtering and its member count before.",
    PEOPLE: "People who may receive marketing email and are in at least one audience: one row "
    "per customer per day (as_of_date), with email, first name and personalization tokens "
    "(last purchased product, favourite category, three recommended products).",
    MEMBERSHIPS: "Who is in which audience: one row per audience per customer per day "
    "(as_of_date); every customer is in exports.people for the same day.",
}


def _table_spec(table: str, key: dg.AssetKey) -> dg.AssetSpec:
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
            "dagster/column_schema": column_schema(SCHEMAS[table]),
        },
    )


@dg.multi_asset(
    name="export_tables",
    specs=[_table_spec(table, key) for table, key in TABLES.items()],
    check_specs=[
        dg.AssetCheckSpec(
            name,
            partitions_def=daily_partitions,
            asset=key,
            description=description,
            blocking=name not in NOT_BLOCKING,
        )
        for key, checks in CHECKS.items()
        for name, description in checks.items()
    ],
    **DAILY_WRITER_STEP,
    can_subset=False,
)
def export_tables(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Verify consent on the day's rows of exports.audiences, exports.people and
    exports.audience_memberships, replace them in one transaction, then check them."""
    day = date.fromisoformat(context.partition_key)
    with warehouse.session() as db:
        held_back_by = consent_held_back_by(db, day)
        if held_back_by:
            raise dg.Failure(
                description=f"Exports for {day} held back: {len(held_back_by)} consent file(s)"
                f" or line(s) landed by then could not be read ({'; '.join(held_back_by[:5])})."
                " Any of them may withdraw someone's consent. Land a corrected file (or retract"
                " it with `cdp retract` when it was sent by mistake), then re-materialize the day.",
                metadata={"unreadable_consent": dg.MetadataValue.json(held_back_by[:50])},
            )
        inputs = read_export_inputs(db, day)
        if inputs.members.is_empty():
            raise dg.Failure(
                description=f"{table_name(SEGMENT_MEMBERSHIP)} has no rows for as_of_date {day}:"
                " materialize segments/segment_membership for the day, then the exports."
            )
        if inputs.consent_state.is_empty():
            # Without the day's consent nobody may be sent to: never a default.
            raise dg.Failure(
                description=f"{table_name(CONSENT_STATE)} has no rows for as_of_date {day}:"
                " materialize exports/consent_state for the day, then the exports."
            )
        exports = build_exports(inputs, day)
        tables = exports.tables
        # Consent is verified before the write, so a violation never reaches the tables that
        # reverse-ETL tools sync: the day's earlier rows stay as they were.
        consent = consent_verdict(
            table_violations(db, day, tables["people"], tables["audience_memberships"])
        )
        if not consent.passed:
            yield from check_results({"consent_safe": consent}, WARNING_CHECKS, asset_key=PEOPLE)
            raise dg.Failure(
                description=f"Nothing written for {day}: {consent.description}",
                metadata=consent.metadata,
            )
        verdicts = _write_and_check(db, day, tables, consent)
        verdicts[PEOPLE]["consent_readable"] = readable_consent_verdict(inputs.unreadable_consent)
    audiences, people = tables["audiences"], tables["people"]
    sizes = dict(audiences.select("audience_id", "size").iter_rows())
    excluded = exclusion_counts(exports.exclusions)
    context.log.info(
        f"{people.height} people exported to {len(sizes)} audiences;"
        f" {sum(excluded.values())} segment members excluded"
    )
    metadata: dict[dg.AssetKey, dict[str, Any]] = {
        AUDIENCES: {"audience_sizes": dg.MetadataValue.json(sizes)},
        PEOPLE: {
            "people_exported": people.height,
            "segment_members": exports.exclusions.height,
            "excluded_by_reason": dg.MetadataValue.json(excluded),
        },
        MEMBERSHIPS: {},
    }
    for table, key in TABLES.items():
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={"dagster/row_count": tables[table].height, **metadata[key]},
            check_results=check_results(verdicts[key], WARNING_CHECKS, asset_key=key),
        )


def _write_and_check(
    db: WarehouseSession, day: date, tables: dict[str, pl.DataFrame], consent: Verdict
) -> dict[dg.AssetKey, dict[str, Verdict]]:
    """Replace the day's rows of every table in one transaction, then judge what was written:
    verdicts by asset and check name, in CHECKS order."""
    db.replace(
        [TableWrite(f"{LAYER}.{table}", tables[table], {"as_of_date": day}) for table in TABLES]
    )
    schemas = {
        key: schema_verdict(SCHEMAS[table], tables[table], db.table_schema(f"{LAYER}.{table}"))
        for table, key in TABLES.items()
    }
    people = tables["people"]
    return {
        PEOPLE: {
            "consent_safe": consent,
            "schema": schemas[PEOPLE],
            "volume": volume_verdict(
                people.height,
                trailing_row_counts(db, f"{LAYER}.people", day, date_column="as_of_date"),
            ),
        },
        AUDIENCES: {
            "size_change": size_verdict(
                tables["audiences"],
                previous_sizes(
                    db,
                    day,
                    baseline_days=SIZE_GUARD_BASELINE_DAYS,
                    min_history=SIZE_GUARD_MIN_HISTORY,
                ),
                max_ratio=SIZE_CHANGE_MAX_RATIO,
                min_people=SIZE_CHANGE_MIN_PEOPLE,
            ),
            "schema": schemas[AUDIENCES],
        },
        MEMBERSHIPS: {"schema": schemas[MEMBERSHIPS]},
    }


@dg.asset(
    key=FILES,
    deps=list(TABLES.values()),
    group_name=LAYER,
    **DAILY_WRITER_STEP,
    owners=OWNERS,
    kinds={"csv"},
    tags={"layer": LAYER},
    freshness_policy=FRESHNESS,
    automation_condition=FOLLOWS_INPUTS_ON_ANY_DAY,
    check_specs=[
        dg.AssetCheckSpec(
            "consent_safe",
            partitions_def=daily_partitions,
            asset=FILES,
            blocking=True,
            description=f"{CONSENT_CHECK} Counted in the day's export tables and in every CSV "
            "file written for the day (read back from disk), and the day's manifest.json "
            "reconciled (per audience: members = exported + excluded by reason, as in "
            "exports.audiences; the consent snapshot; every file's checksum); failing files are "
            "deleted.",
        ),
        dg.AssetCheckSpec(
            "schema",
            partitions_def=daily_partitions,
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
    day = date.fromisoformat(context.partition_key)
    with warehouse.session() as db:
        tables = {
            table: db.query(f"select * from {LAYER}.{table} where as_of_date = ?", [day])
            for table in TABLES
        }
        files = files_by_audience(
            tables["audiences"], tables["people"], tables["audience_memberships"]
        )
        manifest = day_manifest(day, context.run_id, tables["audiences"], tables["people"].height)
        paths = export_directory.write_day(day, files, manifest)
        written = export_directory.read_day(day)
        checksums = export_directory.checksums(day)
        verdict = with_manifest(
            consent_verdict(
                table_violations(db, day, tables["people"], tables["audience_memberships"]),
                file_violations(db, day, written),
            ),
            manifest_problems(
                export_directory.read_manifest(day),
                checksums,
                tables["audiences"],
            ),
        )
    shape = files_verdict(written, tables["audiences"])
    if not verdict.passed:
        # Nothing unsafe may wait on disk for an email platform to pick up.
        export_directory.remove_day(day)
        paths = []
    else:
        with warehouse.session() as db:
            audit = written_audit(day, context.run_id, export_directory, checksums, files)
            record_audit(db, audit)
    return dg.MaterializeResult(
        metadata={
            "folder": dg.MetadataValue.path(str(export_directory.day_folder(day))),
            "manifest": dg.MetadataValue.path(str(export_directory.day_folder(day) / MANIFEST)),
            "consent_snapshot_sha256": str(manifest["consent_snapshot_sha256"]),
            "files": dg.MetadataValue.md(files_table(paths, files)),
            "file_paths": dg.MetadataValue.json([str(path) for path in paths]),
            "rows_per_file": dg.MetadataValue.json(
                {name: rows.height for name, rows in files.items()}
            ),
            "people_exported": tables["people"].height,
        },
        check_results=check_results(
            {"consent_safe": verdict, "schema": shape}, WARNING_CHECKS, asset_key=FILES
        ),
    )


def written_audit(
    day: date,
    run_id: str,
    export_directory: ExportDirectory,
    checksums: dict[str, str],
    files: dict[str, pl.DataFrame],
) -> list[AuditEntry]:
    """One audit entry per file of the day: its rows as written, and the checksum the
    reconciliation read from disk."""
    manifest_sha256 = export_directory.manifest_sha256(day)
    return [
        AuditEntry(
            action="export_written",
            subject=name.removesuffix(".csv"),
            partition_key=day.isoformat(),
            row_count=files[name.removesuffix(".csv")].height,
            checksum=checksum,
            manifest_sha256=manifest_sha256,
            run_id=run_id,
            details={"file": str(export_directory.day_folder(day) / name)},
        )
        for name, checksum in sorted(checksums.items())
    ]


def files_table(paths: list[Path], files: dict[str, pl.DataFrame]) -> str:
    """The day's files as a person reads them: audience, rows, and the path to open."""
    if not paths:
        return "no files written for the day"
    return "| audience | rows | file |\n|---|---:|---|\n" + "\n".join(
        f"| {path.stem} | {files[path.stem].height:,} | `{path}` |"
        for path in sorted(paths, key=lambda p: p.stem)
    )


def readable_consent_verdict(unreadable: pl.DataFrame) -> Verdict:
    """Fails while any consent or suppression row is quarantined, naming each by file and line
    (metadata lands in Dagster's storage, out of reach of an erasure: never the address)."""
    rows = [
        f"{row['source_file']} line {row['row_number']}: {row['rule']}"
        for row in unreadable.sort("source_file", "row_number").to_dicts()
    ]
    held_back = unreadable["email"].drop_nulls().n_unique()
    if not rows:
        return Verdict(True, "every consent statement and suppression was read", {"rows": 0})
    return Verdict(
        False,
        f"{len(rows)} consent or suppression row(s) could not be read; {held_back} address(es)"
        " held back until a readable statement follows: " + "; ".join(rows[:5]),
        {"rows": len(rows), "addresses_held_back": held_back, "unreadable_rows": rows[:50]},
    )
