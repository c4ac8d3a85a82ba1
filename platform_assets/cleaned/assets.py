"""Cleaned layer: normalized, validated, reconciled rows in `cleaned.<source>`, nothing lost."""

from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from platform_assets.automation import FOLLOWS_INPUTS_ON_ANY_DAY
from platform_assets.checks import (
    VOLUME_DESCRIPTION,
    Verdict,
    check_results,
    column_schema,
    schema_verdict,
    volume_verdict,
)
from platform_assets.cleaned.schemas import (
    MODELS,
    cleaned_columns,
    quarantine_schema,
    superseded_schema,
    value_quarantine_schema,
)
from platform_assets.cleaned.transform import CleanResult, clean_partition
from platform_assets.contract import SOURCES, SourceContract, selected_sources
from platform_assets.partitions import DAILY_WRITER_STEP, daily_partitions
from platform_assets.raw import raw_asset_key
from platform_assets.raw.assets import trailing_row_counts
from platform_assets.settings import (
    FRESHNESS,
    OWNERS,
    QUARANTINE_WARN_RATIO,
)
from resources import TableWrite, Warehouse, WarehouseSession

LAYER = "cleaned"
PARTITION_DATE = "_partition_date"

CHECKS = {
    "conservation": "Every raw row of the partition is in exactly one place: cleaned, "
    "quarantined (with its rule) or superseded (by a newer version or an earlier delivery).",
    "schema": "The partition's rows match the pandera model of the table.",
    "quarantine_rate": "At most 5 % of the partition's raw rows are quarantined.",
    "volume": VOLUME_DESCRIPTION,
}
WARNING_CHECKS = {"quarantine_rate", "volume"}


def cleaned_tables(source: str) -> dict[str, str]:
    return {
        "cleaned": f"{LAYER}.{source}",
        "quarantined": f"{LAYER}.{source}_quarantine",
        "value_issues": f"{LAYER}.{source}_value_quarantine",
        "superseded": f"{LAYER}.{source}_superseded",
    }


def cleaned_asset_key(source: str) -> dg.AssetKey:
    return dg.AssetKey([LAYER, source])


def cleaned_asset_spec(contract: SourceContract) -> dg.AssetSpec:
    tables = cleaned_tables(contract.name)
    return dg.AssetSpec(
        cleaned_asset_key(contract.name),
        deps=[raw_asset_key(contract.name)],
        group_name=LAYER,
        owners=OWNERS,
        kinds={"duckdb", "polars"},
        tags={"layer": LAYER},
        freshness_policy=FRESHNESS[LAYER],
        automation_condition=FOLLOWS_INPUTS_ON_ANY_DAY,
        metadata={
            "dagster/table_name": tables["cleaned"],
            "dagster/column_schema": column_schema(
                MODELS[contract.name].to_schema(), cleaned_columns(contract.name)
            ),
        },
        description=(
            f"{MODELS[contract.name].__doc__} Normalized (emails, E.164 phones, UTC timestamps,"
            " ISO countries and currencies, enums), validated by its pandera model. Rows that"
            f" fail are in `{tables['quarantined']}` with the rule, bad optional values in"
            f" `{tables['value_issues']}`, replaced versions and repeats in"
            f" `{tables['superseded']}`."
        ),
    )


# One step cleans every selected source of the day over one connection, as raw loads them;
# each source keeps its own asset, checks and automation.
@dg.multi_asset(
    name="cleaned_sources",
    specs=[cleaned_asset_spec(contract) for contract in SOURCES.values()],
    check_specs=[
        dg.AssetCheckSpec(
            name,
            partitions_def=daily_partitions,
            asset=cleaned_asset_key(source),
            description=description,
            blocking=name == "conservation",
        )
        for source in SOURCES
        for name, description in CHECKS.items()
    ],
    **DAILY_WRITER_STEP,
    can_subset=True,
)
def cleaned_sources(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> Iterator[dg.MaterializeResult]:
    """Cleans the day's raw rows of every selected source into `cleaned.<source>`."""
    partition_date = date.fromisoformat(context.partition_key)
    with warehouse.session() as db:
        for contract in selected_sources(context.selected_asset_keys, cleaned_asset_key):
            yield clean_source(contract, partition_date, db)


def clean_source(
    contract: SourceContract, partition_date: date, db: WarehouseSession
) -> dg.MaterializeResult:
    tables = cleaned_tables(contract.name)
    # Unordered: every output of clean_partition is sorted by its lineage, and an ORDER BY here
    # cost 4 s on a 200,000-person first day.
    raw = db.query(
        f"select * from raw.{contract.name} where {PARTITION_DATE} = ?", [partition_date]
    )
    result = clean_partition(contract.name, raw, as_of=datetime.now(UTC))
    where = {PARTITION_DATE: partition_date}
    db.replace(
        [
            TableWrite(tables["cleaned"], result.cleaned, where),
            TableWrite(tables["quarantined"], result.quarantined, where),
            TableWrite(tables["value_issues"], result.value_issues, where),
            TableWrite(tables["superseded"], result.superseded, where),
        ]
    )
    verdicts = _verdicts(contract, partition_date, raw.height, result, db)
    key = cleaned_asset_key(contract.name)
    return dg.MaterializeResult(
        asset_key=key,
        metadata={
            "dagster/row_count": result.cleaned.height,
            "raw_rows": raw.height,
            "quarantined_rows": result.quarantined.height,
            "superseded_rows": result.superseded.height,
            "nulled_values": result.value_issues.height,
            "quarantine_rules": dg.MetadataValue.json(_rule_counts(result.quarantined)),
            "value_rules": dg.MetadataValue.json(
                {
                    f"{r['column_name']}:{r['rule']}": r["len"]
                    for r in result.value_issues.group_by("column_name", "rule").len().to_dicts()
                }
            ),
        },
        check_results=check_results(verdicts, warnings=WARNING_CHECKS, asset_key=key),
    )


def _rule_counts(quarantined: pl.DataFrame) -> dict[str, int]:
    exploded = quarantined.select(pl.col("failed_rules").str.split("; ").explode())
    return {r["failed_rules"]: r["len"] for r in exploded.group_by("failed_rules").len().to_dicts()}


def conservation_verdict(db: WarehouseSession, source: str, partition_date: date) -> Verdict:
    """Raw rows = cleaned + quarantined + superseded, proven row by row on the warehouse."""
    tables = cleaned_tables(source)
    placed = " union all ".join(
        f"select _source_file, _row_number, '{place}' as place from {tables[place]}"
        f" where {PARTITION_DATE} = $day"
        for place in ("cleaned", "quarantined", "superseded")
    )
    counts = db.query(
        f"""
        with placed as ({placed}),
        raw_rows as (
            select _source_file, _row_number from raw.{source} where {PARTITION_DATE} = $day
        ),
        lost as (select * from raw_rows except select _source_file, _row_number from placed),
        twice as (select _source_file, _row_number from placed group by all having count(*) > 1)
        select
            (select count(*) from raw_rows) as raw,
            (select count(*) from placed where place = 'cleaned') as cleaned,
            (select count(*) from placed where place = 'quarantined') as quarantined,
            (select count(*) from placed where place = 'superseded') as superseded,
            (select count(*) from lost) as lost,
            (select count(*) from twice) as counted_twice,
            (select list(_source_file || ' row ' || _row_number) from (from lost limit 5))
                as lost_examples
        """.replace("$day", "?"),
        [partition_date] * 4,
    ).to_dicts()[0]
    balanced = counts["raw"] == counts["cleaned"] + counts["quarantined"] + counts["superseded"]
    passed = balanced and counts["lost"] == 0 and counts["counted_twice"] == 0
    description = (
        f"raw {counts['raw']} = cleaned {counts['cleaned']} + quarantined"
        f" {counts['quarantined']} + superseded {counts['superseded']}"
    )
    if not passed:
        description = (
            f"NOT BALANCED: {description}; {counts['lost']} raw row(s) missing,"
            f" {counts['counted_twice']} counted twice"
        )
    counts["lost_examples"] = counts["lost_examples"] or []
    return Verdict(passed, description, counts)


def _verdicts(
    contract: SourceContract,
    partition_date: date,
    raw_rows: int,
    result: CleanResult,
    db: WarehouseSession,
) -> dict[str, Verdict]:
    tables = cleaned_tables(contract.name)
    written = result.cleaned
    schema = schema_verdict(MODELS[contract.name], written, db.table_schema(tables["cleaned"]))
    side_tables = {
        "quarantined": (quarantine_schema(), result.quarantined),
        "value_issues": (value_quarantine_schema(), result.value_issues),
        "superseded": (superseded_schema(), result.superseded),
    }
    for place, (side_schema, rows) in side_tables.items():
        shape = schema_verdict(side_schema, rows, db.table_schema(tables[place]))
        if not shape.passed:
            schema = Verdict(False, f"{tables[place]}: {shape.description}", shape.metadata)
    rate = result.quarantined.height / raw_rows if raw_rows else 0.0
    return {
        "conservation": conservation_verdict(db, contract.name, partition_date),
        "schema": schema,
        "quarantine_rate": Verdict(
            rate <= QUARANTINE_WARN_RATIO,
            f"{result.quarantined.height} of {raw_rows} rows quarantined ({rate:.1%})",
            {
                "quarantined": result.quarantined.height,
                "rate": round(rate, 4),
                "examples": result.quarantined.head(5)
                .select("_source_file", "_row_number", "failed_rules")
                .to_dicts(),
            },
        ),
        "volume": volume_verdict(
            written.height, trailing_row_counts(db, tables["cleaned"], partition_date)
        ),
    }


cleaned_assets = [cleaned_sources]
