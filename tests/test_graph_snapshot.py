"""The whole asset graph as a reviewed snapshot: every key, group, partitioning, dependency and
check, dbt included. A refactor that re-wires lineage fails here; a deliberate change shows as a
diff of `tests/__snapshots__/test_graph_snapshot.ambr` (`pytest --snapshot-update` writes it)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from platform_assets.definitions import defs


def _graph() -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    nodes: dict[str, Any] = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        nodes[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": (
                f"daily from {partitions.start.date().isoformat()}"
                if isinstance(partitions, dg.DailyPartitionsDefinition)
                else repr(partitions)
            ),
            "depends_on": sorted(parent.to_user_string() for parent in node.parent_keys),
            "checks": sorted(
                f"{check.name}{' (blocking)' if graph.get_check_spec(check).blocking else ''}"
                for check in node.check_keys
            ),
            "automation": node.automation_condition.get_label()
            if node.automation_condition
            else None,
            "kinds": sorted(node.kinds),
        }
    return nodes


def test_the_asset_graph_matches_its_reviewed_snapshot(snapshot: Any) -> None:
    assert _graph() == snapshot


def test_the_snapshot_covers_every_layer_from_landing_file_to_audience_file() -> None:
    groups = {node["group"] for node in _graph().values()}
    assert groups == {
        "landing", "raw", "cleaned", "identity", "staging", "intermediate", "star", "segments",
        "exports", "email_platform",
    }  # fmt: skip
