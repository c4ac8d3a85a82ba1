"""Raw layer: every landing file of a day in `raw.<source>`, values exactly as they arrived."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import dagster as dg

from platform_assets.checks import (
    VOLUME_DESCRIPTION,
    Verdict,
    check_results,
    column_schema,
    schema_verdict,
    volume_verdict,
)
from platform_assets.contract import SOURCES, SourceContract, selected_sources
from platform_assets.external import landing_asset_key
from platform_assets.partitions import (
    DAILY_WRITER_STEP,
    daily_partitions,
    partition_range,
)
from platform_assets.privacy.scrub import scrub_file
from platform_assets.privacy.tombstones import Tombstones, read_tombstones
from platform_assets.raw.load import (
    PARTITION_DATE,
    LandedBytes,
    PartitionLoad,
    load_partition,
    raw_table_schema,
)
from platform_assets.settings import (
    FRESHNESS,
    OWNERS,
    VOLUME_TRAILING_PARTITIONS,
)
from resources import LandingArchive, LandingZone, TableWrite, Warehouse, WarehouseSession
from resources.archive import ArchiveMissing
from resources.landing_zone import LandingRootUnusable, file_sha256
from resources.pii import MissingSalt

LAYER = "raw"
LANDING_FINGERPRINT = "landing_fingerprint"
LANDED_FILES_TABLE = "raw.landed_files"
REJECTED_LINES_TABLE = "raw.rejected_lines"
REJECTED_FILES_VIEW = "raw.rejected_files"

CHECKS = {
    "files_readable": "Every file of the day could be read; a rejected file is named with its "
    "reason.",
    "lines_readable": "Every line of the readable files parsed; broken lines are kept in "
    "raw.rejected_lines with their text.",
    "no_duplicate_files": "No file repeats the exact content of another file of the same day.",
    "landing_folders_in_range": "No folder of this source lies outside the partition range "
    "(such files would never be loaded) and no symlink leaves the landing root.",
    "no_vanished_files": "Every file loaded for the day is still in the landing zone; a file "
    "that vanished keeps its rows (read from the archive) until it is retracted.",
    "schema": "The partition's rows match the raw table schema (pandera).",
    "volume": VOLUME_DESCRIPTION,
}
WARNING_CHECKS = {
    "lines_readable",
    "no_duplicate_files",
    "landing_folders_in_range",
    "no_vanished_files",
    "volume",
}


def raw_asset_key(source: str) -> dg.AssetKey:
    return dg.AssetKey([LAYER, source])


def raw_asset_spec(contract: SourceContract) -> dg.AssetSpec:
    return dg.AssetSpec(
        raw_asset_key(contract.name),
        deps=[landing_asset_key(contract.name)],
        group_name=LAYER,
        owners=OWNERS,
        kinds={"duckdb"},
        tags={"layer": LAYER},
        freshness_policy=FRESHNESS[LAYER],
        metadata={
            "dagster/table_name": f"{LAYER}.{contract.name}",
            "dagster/column_schema": column_schema(
                raw_table_schema(contract), note="As it landed, before cleaning: "
            ),
        },
        description=(
            f"Every landed `{contract.name}` file of the day, one row per {contract.description}"
            " as it arrived: contract columns as text, unknown columns in `_extra` (JSON), and"
            " lineage (`_source_file`, `_row_number`, `_loaded_at`). Grain: one row per line of"
            " a landed file. Re-materializing a day replaces that day's rows."
        ),
        skippable=True,
    )


# One step loads every selected source of the day over one connection: a step and a
# connection per source cost more than a day's files. Each source stays its own asset with
# its own checks, and the sensor or a user can still select any subset.
@dg.multi_asset(
    name="raw_sources",
    specs=[raw_asset_spec(contract) for contract in SOURCES.values()],
    check_specs=[
        dg.AssetCheckSpec(
            name,
            asset=raw_asset_key(source),
            description=description,
            partitions_def=daily_partitions,
        )
        for source in SOURCES
        for name, description in CHECKS.items()
    ],
    **DAILY_WRITER_STEP,
    can_subset=True,
)
def raw_sources(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    landing_zone: LandingZone,
    archive: LandingArchive,
) -> Iterator[dg.MaterializeResult]:
    """Loads the day's landing files of every selected source into `raw.<source>`, with the
    files loaded before that have since vanished from the landing zone (from the archive)."""
    partition_date = date.fromisoformat(context.partition_key)
    try:
        landing_zone.require_root()
    except LandingRootUnusable as error:
        raise dg.Failure(str(error)) from None
    kept = archive.beside(warehouse.path)
    with warehouse.session() as db:
        try:
            tombstones = read_tombstones(db)
        except MissingSalt as error:
            raise dg.Failure(
                f"erased people cannot be kept out without the salt: {error}"
            ) from None
        for contract in selected_sources(context.selected_asset_keys, raw_asset_key):
            day_files = collect_day_files(
                contract.name, partition_date, landing_zone, kept, tombstones
            )
            for path, rows in day_files.erased_rows.items():
                context.log.warning(
                    f"{path}: {rows} row(s) of erased people removed from the file before it was"
                    " archived and loaded"
                )
            context.log_event(landing_observation(contract.name, context.partition_key, day_files))
            yield load_raw_source(context, contract, partition_date, db, landing_zone, day_files)
        db.execute(
            f"create or replace view {REJECTED_FILES_VIEW} as"
            f" select * from {LANDED_FILES_TABLE} where status = 'rejected'"
        )


@dataclass
class DayFiles:
    """What a raw partition loads: the landing zone's files and the vanished ones' copies."""

    files: list[LandedBytes]
    vanished: list[str]  # loaded before, gone from the landing zone, read from the archive
    retracted_present: list[str]  # still in the landing zone, but retracted: not loaded
    unsettled: list[str]  # still being written: loaded on a later run
    fingerprint: str  # the landing listing the load saw, for the landing sensor
    erased_rows: dict[str, int] = field(default_factory=dict)  # rows of erased people removed


def collect_day_files(
    source: str,
    partition_date: date,
    landing_zone: LandingZone,
    archive: LandingArchive,
    tombstones: Tombstones | None = None,
) -> DayFiles:
    """Archive every settled file of the day, then add the archived files that vanished.

    An absence never removes rows: only a retraction (`cdp retract`) does. A file new to the
    archive that carries rows of an erased person is rewritten without them first, in the
    landing zone too: erased people never re-enter through a re-delivered file or a late event.
    """
    day = partition_date.isoformat()
    landing_zone.wait_until_settled(source, day)
    retracted = archive.retracted(source, day)
    known = archive.files(source, day, include_retracted=True)
    loaded: list[LandedBytes] = []
    retracted_present = []
    erased_rows = {}
    for landing_file in landing_zone.files(source, day):
        content = landing_zone.read_bytes(landing_file)
        sha256 = file_sha256(content)
        if (landing_file.relative_path, sha256) in retracted:
            retracted_present.append(landing_file.relative_path)
            continue
        archived = known.get(landing_file.relative_path)
        if tombstones and (archived is None or archived.sha256 != sha256):
            # Only a version the archive has not seen: erasure scrubbed every earlier one.
            content, removed = scrub_file(source, landing_file.path.name, content, tombstones)
            if removed:
                landing_zone.replace_file(landing_file, content)
                sha256 = file_sha256(content)
                erased_rows[landing_file.relative_path] = removed
        archive.keep(source, day, landing_file.relative_path, content, sha256, known)
        loaded.append(LandedBytes(landing_file.relative_path, content, sha256))
    unsettled = landing_zone.unsettled(source, day)
    seen = {f.relative_path for f in loaded} | set(retracted_present)
    vanished = []
    for path, archived in archive.files(source, day).items():
        if path in seen:
            continue
        # A file being rewritten keeps its previous version until the new one settles.
        if path not in unsettled:
            vanished.append(path)
        try:
            loaded.append(
                LandedBytes(path, archive.read(archived), archived.sha256, from_archive=True)
            )
        except ArchiveMissing as error:
            raise dg.Failure(str(error)) from None
    return DayFiles(
        files=sorted(loaded, key=lambda f: f.relative_path),
        vanished=sorted(vanished),
        retracted_present=retracted_present,
        unsettled=unsettled,
        fingerprint=landing_zone.fingerprint(source, day),
        erased_rows=erased_rows,
    )


def landing_observation(
    source: str, partition_key: str, day_files: DayFiles
) -> dg.AssetObservation:
    """What raw read of a landing partition: its files by path, with the vanished ones."""
    return dg.AssetObservation(
        asset_key=landing_asset_key(source),
        partition=partition_key,
        metadata={
            "files": dg.MetadataValue.json([f.relative_path for f in day_files.files]),
            "bytes": sum(len(f.content) for f in day_files.files),
            "vanished_from_landing": dg.MetadataValue.json(day_files.vanished),
            "still_being_written": dg.MetadataValue.json(day_files.unsettled),
            LANDING_FINGERPRINT: day_files.fingerprint,
        },
    )


def load_raw_source(
    context: dg.AssetExecutionContext,
    contract: SourceContract,
    partition_date: date,
    db: WarehouseSession,
    landing_zone: LandingZone,
    day_files: DayFiles,
) -> dg.MaterializeResult:
    table = f"{LAYER}.{contract.name}"
    files = day_files.files
    load = load_partition(contract, partition_date, files, loaded_at=datetime.now(UTC))
    where = {PARTITION_DATE: partition_date}
    db.replace(
        [
            TableWrite(table, load.rows, where),
            TableWrite(LANDED_FILES_TABLE, load.landed_files, where | {"source": contract.name}),
            TableWrite(
                REJECTED_LINES_TABLE, load.rejected_lines, where | {"source": contract.name}
            ),
        ]
    )
    if not files:
        context.log.info(f"No {contract.name} files landed for {partition_date}: empty partition")
    for path in day_files.unsettled:
        context.log.info(f"{path} changed within the settle interval: loaded on a later run")
    for path in day_files.retracted_present:
        context.log.warning(f"{path} is retracted and not loaded; remove it from the landing zone")
    verdicts = _verdicts(contract, partition_date, load, db, landing_zone, day_files)
    key = raw_asset_key(contract.name)
    return dg.MaterializeResult(
        asset_key=key,
        metadata={
            "dagster/row_count": load.rows.height,
            "files": len(files),
            "files_rejected": load.rejected_files.height,
            "lines_rejected": load.rejected_lines.height,
            "files_vanished": len(day_files.vanished),
            "rows_erased": sum(day_files.erased_rows.values()),
            "notes": dg.MetadataValue.json(load.notes),
            # What the landing sensor compares with, so work done outside it (`cdp run`) is
            # not requested again.
            LANDING_FINGERPRINT: day_files.fingerprint,
        },
        check_results=check_results(verdicts, warnings=WARNING_CHECKS, asset_key=key),
    )


def _verdicts(
    contract: SourceContract,
    partition_date: date,
    load: PartitionLoad,
    db: WarehouseSession,
    landing_zone: LandingZone,
    day_files: DayFiles,
) -> dict[str, Verdict]:
    table = f"{LAYER}.{contract.name}"
    rejected = load.rejected_files
    duplicates = load.duplicate_files
    first, last = partition_range()
    misplaced = landing_zone.misplaced_entries(contract.name, first, last)
    written = load.rows
    return {
        "files_readable": Verdict(
            rejected.is_empty(),
            "all files readable"
            if rejected.is_empty()
            else "rejected: "
            + "; ".join(f"{r['file']}: {r['reason']}" for r in rejected.to_dicts()),
            {
                "files": load.landed_files.height,
                "rejected": [f"{r['file']}: {r['reason']}" for r in rejected.to_dicts()],
            },
        ),
        "lines_readable": Verdict(
            load.rejected_lines.is_empty(),
            f"{load.rejected_lines.height} line(s) rejected, kept in {REJECTED_LINES_TABLE}",
            {
                "lines_rejected": load.rejected_lines.height,
                "examples": [
                    f"{r['file']} row {r['row_number']}: {r['reason']}"
                    for r in load.rejected_lines.head(5).to_dicts()
                ],
            },
        ),
        "no_duplicate_files": Verdict(
            duplicates.is_empty(),
            f"{duplicates.height} file(s) repeat another file's content",
            {"duplicates": [f"{r['file']} = {r['duplicate_of']}" for r in duplicates.to_dicts()]},
        ),
        "landing_folders_in_range": Verdict(
            not misplaced,
            f"{len(misplaced)} misplaced folder(s) or file(s)",
            {"misplaced": misplaced},
        ),
        "no_vanished_files": Verdict(
            not day_files.vanished,
            "every loaded file is in the landing zone"
            if not day_files.vanished
            else f"{len(day_files.vanished)} file(s) vanished from the landing zone, rows kept"
            " from the archive (`cdp retract` removes them on purpose): "
            + ", ".join(day_files.vanished),
            {"vanished": day_files.vanished},
        ),
        "schema": schema_verdict(raw_table_schema(contract), written, db.table_schema(table)),
        "volume": volume_verdict(written.height, trailing_row_counts(db, table, partition_date)),
    }


def trailing_row_counts(
    db: WarehouseSession, table: str, partition_date: date, date_column: str = PARTITION_DATE
) -> list[int]:
    """Row counts of the trailing days that have rows in `table`, days read from `date_column`."""
    counts = db.query(
        f"""
        select {date_column} as day, count(*) as n from {table}
        where {date_column} < ? and {date_column} >= ? - to_days(?)
        group by 1
        """,
        [partition_date, partition_date, VOLUME_TRAILING_PARTITIONS],
    )
    return counts["n"].to_list()


raw_assets = [raw_sources]
