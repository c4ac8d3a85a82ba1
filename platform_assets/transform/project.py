"""The dbt project as Dagster sees it: its manifest, its resource and the partition vars."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource

from platform_assets.loading import collector_paused
from platform_assets.transform.columns import read_json_object, write_json_object
from platform_assets.transform.data_tests import DataTestSource
from platform_assets.transform.settings import DBT_MANIFEST_PATH, DBT_PROJECT_DIR

logger = logging.getLogger(__name__)
# The data tests' compiled SQL, with the state of the project it was compiled from.
COMPILED_TESTS = "compiled_data_tests.json"
# The state of each phase of views after its last successful build (transform/views.py).
BUILT_VIEWS = "built_views.json"


class DbtManifestMissingError(FileNotFoundError):
    pass


def manifest_path(path: Path = DBT_MANIFEST_PATH) -> Path:
    """The parsed dbt manifest, which `make install` writes; a clear error when it is missing."""
    if not path.is_file():
        raise DbtManifestMissingError(
            f"dbt manifest not found at {path}. Run `make install` (it runs `dbt parse` in"
            f" {DBT_PROJECT_DIR}) before loading the definitions, or after changing the dbt"
            " project."
        )
    return path


def dbt_executable() -> str:
    """The dbt installed beside this Python, so a run does not depend on the caller's PATH."""
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else shutil.which("dbt") or "dbt"


class CdpDbtCliResource(DbtCliResource):
    """dagster-dbt's resource (its project and profiles settings), with dbt run in this process
    (`run_in_process`, what the daily asset uses) instead of `cli()`'s subprocess, and the data
    tests compiled once (`compiled_tests`)."""

    def run_in_process(
        self,
        args: Sequence[str],
        *,
        context: dg.AssetExecutionContext,
        manifest: Mapping[str, Any],
        translator: DagsterDbtTranslator,
        target_path: Path,
    ) -> DbtBuild:
        """Runs dbt (`args`: its command and selection) in this process on the project parsed
        once per process and target folder, and returns the Dagster events of its results.

        A `dbt` subprocess costs about four seconds before its first model on 2 cores (start-up,
        imports, checking the parse); in process, with the parsed project kept, a build starts
        at once. DuckDB allows one writer process: this is it while dbt runs, and every
        connection dbt opened is closed before this returns."""
        from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
        from dbt.cli.main import dbtRunner
        from dbt_common.events.functions import msg_to_dict

        results: list[dict[str, Any]] = []

        def keep_results(message: Any) -> None:
            # dbt fires thousands of events a build; only the node results become Dagster's.
            if message.info.name in _RESULT_EVENTS:
                results.append(msg_to_dict(message))

        with _DBT_LOCK:
            parsed = self._parsed(target_path)
            outcome = dbtRunner(manifest=parsed, callbacks=[keep_results]).invoke(
                [*args, "--no-write-json", *self._common_args(target_path)]
            )
            close_dbt_connections()
        events = [
            event
            for raw in results
            for event in DbtCoreCliEventMessage(
                raw_event=raw, event_history_metadata={}
            ).to_default_asset_events(
                manifest=manifest,
                dagster_dbt_translator=translator,
                context=context,
                target_path=target_path,
            )
        ]
        return DbtBuild(events=events, error=_build_error(outcome), failed=_failed_nodes(outcome))

    def compiled_tests(self, target_path: Path, tests: Sequence[DataTestSource]) -> CompiledTests:
        """The data tests' compiled SQL by unique_id, compiled by dbt only when the project or
        the columns a test reads changed since it was last compiled, and the reason for each
        test dbt could not compile.

        Compiling costs dbt about 20 ms a test; the SQL reads the partition window from the
        warehouse (macros/partition_window.sql), so it is the same every day and is kept: in the
        warehouse's target folder, and in the project's own for every warehouse of the same
        name (like the saved parse). Call it once the tables the tests read are built: a test
        that lists a model's columns compiles against the table."""
        if not tests:
            return CompiledTests({}, {})
        places = [target_path / COMPILED_TESTS, Path(self.project_dir) / "target" / COMPILED_TESTS]
        with _DBT_LOCK:
            parsed = self._parsed(target_path)
            project = project_digest(parsed, Path(self.project_dir))
            keys = {
                test.unique_id: hashlib.sha256(f"{project}:{test.inputs}".encode()).hexdigest()
                for test in tests
            }
            kept = [read_json_object(place) for place in places]
            found: dict[str, str] = {}
            for test, key in keys.items():
                entry = next((k[test] for k in kept if k.get(test, {}).get("key") == key), None)
                if entry is not None:
                    found[test] = str(entry["sql"])
            missing = [test for test in tests if test.unique_id not in found]
            if not missing:
                return CompiledTests(found, {})
            from dbt.cli.main import dbtRunner

            with collector_paused(freeze=False):
                outcome = dbtRunner(manifest=parsed).invoke(
                    ["compile", "--quiet", "--no-write-json",
                     "--select", *(test.selector for test in missing),
                     *self._common_args(target_path)]
                )  # fmt: skip
            close_dbt_connections()
        results = [
            r for r in getattr(outcome.result, "results", None) or [] if r.node.unique_id in keys
        ]
        compiled = {
            r.node.unique_id: str(r.node.compiled_code)
            for r in results
            if str(r.status) == "success"
        }
        errors = {
            r.node.unique_id: str(r.message) for r in results if r.node.unique_id not in compiled
        }
        for source in missing:
            if source.unique_id not in compiled and source.unique_id not in errors:
                errors[source.unique_id] = (
                    f"dbt did not compile it ({outcome.exception or 'not in the dbt project'}):"
                    " if the project changed since its manifest was written, run `make install`"
                    " and reload the definitions"
                )
        found.update(compiled)
        for place, entries in zip(places, kept, strict=True):
            entries.update(
                {test: {"key": keys[test], "sql": sql} for test, sql in compiled.items()}
            )
            try:
                write_json_object(place, entries)
            except OSError as error:  # a read-only install: the target folder keeps its own
                logger.debug("compiled tests not shared: %s", error)
        return CompiledTests(found, errors)

    def project_digest(self, target_path: Path) -> str:
        """The digest of the project as parsed for this target folder (`project_digest`)."""
        with _DBT_LOCK:
            return project_digest(self._parsed(target_path), Path(self.project_dir))

    def built_views(self, target_path: Path, selection: str) -> str | None:
        """The state a selection of views had after dbt last built it in this warehouse."""
        state = read_json_object(target_path / BUILT_VIEWS).get(selection)
        return state if isinstance(state, str) else None

    def record_built_views(self, target_path: Path, selection: str, state: str) -> None:
        recorded = read_json_object(target_path / BUILT_VIEWS)
        recorded[selection] = state
        write_json_object(target_path / BUILT_VIEWS, recorded)

    def _common_args(self, target_path: Path) -> list[str]:
        return [
            "--project-dir", self.project_dir, "--profiles-dir", str(self.profiles_dir),
            "--target-path", str(target_path), "--log-path", str(target_path),
            # dbt.log in the target folder at info, like the run's own output: at debug it
            # holds every statement of every node, and its threads queue on the file's lock
            # (a tenth of a day's build). The compiled SQL stays in the target folder.
            "--log-level-file", "info",
        ]  # fmt: skip

    def _parsed(self, target_path: Path) -> Any:
        """The project parsed for this target folder (its profile: one warehouse file), once
        per process; dbt's partial parse in the folder makes the first parse quick too."""
        key = (self.project_dir, str(target_path))
        if key not in _PARSED:
            from dbt.cli.main import dbtRunner

            # --no-write-json: the build writes manifest.json and run_results.json; the parse's
            # own copy (and semantic_manifest.json) was written and never read, 0.13 s a
            # process. The partial-parse file is still saved.
            # The parsed project is kept; the parse's own garbage is reclaimed after it.
            with collector_paused(freeze=False):
                outcome = dbtRunner().invoke(
                    ["parse", "--quiet", "--no-write-json", *self._common_args(target_path)]
                )
            if not outcome.success:
                raise dg.Failure(f"dbt could not parse the project: {outcome.exception}")
            _PARSED[key] = outcome.result
        return _PARSED[key]


# The node results dagster-dbt turns into outputs and check results.
_RESULT_EVENTS = frozenset(
    {"LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult"}
)
# Parsed projects by (project folder, target folder), for the life of the process.
_PARSED: dict[tuple[str, str], Any] = {}
# dbt's in-process runner keeps global state (flags, adapters, event manager): one at a time.
_DBT_LOCK = threading.Lock()


@dataclass(frozen=True)
class CompiledTests:
    """Data tests' compiled SQL by unique_id, and why dbt could not compile the others."""

    sql: dict[str, str]
    errors: dict[str, str]


@dataclass(frozen=True)
class DbtBuild:
    """What an in-process dbt invocation produced: the Dagster events of its node results,
    the error that failed it (a failed model or test, or dbt's own), if any, and the nodes
    that failed or were skipped."""

    events: list[Any]
    error: Exception | None
    failed: frozenset[str] = frozenset()


def _failed_nodes(outcome: Any) -> frozenset[str]:
    return frozenset(
        result.node.unique_id
        for result in getattr(outcome.result, "results", None) or []
        if str(result.status) in ("error", "fail", "skipped")
    )


def project_digest(parsed: Any, project_dir: Path) -> str:
    """What a compiled test or a view depends on in the project: every file dbt parsed (the
    project's and its adapter's macros), `dbt_project.yml` (vars and configs, which dbt reads
    without keeping it among its files), the dbt version and the database the target names."""
    database = next(
        (node.database for node in parsed.nodes.values() if node.resource_type == "model"), ""
    )
    files = sorted(f"{name}:{file.checksum.checksum}" for name, file in parsed.files.items())
    settings = hashlib.sha256((project_dir / "dbt_project.yml").read_bytes()).hexdigest()
    content = json.dumps([dbt_version(), database, settings, files])
    return hashlib.sha256(content.encode()).hexdigest()


def dbt_version() -> str:
    from dbt.__version__ import version

    return str(version)


def _build_error(outcome: Any) -> Exception | None:
    if outcome.success:
        return None
    if outcome.exception is not None:
        return dg.Failure(f"dbt failed: {outcome.exception}")
    failed = [
        f"{result.node.unique_id} ({result.status})"
        for result in getattr(outcome.result, "results", [])
        if str(result.status) in ("error", "fail")
    ]
    return dg.Failure(
        f"dbt build failed: {len(failed)} node(s) failed: {', '.join(failed[:20])}",
        metadata={"failed_nodes": dg.MetadataValue.json(failed)},
    )


def close_dbt_connections() -> None:
    """dbt-duckdb keeps its DuckDB environment for the process (and, for the encrypted
    target's in-memory database, its connection open): closed here, so the warehouse can open
    the file again, with its own configuration, as soon as dbt returns."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    environment = DuckDBConnectionManager._ENV
    if environment is not None:
        environment.close()
    DuckDBConnectionManager.close_all_connections()


def dbt_cli_resource(project_dir: Path = DBT_PROJECT_DIR) -> DbtCliResource:
    """The `dbt` resource. profiles.yml reads CDP_DUCKDB_PATH, like the Warehouse resource."""
    return CdpDbtCliResource(
        project_dir=str(project_dir),
        profiles_dir=str(project_dir),
        dbt_executable=dbt_executable(),
    )


def partition_vars(partition_key: str, now: datetime) -> dict[str, Any]:
    """The `--vars` of a partition run: its landing-day window and the as-of moment.

    Partition D reads landing partitions [D, D + 1) and is evaluated as of D + 1 day 00:00 UTC;
    while D is still running (today's partition) it is evaluated as of `now`.
    """
    day = date.fromisoformat(partition_key)
    end_of_day = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    as_of = min(end_of_day, now.astimezone(UTC))
    return {
        "min_date": day.isoformat(),
        "max_date": (day + timedelta(days=1)).isoformat(),
        "as_of": as_of.isoformat(sep=" "),
    }
