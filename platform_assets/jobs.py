"""The platform's named jobs and its fallback schedule.

Every run has a name a person can read in the UI's timeline: a day of the whole graph, the
ingest layers, the identity model's training. `cdp run` launches through these jobs too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.definitions.repository_definition import SINGLETON_REPOSITORY_NAME
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from platform_assets.partitions import daily_partitions

MODEL = dg.AssetKey(["identity", "splink_model"])

# Every daily asset, raw to exports: what one day of the platform is.
daily_graph = dg.define_asset_job(
    "daily_graph",
    selection=dg.AssetSelection.all() - dg.AssetSelection.keys(MODEL),
    partitions_def=daily_partitions,
    description="One day through every layer, raw to the audience files.",
    tags={"cdp/job": "daily_graph"},
)

ingest = dg.define_asset_job(
    "ingest",
    selection=dg.AssetSelection.groups("raw", "cleaned"),
    partitions_def=daily_partitions,
    description="One day's landing files into raw and cleaned.",
    tags={"cdp/job": "ingest"},
)

train_identity_model = dg.define_asset_job(
    "train_identity_model",
    selection=dg.AssetSelection.keys(MODEL),
    description="Trains the identity model on every person record landed so far.",
    tags={"cdp/job": "train_identity_model"},
)

# The sources events are posted to over HTTP (`cdp serve`): the real-time path starts at them.
REALTIME_SOURCES = ("web_events", "email_events", "consent")

# Everything today's posted events feed, to the audience files and the triggered sends: their
# raw and cleaned partitions, identity, the facts and segments, the exports. All of it, not only
# what the audiences read: a model left out (persona centroids, segment performance) would be
# re-run by the automation sensor after every real-time run, and that run would hold the one
# DuckDB writer while the next cart waits. The segments are the same dbt models the batch runs
# (one definition, segment_membership.yml).
_REALTIME_ASSETS = (
    dg.AssetSelection.keys(
        *(dg.AssetKey(["raw", source]) for source in REALTIME_SOURCES)
    ).downstream()
    # The identity graph is one step that writes all its tables together.
    | dg.AssetSelection.groups("identity")
).materializable() - dg.AssetSelection.keys(MODEL)
# The dbt project's models (dagster-dbt gives each the kind "dbt").
_DBT = dg.AssetSelection.tag("dagster/kind/dbt", "")

realtime_path = dg.define_asset_job(
    "realtime_path",
    # dbt's tests are left to the batch: the fallback schedule (and the automation sensor) build
    # the day again with every test, and 100-odd tests are half of what dbt spends on a
    # real-time run. Every other check runs here as everywhere, the exports' consent_safe first.
    selection=(_REALTIME_ASSETS - _DBT) | (_REALTIME_ASSETS & _DBT).without_checks(),
    partitions_def=daily_partitions,
    description="Today's posted events through to today's audience files and triggered sends,"
    " in seconds.",
    tags={"cdp/job": "realtime_path"},
)

JOBS = [daily_graph, ingest, train_identity_model, realtime_path]

# The previous day is complete once this cut-off has passed: files for it that land later are
# late files, which the landing sensor still picks up.
FALLBACK_CRON = "0 6 * * *"


@dg.schedule(
    name="fallback_daily_graph",
    cron_schedule=FALLBACK_CRON,
    job=daily_graph,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="At 06:00 UTC, re-materializes the previous day through the whole graph: the "
    "batch fallback for a sensor tick, a file event or an automation request that was missed. "
    "Every layer replaces its partition, so a day already built ends the same.",
)
def fallback_daily_graph(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    tick = context.scheduled_execution_time or datetime.now()
    day = (tick - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(
        run_key=f"fallback-{day}", partition_key=day, tags={"cdp/trigger": "fallback"}
    )


# workspace.yaml's `location_name`: the code location the UI and the daemon know the platform by
# (a test holds the two together).
CODE_LOCATION = "customer_data_platform"


def code_location_origin() -> RemoteRepositoryOrigin:
    """The workspace's code location, as the webserver and the daemon load it."""
    target = LoadableTargetOrigin(
        executable_path=sys.executable,
        module_name="platform_assets.definitions",
        attribute="defs",
        working_directory=str(Path(__file__).resolve().parents[1]),
    )
    return RemoteRepositoryOrigin(
        ManagedGrpcPythonEnvCodeLocationOrigin(target, CODE_LOCATION), SINGLETON_REPOSITORY_NAME
    )


@contextmanager
def runs_of_the_code_location(instance: dg.DagsterInstance) -> Iterator[None]:
    """Runs executed in this process (`cdp run`) recorded as runs of the code location's jobs,
    like the daemon's: without an origin the UI's timeline leaves them out and their "View job"
    link leads nowhere. Dagster's execute_in_process takes no origin, so the instance is given
    one for the runs it creates meanwhile."""
    repository = code_location_origin()
    create = instance.create_run_for_job

    def create_with_origin(job_def: dg.JobDefinition, **kwargs: Any) -> Any:
        origin = repository.get_job_origin(job_def.name)
        return create(job_def=job_def, remote_job_origin=origin, **kwargs)

    instance.create_run_for_job = create_with_origin  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        del instance.create_run_for_job
