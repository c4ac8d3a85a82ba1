"""Views that need no `create view` today: a phase of views is built again only when something
that decides what the views are has changed.

A view stores its query, not rows, so re-creating an unchanged one gives the same relation,
and yet dbt spent about 60 ms on each (nine a day, about 0.5 s of every day's build). What decides
a view, and so goes into its phase's state here: the project (every file dbt parsed, its
version, `dbt_project.yml`), the query DuckDB keeps for each view (a view dropped or created
by hand with other vars changes it), and the columns of each view and of every relation the
views read (a cleaned table with a new column needs its `select *` view bound again). A phase
whose state equals the one recorded after its last successful build is reported as dbt's
`reused`; its tests still run on the day's data.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from graphlib import TopologicalSorter
from typing import Any

import dagster as dg

from platform_assets.transform.columns import relation_of

# Each view DuckDB keeps, by `schema.view`, with its query as stored.
VIEW_QUERIES = """
    select schema_name || '.' || view_name as relation, sql
    from duckdb_views()
    where not internal and database_name = current_database()
"""
# dbt's status for a node it did not build again because nothing it depends on changed.
REUSED = "reused"


def is_view(node: Mapping[str, Any]) -> bool:
    return bool(node["config"]["materialized"] == "view")


def views_state(
    manifest: Mapping[str, Any],
    views: Sequence[str],
    columns: Mapping[str, Sequence[Any]],
    queries: Mapping[str, str],
    project: str,
) -> str:
    """The state of a phase's `views` (unique_ids): `project`'s digest, each view's stored
    query (`queries`, by relation), and the columns (`columns`, by relation) of the views and
    of everything they read."""
    nodes, sources = manifest["nodes"], manifest["sources"]
    reads = {
        relation_of(nodes.get(parent) or sources[parent])
        for view in views
        for parent in nodes[view]["depends_on"]["nodes"]
    }
    own = sorted(relation_of(nodes[view]) for view in views)
    content = json.dumps(
        [
            project,
            [[relation, _comparable(queries.get(relation))] for relation in own],
            [[relation, columns.get(relation, [])] for relation in sorted(reads | set(own))],
        ],
        default=str,
    )
    return hashlib.sha256(content.encode()).hexdigest()


def _comparable(query: str | None) -> str | None:
    """A view's query as DuckDB writes it back from its parsed form, which quotes type names
    in a view it has just created (`"DATE"`) and not in one it read from the file: without
    quotes, case or runs of spaces, so the same view reads the same before and after."""
    if query is None:
        return None
    return re.sub(r"\s+", " ", query.replace('"', "")).strip().lower()


def selection_key(views: Sequence[str]) -> str:
    """Where a selection of views keeps its recorded state: a run of part of a phase records
    its own."""
    return hashlib.sha256(json.dumps(sorted(views)).encode()).hexdigest()[:16]


def in_build_order(nodes: Mapping[str, Any], views: Sequence[str]) -> list[str]:
    """The views, each after the views it reads: Dagster takes an asset's output only after
    its upstream assets' outputs of the same step."""
    selected = set(views)
    graph = {
        view: [parent for parent in nodes[view]["depends_on"]["nodes"] if parent in selected]
        for view in sorted(views)
    }
    return list(TopologicalSorter(graph).static_order())


def reused_output(manifest: Mapping[str, Any], unique_id: str, output_name: str) -> dg.Output:
    """The view's output, as dagster-dbt reports a node dbt reused."""
    node = manifest["nodes"][unique_id]
    return dg.Output(
        value=None,
        output_name=output_name,
        metadata={
            "unique_id": unique_id,
            "status": REUSED,
            "reused": f"view {relation_of(node)} kept: its definition and inputs are unchanged",
        },
    )
