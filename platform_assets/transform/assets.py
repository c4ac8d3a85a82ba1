"""The dbt project as one partitioned multi-asset: staging, intermediate, star and segments."""

import shutil
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import dbt_assets
from dagster_dbt.asset_utils import get_asset_check_key_for_test
from dagster_dbt.dbt_manifest import validate_manifest

from platform_assets.partitions import DAILY_WRITER_STEP
from platform_assets.transform.columns import (
    LINEAGE_CACHE,
    Columns,
    LineageCache,
    column_schema,
    relation_of,
    warehouse_columns,
)
from platform_assets.transform.data_tests import (
    DataTestOutcome,
    blocked_models,
    data_test_source,
    data_tests_by_phase,
    descendants,
    failures_query,
    failures_select,
    models_by_phase,
    outcomes,
)
from platform_assets.transform.personas import CENTROIDS_TABLE, persona_table
from platform_assets.transform.project import CdpDbtCliResource, DbtBuild, partition_vars
from platform_assets.transform.settings import BUILD_PHASES, DBT_MANIFEST_PATH
from platform_assets.transform.translator import CdpDbtTranslator
from platform_assets.transform.views import (
    VIEW_QUERIES,
    in_build_order,
    is_view,
    reused_output,
    selection_key,
    views_state,
)
from resources import Warehouse, WarehouseSession
from resources.warehouse import resolve_duckdb_path

SEGMENT_MEMBERSHIP = dg.AssetKey(["segments", "segment_membership"])
SEGMENT_HISTORY = dg.AssetKey(["segments", "segment_history"])
PERSONAS = dg.AssetKey(["segments", "personas"])
PARTITION_WINDOW_TABLE = "ops.dbt_partition"

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
    manifest_json = validate_manifest(manifest)
    dbt_nodes = DbtNodes(manifest_json)

    @dbt_assets(
        manifest=manifest_json,
        name="dbt_models",
        dagster_dbt_translator=TRANSLATOR,
        # One run per day: each day's segments are evaluated as of the end of that day.
        **DAILY_WRITER_STEP,
    )
    def dbt_models(
        context: dg.AssetExecutionContext, dbt: CdpDbtCliResource, warehouse: Warehouse
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
        # The file held open for the step: a dozen sessions and dbt's own connections share
        # one open database instead of each opening the file.
        with warehouse.held():
            window = partition_vars(context.partition_key, now=datetime.now(UTC))
            context.log.info(f"dbt partition window: {window}")
            # The window goes through a table, not --vars: unchanged vars keep dbt's partial parse
            # valid, and the per-warehouse target folder keeps the parse between runs.
            with warehouse.session() as db:
                write_partition_window(db, context.partition_key, window)
            target_path = dbt_target_path(warehouse.path)
            models, tests = dbt_nodes.selected(context)
            try:
                build = build_in_phases(
                    context, dbt, warehouse, manifest_json, models, tests, target_path
                )
            finally:
                with warehouse.session() as db:
                    clear_partition_window(db)
            # DuckDB has one writer and refuses a second configuration in one process, so row
            # counts and segment sizes are read through the warehouse once dbt has returned,
            # rather than by dagster-dbt's fetch_row_counts.
            nodes = manifest_json["nodes"]
            # Facts land the partition's day and segments are stored under it (as_of_date).
            day = date.fromisoformat(context.partition_key)
            built = [_node(nodes, event) for event in build.events if isinstance(event, dg.Output)]
            lineage = LineageCache(target_path, shared=DBT_MANIFEST_PATH.parent / LINEAGE_CACHE)
            with warehouse.session() as db:
                counts = _row_counts(db, built, day)
                columns, nullable = warehouse_columns(db)
                for event in build.events:
                    described = _with_columns(event, manifest_json, columns, lineage)
                    yield _with_table_metadata(context, described, db, nodes, counts, day)
            lineage.save()
            if build.error is not None:
                raise build.error
            if (failure := not_null_failure(built, nullable)) is not None:
                raise failure

    return dbt_models


def build_in_phases(
    context: dg.AssetExecutionContext,
    dbt: CdpDbtCliResource,
    warehouse: Warehouse,
    manifest: Mapping[str, Any],
    models: Collection[str],
    tests: Mapping[str, dg.AssetCheckKey],
    target_path: Path,
) -> DbtBuild:
    """The day's build, phase by phase (data_tests.py): dbt runs a phase's models, then the
    phase's tests run as one query; a model that failed, or whose blocking test failed, holds
    its descendants back from the later phases, as `dbt build` would skip them."""
    nodes = manifest["nodes"]
    events: list[Any] = []
    failed: set[str] = set()  # models that failed or were skipped, and tests that blocked
    held: set[str] = set()
    errors: list[Exception] = []  # dbt's own, with no node to blame (a compilation error)
    for layers, phase_models, phase_tests in zip(
        BUILD_PHASES, models_by_phase(nodes, models), data_tests_by_phase(nodes, tests, models),
        strict=True,
    ):  # fmt: skip
        started = time.perf_counter()
        building = [model for model in phase_models if model not in held]
        views = building if building and all(is_view(nodes[m]) for m in building) else []
        if views:
            selection = selection_key(views)
            with warehouse.session() as db:
                state = _views_state(db, dbt, manifest, views, target_path)
            if state == dbt.built_views(target_path, selection):
                events += [
                    reused_output(manifest, view, _output_name(nodes[view]))
                    for view in in_build_order(nodes, views)
                ]
                building = []
        views_built = False
        if building:
            run = dbt.run_in_process(
                ["run", "--select", *(".".join(nodes[model]["fqn"]) for model in building)],
                context=context,
                manifest=manifest,
                translator=TRANSLATOR,
                target_path=target_path,
            )
            events += run.events
            failed |= run.failed
            if run.error is not None and not run.failed:
                errors.append(run.error)
            views_built = bool(views) and run.error is None
        built = time.perf_counter()
        ready = [
            test
            for test in phase_tests
            if not set(nodes[test]["depends_on"]["nodes"]) & (failed | held)
        ]
        with warehouse.session() as db:
            columns, _ = warehouse_columns(db)
            if views_built:
                # Recorded only once dbt built every view of the selection.
                state = _views_state(db, dbt, manifest, views, target_path, columns)
                dbt.record_built_views(target_path, selection, state)
        sources = [data_test_source(nodes, test, columns) for test in ready]
        compiled = dbt.compiled_tests(target_path, sources)
        with warehouse.session() as db:
            results = run_tests(db, nodes, compiled.sql)
        # A test dbt could not compile errors, as in `dbt build`, and blocks what is below.
        results.update(
            (test, DataTestOutcome(test, "error", None, f"dbt could not compile it: {reason}"))
            for test, reason in compiled.errors.items()
        )
        reused = f", {len(views)} view(s) reused" if views and not building else ""
        context.log.info(
            f"dbt phase {'+'.join(layers)}: {len(building)} model(s){reused} in"
            f" {built - started:.2f} s, {len(results)} test(s) in"
            f" {time.perf_counter() - built:.2f} s"
        )
        events += [check_result(tests[test], results[test]) for test in sorted(results)]
        blocked = blocked_models(nodes, results.values())
        failed |= {test for test, result in results.items() if result.blocks}
        held |= descendants(manifest["child_map"], failed | blocked) - failed
    held &= set(models)
    error = errors[0] if errors else build_failure(failed, held)
    return DbtBuild(events=events, error=error)


def _views_state(
    db: WarehouseSession,
    dbt: CdpDbtCliResource,
    manifest: Mapping[str, Any],
    views: Sequence[str],
    target_path: Path,
    columns: Columns | None = None,
) -> str:
    if columns is None:
        columns, _ = warehouse_columns(db)
    queries = dict(db.query(VIEW_QUERIES).rows())
    return views_state(manifest, views, columns, queries, dbt.project_digest(target_path))


def _output_name(node: Mapping[str, Any]) -> str:
    return TRANSLATOR.get_asset_key(node).to_python_identifier()


class DbtNodes:
    """The dbt nodes behind the asset's keys: models by asset key, data tests by check key."""

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        self.manifest = manifest

    @cached_property
    def models(self) -> dict[dg.AssetKey, str]:
        return {
            TRANSLATOR.get_asset_key(node): unique_id
            for unique_id, node in self.manifest["nodes"].items()
            if node["resource_type"] == "model"
        }

    @cached_property
    def tests(self) -> dict[dg.AssetCheckKey, str]:
        return {
            key: unique_id
            for unique_id, node in self.manifest["nodes"].items()
            if node["resource_type"] == "test"
            and (key := get_asset_check_key_for_test(self.manifest, TRANSLATOR, unique_id, None))
        }

    def selected(
        self, context: dg.AssetExecutionContext
    ) -> tuple[list[str], dict[str, dg.AssetCheckKey]]:
        """The models (unique_ids) of the run's selected assets, and the data tests of its
        selected checks with their check keys."""
        models = [self.models[key] for key in context.selected_asset_keys if key in self.models]
        tests = {
            self.tests[key]: key for key in context.selected_asset_check_keys if key in self.tests
        }
        return models, tests


def run_tests(
    db: WarehouseSession, nodes: Mapping[str, Any], compiled: Mapping[str, str]
) -> dict[str, DataTestOutcome]:
    """The tests' outcomes from one query; a test whose own query fails errors, alone."""
    if not compiled:
        return {}
    selects = {
        test: failures_select(test, nodes[test]["config"], sql) for test, sql in compiled.items()
    }
    try:
        return outcomes(nodes, db.query(failures_query(list(selects.values()))).to_dicts())
    except duckdb.Error:
        pass  # one test's query fails the union: ask each alone to name it
    results: dict[str, DataTestOutcome] = {}
    for test, select in selects.items():
        try:
            results.update(outcomes(nodes, db.query(select).to_dicts()))
        except duckdb.Error as error:
            results[test] = DataTestOutcome(test, "error", None, f"{type(error).__name__}: {error}")
    return results


def check_result(key: dg.AssetCheckKey, outcome: DataTestOutcome) -> dg.AssetCheckResult:
    """A test's outcome as its Dagster check, as dagster-dbt reports one dbt ran."""
    metadata: dict[str, Any] = {"status": outcome.status}
    if outcome.failures is not None:
        metadata["dagster_dbt/failed_row_count"] = outcome.failures
    if outcome.message is not None:
        metadata["error"] = outcome.message
    return dg.AssetCheckResult(
        asset_key=key.asset_key,
        check_name=key.name,
        passed=outcome.status == "pass",
        severity=dg.AssetCheckSeverity.WARN
        if outcome.status == "warn"
        else dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
    )


def build_failure(failed: Collection[str], held: Collection[str]) -> dg.Failure | None:
    """The day's failure: what failed (models and blocking tests) and what it held back."""
    if not failed and not held:
        return None
    names = sorted(failed)
    return dg.Failure(
        f"dbt build failed: {len(names)} node(s) failed: {', '.join(names[:20])}"
        + (f"; {len(held)} model(s) held back below them: {', '.join(sorted(held)[:20])}"
           if held else ""),
        metadata={
            "failed_nodes": dg.MetadataValue.json(names),
            "held_back_models": dg.MetadataValue.json(sorted(held)),
        },
    )  # fmt: skip


def not_null_failure(built: Sequence[Mapping[str, Any]], nullable: set[str]) -> dg.Failure | None:
    """The step's failure when a built model's table accepts nulls its contract forbids."""
    unenforced = unenforced_not_null(built, nullable)
    if not unenforced:
        return None
    columns_named = [f"{relation}.{column}" for relation, column in unenforced]
    statements = [
        f'alter table {relation} alter column "{column}" set not null'
        for relation, column in unenforced
    ]
    return dg.Failure(
        f"{len(unenforced)} column(s) the contracts declare not null are nullable in"
        f" the warehouse: {', '.join(columns_named[:10])}. The tables were created before"
        " those constraints were declared (dbt applies a contract when it creates a"
        " table, and an incremental table is created once). Declare them on the tables,"
        " which keeps every row and every day (DuckDB refuses if a null is already"
        f" there): {'; '.join(statements[:10])}",
        metadata={
            "columns": dg.MetadataValue.json(columns_named),
            "statements": dg.MetadataValue.json(statements),
        },
    )


def unenforced_not_null(
    built: Sequence[Mapping[str, Any]], nullable: set[str]
) -> list[tuple[str, str]]:
    """(`schema.table`, column) of every column a built model's enforced contract declares
    not null (or a primary key) that the warehouse's table still accepts nulls in (`nullable`,
    as `schema.table.column`). Not-null has no test of its own: the constraint is the check, so
    a table without it would let nulls in unseen."""
    return sorted(
        (relation_of(node), name)
        for node in built
        if node["config"].get("contract", {}).get("enforced")
        for name, column in node["columns"].items()
        if any(c["type"] in ("not_null", "primary_key") for c in column.get("constraints", []))
        and f"{relation_of(node)}.{name}" in nullable
    )


def write_partition_window(
    db: WarehouseSession, partition_key: str, window: Mapping[str, Any]
) -> None:
    """The one row dbt's macros read the partition window from (macros/partition_window.sql)."""
    db.execute("create schema if not exists ops")
    db.execute(
        f"create or replace table {PARTITION_WINDOW_TABLE} as select ?::varchar as partition_key,"
        " ?::date as min_date, ?::date as max_date, ?::timestamptz as as_of",
        [partition_key, window["min_date"], window["max_date"], window["as_of"]],
    )


def clear_partition_window(db: WarehouseSession) -> None:
    """Empty once dbt has returned: a build by hand afterwards covers every day, as of now."""
    db.execute(f"delete from {PARTITION_WINDOW_TABLE}")


def dbt_target_path(warehouse_path: Path) -> Path:
    """dbt's target folder for one warehouse, kept between runs so dbt's partial parse survives
    (dagster-dbt's default is a new folder per run, which parses the project every time), and
    its compiled SQL, run results and column lineage with it. Seeded from the parse `make
    install` made: the profile names the warehouse file but not its folder (the plugin opens
    CDP_DUCKDB_PATH), so that parse is valid for every warehouse called `warehouse.duckdb`."""
    target = warehouse_path.parent / f"{warehouse_path.stem}.dbt-target"
    seed = DBT_MANIFEST_PATH.parent / "partial_parse.msgpack"
    if not (target / seed.name).exists() and seed.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seed, target / seed.name)
    return target


def _node(nodes: Mapping[str, Any], output: dg.Output) -> Mapping[str, Any]:
    return nodes[str(output.metadata["unique_id"].value)]


def _without_noise(event: dg.Output) -> dg.Output:
    return dg.Output(
        event.value,
        output_name=event.output_name,
        metadata={k: v for k, v in event.metadata.items() if k not in DBT_NOISE},
        data_version=event.data_version,
        tags=event.tags,
    )


# dagster-dbt's bookkeeping on every event: the manifest node and the dbt invocation, which say
# nothing to a person reading the asset (the node is the asset, the run id names the run).
DBT_NOISE = ("unique_id", "invocation_id")


def _with_columns(
    event: DbtEvent, manifest: Mapping[str, Any], columns: Columns, lineage: LineageCache
) -> DbtEvent:
    """Column types and lineage on a built model; dagster-dbt's bookkeeping off every event."""
    if isinstance(event, dg.AssetCheckResult):
        return event.with_metadata({k: v for k, v in event.metadata.items() if k not in DBT_NOISE})
    if not isinstance(event, dg.Output):
        return event
    node = _node(manifest["nodes"], event)
    metadata: dict[str, Any] = {}
    schema = column_schema(node, columns)
    if schema is not None:
        metadata["dagster/column_schema"] = schema
    column_lineage = lineage.lineage(node, manifest, columns, TRANSLATOR, lineage.path.parent)
    if column_lineage is not None:
        metadata["dagster/column_lineage"] = column_lineage
    return event.with_metadata({**event.metadata, **metadata})


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
    elif key == PERSONAS:
        metadata.update(persona_metadata(db, day))
    return _without_noise(event.with_metadata({**event.metadata, **metadata}))


def _partition_column(node: Mapping[str, Any]) -> str | None:
    """The column an incremental model's partition is kept in: facts by landing day
    (partition_date), segments by as_of_date; a table has none."""
    if node["config"]["materialized"] != "incremental":
        return None
    return next(
        (name for name in ("as_of_date", "partition_date") if name in node["columns"]), None
    )


def _relation(node: Mapping[str, Any]) -> str:
    """`schema.table`, without the catalog: the manifest's catalog is the name of the file dbt
    parsed at install, and the warehouse file may have any name."""
    return f'"{node["schema"]}"."{node["alias"]}"'


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
            f" cast({partition_rows} as bigint) as partition_rows from {_relation(node)}"
        )
        parameters += [node["unique_id"], day] if column else [node["unique_id"]]
    rows = db.query("\nunion all\n".join(selects), parameters).to_dicts()
    relations = {node["unique_id"]: _relation(node) for node in tables}
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


def persona_metadata(db: WarehouseSession, day: date) -> dict[str, Any]:
    """The day's personas: k, silhouette score and each persona's size and centroid."""
    centroids = db.query(f"select * from {CENTROIDS_TABLE} where as_of_date = ?", [day])
    if centroids.is_empty():
        return {"k": 0, "personas": dg.MetadataValue.md("no buyers to cluster")}
    return {
        "k": int(centroids["k"][0]),
        "silhouette_score": float(centroids["silhouette_score"][0]),
        "personas": dg.MetadataValue.md(persona_table(centroids.sort("persona"))),
    }
