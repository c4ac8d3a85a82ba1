"""Alerts for the work the daemon runs: every finished run, and freshness turning red or green.

`cdp run` raises the same alerts in process (platform_assets/cli.py), from the same functions.
"""

from __future__ import annotations

import json

import dagster as dg

from platform_assets import alerts
from resources import AlertSink, Warehouse

PARTITION_TAG = "dagster/partition"


def run_alerts(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list:
    """The alerts and resolutions of one finished run, read from its event log."""
    records = instance.all_logs(
        run.run_id,
        of_type={
            dg.DagsterEventType.ASSET_CHECK_EVALUATION,
            dg.DagsterEventType.STEP_FAILURE,
            dg.DagsterEventType.RUN_FAILURE,
            dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
        },
    )
    events = [record.dagster_event for record in records if record.dagster_event]
    # A run's planned materializations name its assets, however it was launched (an in-process
    # run has no asset selection of its own).
    planned = {
        event.asset_key
        for event in events
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        and event.asset_key is not None
    }
    checks = [
        event.event_specific_data
        for event in events
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and isinstance(event.event_specific_data, dg.AssetCheckEvaluation)
    ]
    return alerts.from_run(
        run.run_id,
        run.tags.get(PARTITION_TAG),
        planned | set(run.asset_selection or []),
        succeeded=run.status == dg.DagsterRunStatus.SUCCESS,
        errors=alerts.step_errors(events),
        checks=checks,
    )


def _announce(
    context: dg.RunStatusSensorContext, warehouse: Warehouse, alert_sink: AlertSink
) -> None:
    announced = alert_sink.record(warehouse, run_alerts(context.instance, context.dagster_run))
    for body in announced:
        context.log.info(body["text"])


@dg.run_status_sensor(
    name="alert_on_finished_runs",
    description="Raises an alert for a failed run (with its error), an error check that failed,"
    " a volume anomaly or a vanished landing file, and resolves it once a run passes again: in"
    " ops.alerts and, when CDP_ALERT_WEBHOOK_URL is set, as a webhook POST.",
    run_status=dg.DagsterRunStatus.SUCCESS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
)
def alert_on_finished_runs(
    context: dg.RunStatusSensorContext, warehouse: Warehouse, alert_sink: AlertSink
) -> None:
    _announce(context, warehouse, alert_sink)


@dg.run_failure_sensor(
    name="alert_on_failed_runs",
    description="Raises an alert for a failed run with its error (and its failed checks).",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
)
def alert_on_failed_runs(
    context: dg.RunFailureSensorContext, warehouse: Warehouse, alert_sink: AlertSink
) -> None:
    _announce(context, warehouse, alert_sink)


@dg.sensor(
    name="alert_on_freshness",
    description="Raises an alert when an asset fails its freshness policy (as the freshness"
    " daemon evaluates it) and resolves it when the asset is fresh again.",
    minimum_interval_seconds=10 * 60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def alert_on_freshness(
    context: dg.SensorEvaluationContext, warehouse: Warehouse, alert_sink: AlertSink
) -> dg.SkipReason:
    previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    graph = context.repository_def.asset_graph if context.repository_def else None
    keys = [
        key
        for key in (graph.get_all_asset_keys() if graph else [])
        if graph and graph.get(key).freshness_policy is not None
    ]
    records = context.instance.get_freshness_state_records(keys)
    states = {key.to_user_string(): record.freshness_state.value for key, record in records.items()}
    announced = alert_sink.record(warehouse, alerts.from_freshness(states, previous))
    context.update_cursor(json.dumps(states, sort_keys=True))
    failing = sorted(asset for asset, state in states.items() if state == "FAIL")
    return dg.SkipReason(
        f"{len(announced)} alert(s) announced; {len(failing)} asset(s) failing freshness"
    )
