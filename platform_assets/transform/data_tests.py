"""dbt's data tests of a day's build, run as one query per build phase and reported one by one.

dbt runs each test as a node of its own: about 20 ms of its Python (compiling the test, its
materialization, its events) around a query DuckDB answers in about 3 ms. A day's 100 tests cost
dbt about 2 s; asked as one `union all` of their compiled SQL they cost DuckDB about 0.3 s. Each
test keeps its own check, status and failing-row count.

What `dbt build` guarantees is kept by phase (BUILD_PHASES): a phase's models are built, then
their tests run, and a model whose blocking test failed (or that failed to build) holds back its
descendants in every later phase. Within a phase, models are built before any of its tests run.
The first phase is the views (staging, intermediate), which store nothing; each later phase
stores tables only from models whose tests passed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from platform_assets.transform.columns import relation_of
from platform_assets.transform.settings import BUILD_PHASES


@dataclass(frozen=True)
class DataTestOutcome:
    """One data test's result: dbt's status (pass, warn, fail or error) and its failing rows
    (None when the query itself failed)."""

    unique_id: str
    status: str
    failures: int | None
    message: str | None = None

    @property
    def blocks(self) -> bool:
        """Whether the test holds its model's descendants back, as `dbt build` does."""
        return self.status in ("fail", "error")


@dataclass(frozen=True)
class DataTestSource:
    """What compiling a data test depends on beyond the project's files: the columns of the
    relations it reads (`no_email_addresses_in_text` lists a model's text columns as they are
    in the warehouse, so a new column must compile the test again)."""

    unique_id: str
    selector: str  # dbt's selector for the test alone: its fqn
    inputs: str  # a hash of the columns of the relations it reads


def data_test_source(
    nodes: Mapping[str, Any], unique_id: str, columns: Mapping[str, Sequence[Any]]
) -> DataTestSource:
    """The test and the warehouse's columns of what it reads (`schema.table` -> columns)."""
    reads = sorted(
        relation_of(nodes[node])
        for node in nodes[unique_id]["depends_on"]["nodes"]
        if node in nodes
    )
    inputs = json.dumps([[relation, columns.get(relation, [])] for relation in reads])
    return DataTestSource(
        unique_id=unique_id,
        selector=".".join(nodes[unique_id]["fqn"]),
        inputs=hashlib.sha256(inputs.encode()).hexdigest(),
    )


def phase_of(node: Mapping[str, Any]) -> int:
    """The build phase of a model, by its layer (its schema)."""
    layer = node["config"].get("schema")
    for index, layers in enumerate(BUILD_PHASES):
        if layer in layers:
            return index
    raise ValueError(
        f"dbt model {node['unique_id']} is in layer {layer!r}, which no build phase lists:"
        " add it to BUILD_PHASES in platform_assets/transform/settings.py"
    )


def models_by_phase(nodes: Mapping[str, Any], models: Iterable[str]) -> list[list[str]]:
    """The selected models, phase by phase (a phase with none selected is empty)."""
    phases: list[list[str]] = [[] for _ in BUILD_PHASES]
    for unique_id in sorted(models):
        phases[phase_of(nodes[unique_id])].append(unique_id)
    return phases


def data_tests_by_phase(
    nodes: Mapping[str, Any], tests: Iterable[str], models: Iterable[str]
) -> list[list[str]]:
    """Each selected test in the phase after which every model it reads that this run builds
    is built: a relationship test of a segment against a dimension runs after the segments."""
    built = {unique_id: phase_of(nodes[unique_id]) for unique_id in models}
    phases: list[list[str]] = [[] for _ in BUILD_PHASES]
    for unique_id in sorted(tests):
        reads = nodes[unique_id]["depends_on"]["nodes"]
        phases[max((built[node] for node in reads if node in built), default=0)].append(unique_id)
    return phases


def descendants(child_map: Mapping[str, Sequence[str]], roots: Iterable[str]) -> set[str]:
    """Every node below `roots` in dbt's graph (the manifest's child_map), roots excluded."""
    found: set[str] = set()
    frontier = list(roots)
    while frontier:
        for child in child_map.get(frontier.pop(), ()):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def failures_select(unique_id: str, config: Mapping[str, Any], compiled_sql: str) -> str:
    """dbt's own test query (its `get_test_sql`): the failure count and whether it warns or
    errors by the test's `fail_calc`, `warn_if`, `error_if` and `limit`, for one test."""
    limit = f"\nlimit {int(config['limit'])}" if config.get("limit") is not None else ""
    fail_calc = config.get("fail_calc") or "count(*)"
    return (
        f"select '{_literal(unique_id)}' as unique_id,"
        f" cast({fail_calc} as bigint) as failures,"
        f" ({fail_calc}) {config.get('warn_if') or '!= 0'} as should_warn,"
        f" ({fail_calc}) {config.get('error_if') or '!= 0'} as should_error"
        f"\nfrom (\n{compiled_sql}{limit}\n) dbt_internal_test"
    )


def failures_query(selects: Sequence[str]) -> str:
    """The tests' queries as one, a row per test."""
    return "\nunion all\n".join(f"({select})" for select in selects)


def status_of(config: Mapping[str, Any], should_warn: bool, should_error: bool) -> str:
    """dbt's status of a test from its query's flags (dbt's TestRunner): an error-severity test
    past `error_if` fails; else any test past `warn_if` warns; else it passes (a warn-severity
    test ignores `error_if`)."""
    if str(config.get("severity", "error")).lower() == "error" and should_error:
        return "fail"
    if should_warn:
        return "warn"
    return "pass"


def outcomes(
    nodes: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]
) -> dict[str, DataTestOutcome]:
    """Each test's outcome from its row of `failures_query`."""
    found: dict[str, DataTestOutcome] = {}
    for row in rows:
        config = nodes[row["unique_id"]]["config"]
        status = status_of(config, bool(row["should_warn"]), bool(row["should_error"]))
        found[row["unique_id"]] = DataTestOutcome(row["unique_id"], status, int(row["failures"]))
    return found


def blocked_models(nodes: Mapping[str, Any], results: Iterable[DataTestOutcome]) -> set[str]:
    """The models whose blocking tests failed or errored: a test blocks what it is attached to
    (a relationship test, its child model), like dbt's build."""
    return {
        str(nodes[result.unique_id].get("attached_node") or _only_parent(nodes[result.unique_id]))
        for result in results
        if result.blocks
    }


def _only_parent(test: Mapping[str, Any]) -> str:
    # A singular test has no attached node; it reads one model (or names its ref in meta).
    (parent, *_) = test["depends_on"]["nodes"]
    return str(parent)


def _literal(value: str) -> str:
    return value.replace("'", "''")
