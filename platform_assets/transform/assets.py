"""The dbt project as one partitioned multi-asset: staging, intermediate, star and segments."""

import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from platform_assets.partitions import daily_partitions, one_day_per_run
from platform_assets.settings import WAREHOUSE_WRITER_POOL
from platform_assets.transform.project import partition_vars
from platform_assets.transform.translator import CdpDbtTranslator
from resources import Warehouse, WarehouseSession
from resources.warehouse import resolve_duckdb_path

SEGMENT_MEMBERSHIP = dg.AssetKey(["segments", "segment_membership"])
SEGMENT_HISTORY = dg.AssetKey(["segments", "segment_history"])

# One translator for the asset definition and for mapping manifest nodes to asset keys at run time.
TRANSLATOR = CdpDbtTranslator()

DbtEvent = (
    dg.Output
    | dg.AssetMaterialization
    | dg.AssetCheckResult
    | dg.AssetObservation
    | dg.AssetCheckEvaluation
)


def build_dbt_assets(manifest: Path) -> dg.AssetsDefinition:
    """Every dbt model as an asset and every dbt test as a check, daily-partitioned."""

    @dbt_assets(
        manifest=manifest,
        name="dbt_models",
        dagster_dbt_translator=TRANSLATOR,
        partitions_def=daily_partitions,
        # One run per day: each day's segments are evaluated as of the end of that day.
        backfill_policy=one_day_per_run,
        pool=WAREHOUSE_WRITER_POOL,
    )
    def dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse
    ) -> Iterator[DbtEvent]:
        """Builds the selected models and runs their tests for one daily partition: facts
        upsert the partition's landing day, segments are evaluated as of its end."""
        if warehouse.path != resolve_duckdb_path():
            # dbt opens the file named by CDP_DUCKDB_PATH (profiles.yml); two files would
            # silently split the warehouse.
            raise dg.Failure(
                f"The warehouse resource points at {warehouse.path} but dbt would write"
                f" {resolve_duckdb_path()}: set CDP_DUCKDB_PATH to the warehouse file and leave"
                " the resource's `database` empty."
            )
        dbt_vars = partition_vars(context.partition_key, now=datetime.now(UTC))
        context.log.info(f"dbt vars: {dbt_vars}")
        # Buildable: a test spanning two models (a relationship) runs once both exist, never
        # against a dimension this step has not built yet. A test whose other model an earlier
        # step of the run built is named outright: Dagster expects its result from this step.
        across = relationship_tests_across_steps(
            _read_manifest(manifest), context.selected_asset_keys, context.selected_asset_check_keys
        )
        invocation = dbt.cli(
            [
                "build",
                "--vars",
                json.dumps(dbt_vars),
                "--indirect-selection",
                "buildable",
                *(["--select", " ".join(across)] if across else []),
            ],
            context=context,
            raise_on_error=False,
        )
        # DuckDB has one writer and refuses a second configuration in one process, so row
        # counts and segment sizes are read through the warehouse once dbt has exited, rather
        # than by dagster-dbt's fetch_row_counts.
        events = list(invocation.stream())
        nodes = invocation.manifest["nodes"]
        # Facts land the partition's day and segments are stored under it (as_of_date).
        day = date.fromisoformat(context.partition_key)
        built = [_node(nodes, event) for event in events if isinstance(event, dg.Output)]
        with warehouse.session() as db:
            counts = _row_counts(db, built, day)
            for event in events:
                yield _with_table_metadata(context, event, db, nodes, counts, day)
        error = invocation.get_error()
        if error is not None:
            raise error

    return dbt_models


@functools.cache
def _read_manifest(path: Path) -> Mapping[str, Any]:
    """Read when a step first needs it, once per process: never at definition load."""
    return json.loads(path.read_text())


def _model_key(node: Mapping[str, Any]) -> dg.AssetKey:
    return TRANSLATOR.get_asset_key(node)


def relationship_tests_across_steps(
    manifest: Mapping[str, Any],
    selected_assets: AbstractSet[dg.AssetKey],
    selected_checks: AbstractSet[dg.AssetCheckKey],
) -> list[str]:
    """Names of the selected tests on models this step builds that also read a model it does
    not build. When one run materializes identity between dbt models, Dagster splits the dbt
    asset into steps: dimensions built from cleaned tables only (`dim_date`, `dim_campaign`,
    `dim_product`) come in the step before the facts, and a fact's relationship test to them
    belongs to the fact's step. dbt's indirect selection leaves such a test out (one parent is
    not selected), so it is selected by name."""
    nodes = manifest["nodes"]
    built = {
        unique_id
        for unique_id, node in nodes.items()
        if node["resource_type"] == "model" and _model_key(node) in selected_assets
    }
    names = []
    for node in nodes.values():
        attached = node.get("attached_node")
        if node["resource_type"] != "test" or attached not in built:
            continue
        if dg.AssetCheckKey(_model_key(nodes[attached]), node["name"]) not in selected_checks:
            continue
        parents = [parent for parent in node["depends_on"]["nodes"] if parent in nodes]
        if any(nodes[p]["resource_type"] == "model" and p not in built for p in parents):
            names.append(node["name"])
    return sorted(names)


def _node(nodes: Mapping[str, Any], output: dg.Output) -> Mapping[str, Any]:
    return nodes[str(output.metadata["unique_id"].value)]


def _with_table_metadata(
    context: dg.AssetExecutionContext,
    event: DbtEvent,
    db: WarehouseSession,
    nodes: Mapping[str, Any],
    counts: Mapping[str, dict[str, Any]],
    day: date,
) -> DbtEvent:
    """Row counts on every table the run built; segment sizes and changes on the segments."""
    if not isinstance(event, dg.Output):
        return event
    metadata: dict[str, Any] = dict(counts.get(_node(nodes, event)["unique_id"], {}))
    key = context.asset_key_for_output(event.output_name)
    if key == SEGMENT_MEMBERSHIP:
        metadata.update(segment_size_metadata(db, day))
    elif key == SEGMENT_HISTORY:
        metadata.update(segment_change_metadata(db, day))
    return event.with_metadata({**event.metadata, **metadata})


def _partition_column(node: Mapping[str, Any]) -> str | None:
    """The column an incremental model's partition is kept in: facts by landing day
    (partition_date), segments by as_of_date; a table has none."""
    if node["config"]["materialized"] != "incremental":
        return None
    return next(
        (name for name in ("as_of_date", "partition_date") if name in node["columns"]), None
    )


def _row_counts(
    db: WarehouseSession, built: Sequence[Mapping[str, Any]], day: date
) -> dict[str, dict[str, Any]]:
    """Per unique_id, in one query: an incremental model's rows of the partition and of the
    whole table; a table's rows. Views are not counted: counting one re-runs its whole query."""
    tables = [node for node in built if node["config"]["materialized"] != "view"]
    if not tables:
        return {}
    selects: list[str] = []
    parameters: list[Any] = []
    for node in tables:
        column = _partition_column(node)
        partition_rows = f"count(*) filter (where {column} = ?)" if column else "null"
        selects.append(
            f"select cast(? as varchar) as unique_id, count(*) as table_rows,"
            f" cast({partition_rows} as bigint) as partition_rows from {node['relation_name']}"
        )
        parameters += [node["unique_id"], day] if column else [node["unique_id"]]
    rows = db.query("\nunion all\n".join(selects), parameters).to_dicts()
    relations = {node["unique_id"]: node["relation_name"] for node in tables}
    counts: dict[str, dict[str, Any]] = {}
    for row in rows:
        metadata: dict[str, Any] = {
            "dagster/table_name": relations[row["unique_id"]].replace('"', "")
        }
        if row["partition_rows"] is None:
            metadata["dagster/row_count"] = int(row["table_rows"])
        else:
            metadata["table_row_count"] = int(row["table_rows"])
            metadata["dagster/row_count"] = int(row["partition_rows"])
        counts[row["unique_id"]] = metadata
    return counts


def segment_size_metadata(db: WarehouseSession, day: date) -> dict[str, Any]:
    """Each segment's size on `day` and its change since the evaluation before it."""
    rows = db.query(
        """
        with evaluations as (
            select ? as day,
                (select max(as_of_date) from segments.segment_membership where as_of_date < ?)
                    as previous_day
        )
        select
            segment,
            count(*) filter (where as_of_date = day) as members,
            count(*) filter (where as_of_date = previous_day) as previous_members,
            any_value(previous_day) as previous_day
        from segments.segment_membership, evaluations
        where as_of_date in (day, previous_day)
        group by segment
        order by segment
        """,
        [day, day],
    ).to_dicts()
    sizes: Mapping[str, dict[str, Any]] = {
        row["segment"]: {
            "members": row["members"],
            "change": row["members"] - row["previous_members"]
            if row["previous_day"] is not None
            else None,
        }
        for row in rows
    }
    metadata: dict[str, Any] = {"as_of_date": day.isoformat()}
    metadata["segment_sizes"] = dg.MetadataValue.json(dict(sizes))
    # One numeric entry per segment, so the UI plots each segment's size over time.
    for segment, size in sizes.items():
        metadata[f"size/{segment}"] = size["members"]
        if size["change"] is not None:
            metadata[f"change/{segment}"] = size["change"]
    return metadata


def segment_change_metadata(db: WarehouseSession, day: date) -> dict[str, Any]:
    """How many customers entered and left each segment on `day`."""
    rows = db.query(
        """
        select segment, event_type, count(*) as customers
        from segments.segment_history
        where as_of_date = ?
        group by all
        order by all
        """,
        [day],
    ).to_dicts()
    changes: dict[str, dict[str, int]] = {}
    for row in rows:
        changes.setdefault(row["segment"], {})[row["event_type"]] = row["customers"]
    return {"as_of_date": day.isoformat(), "changes": dg.MetadataValue.json(changes)}
