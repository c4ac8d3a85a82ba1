"""Column types and column lineage of the dbt models, as the Dagster UI shows them.

Types come from the warehouse once dbt has returned (dagster-dbt's own fetch opens a second
DuckDB configuration in the process, which DuckDB refuses); descriptions from the model's YAML,
else from `platform_assets.columns`. Lineage is dagster-dbt's own (sqlglot over the compiled
SQL); it only changes with the SQL and its inputs' columns, so it is kept in the dbt target
folder and computed again only then. Each result is also shared, by that hash, through a file
beside the installed manifest: a new warehouse with the same models and columns (a rebuilt
demo, each test's, each benchmark's) reuses it instead of spending about 5 s in sqlglot.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator
from dagster_dbt.core.dbt_cli_event import EventHistoryMetadata, _build_column_lineage_metadata

from platform_assets.columns import describe
from resources import WarehouseSession
from resources.landing_zone import replace_atomically

LINEAGE_CACHE = "column_lineage.json"
# Results kept in the shared file: a few versions of every model, oldest dropped first.
SHARED_LINEAGE_ENTRIES = 500
# Read by the models' SQL outside ref() and source(): the partition window (partition_window.sql).
READ_DIRECTLY = ("ops.dbt_partition",)
Columns = dict[str, list[tuple[str, str]]]  # "schema.table" -> [(column, type)] in order

logger = logging.getLogger(__name__)


def warehouse_columns(db: WarehouseSession) -> tuple[Columns, set[str]]:
    """Every table's and view's columns in the warehouse file, in one query, and the
    `schema.table.column` of those that accept nulls."""
    rows = db.query(
        """
        select table_schema || '.' || table_name as relation, column_name, data_type,
            is_nullable = 'YES' as nullable
        from information_schema.columns
        where table_catalog = current_database()
        order by relation, ordinal_position
        """
    ).rows()
    columns: Columns = {}
    nullable: set[str] = set()
    for relation, column, data_type, accepts_null in rows:
        columns.setdefault(relation, []).append((column, data_type))
        if accepts_null:
            nullable.add(f"{relation}.{column}")
    return columns, nullable


def relation_of(props: Mapping[str, Any]) -> str:
    """`schema.table` of a model (alias) or source (identifier), without the catalog."""
    return f"{props['schema']}.{props.get('alias') or props['identifier']}"


def column_schema(node: Mapping[str, Any], columns: Columns) -> dg.TableSchema | None:
    built = columns.get(relation_of(node))
    if not built:
        return None
    documented = node.get("columns", {})
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name,
                data_type.lower(),
                description=(documented.get(name, {}).get("description") or describe(name)),
            )
            for name, data_type in built
        ]
    )


class LineageCache:
    """Column lineage per model, keyed by a hash of its compiled SQL and its inputs' columns:
    the warehouse's own in its target folder, and `shared` (deps by hash) across warehouses."""

    def __init__(self, target_path: Path, shared: Path | None = None) -> None:
        self.path = target_path / LINEAGE_CACHE
        self.entries: dict[str, Any] = read_json_object(self.path)
        self.shared_path = shared
        self.shared: dict[str, Any] = read_json_object(shared) if shared is not None else {}
        self.computed: dict[str, Any] = {}
        self.changed = False

    def lineage(
        self,
        node: Mapping[str, Any],
        manifest: Mapping[str, Any],
        columns: Columns,
        translator: DagsterDbtTranslator,
        target_path: Path,
    ) -> dg.TableColumnLineage | None:
        compiled = _compiled_sql_path(node, target_path)
        if compiled is None or relation_of(node) not in columns:
            return None
        parents = _parent_columns(node, manifest, columns)
        own = {name: {"data_type": t} for name, t in columns[relation_of(node)]}
        key = hashlib.sha256(
            json.dumps([compiled.read_text(), parents, own], sort_keys=True).encode()
        ).hexdigest()
        entry = self.entries.get(node["unique_id"])
        if entry is None or entry["key"] != key:
            if key in self.shared:
                deps = self.shared[key]
            else:
                deps = _computed(node, manifest, translator, target_path, own, parents)
                self.computed[key] = deps
            entry = {"key": key, "deps": deps}
            self.entries[node["unique_id"]] = entry
            self.changed = True
        if entry["deps"] is None:
            return None
        return dg.TableColumnLineage(
            deps_by_column={
                column: [dg.TableColumnDep(dg.AssetKey(path), name) for path, name in deps]
                for column, deps in entry["deps"].items()
            }
        )

    def save(self) -> None:
        if self.changed:
            write_json_object(self.path, self.entries)
        if self.computed and self.shared_path is not None:
            # Read again: other processes add theirs meanwhile (one lost update only costs a
            # recomputation). Newest last, so the oldest go first past the limit.
            shared = read_json_object(self.shared_path)
            for key in self.computed:
                shared.pop(key, None)
            entries = [*shared.items(), *self.computed.items()][-SHARED_LINEAGE_ENTRIES:]
            try:
                write_json_object(self.shared_path, dict(entries))
            except OSError as error:  # a read-only install: each warehouse keeps its own
                logger.debug("column lineage not shared: %s", error)


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object kept in a file, or an empty one if the file is missing or unreadable."""
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def write_json_object(path: Path, value: Mapping[str, Any]) -> None:
    """A JSON object written whole or not at all, even with another process writing the same
    file."""
    replace_atomically(path, json.dumps(value).encode())


def _compiled_sql_path(node: Mapping[str, Any], target_path: Path) -> Path | None:
    if node["resource_type"] != "model" or node.get("language") != "sql":
        return None
    path = target_path / "compiled" / node["package_name"] / node["original_file_path"]
    return path if path.exists() else None


def _parent_columns(
    node: Mapping[str, Any], manifest: Mapping[str, Any], columns: Columns
) -> dict[str, dict[str, dict[str, str]]]:
    parents = {}
    for parent_id in node["depends_on"]["nodes"]:
        props = (manifest["sources"] if parent_id.startswith("source.") else manifest["nodes"])[
            parent_id
        ]
        found = columns.get(relation_of(props), [])
        parents[props["relation_name"]] = {name: {"data_type": t} for name, t in found}
    for relation in READ_DIRECTLY:
        # sqlglot wants every table at the same depth: catalog.schema.table, like dbt's names.
        found = columns.get(relation, [])
        parents[f'"{node["database"]}".{relation}'] = {n: {"data_type": t} for n, t in found}
    return parents


def _computed(
    node: Mapping[str, Any],
    manifest: Mapping[str, Any],
    translator: DagsterDbtTranslator,
    target_path: Path,
    own: dict[str, dict[str, str]],
    parents: dict[str, dict[str, dict[str, str]]],
) -> dict[str, list[list[Any]]] | None:
    try:
        metadata = _build_column_lineage_metadata(
            event_history_metadata=EventHistoryMetadata(columns=own, parents=parents),
            dbt_resource_props=dict(node),
            manifest=manifest,
            dagster_dbt_translator=translator,
            target_path=target_path,
            project=None,
        )
    except Exception as error:  # noqa: BLE001 - lineage is a nicety; the build stands without it
        logger.info("no column lineage for %s: %s", node["unique_id"], error)
        return None
    lineage = metadata.get("dagster/column_lineage")
    if lineage is None:
        return None
    return {
        column: [[list(dep.asset_key.path), dep.column_name] for dep in deps]
        for column, deps in lineage.deps_by_column.items()
    }
