"""The platform's one `Definitions`: every layer, resource, sensor and job, read in one place."""

from platform_assets.loading import collector_paused

# All of it lives as long as the process: loaded without the collector's sweeps (loading.py).
with collector_paused():
    import dagster as dg

    from platform_assets.cleaned.assets import cleaned_assets
    from platform_assets.exports import export_assets
    from platform_assets.exports.assets import FILES as AUDIENCE_FILES
    from platform_assets.external import email_platform_spec, landing_specs
    from platform_assets.identity import identity_assets, identity_checks
    from platform_assets.jobs import JOBS, fallback_daily_graph
    from platform_assets.raw import raw_assets
    from platform_assets.transform.assets import build_dbt_assets
    from platform_assets.transform.project import dbt_cli_resource, manifest_path
    from resources import (
        AlertSink,
        ArtifactStore,
        ExportDirectory,
        GroundTruth,
        LandingArchive,
        LandingZone,
        Warehouse,
    )
    from resources.configuration import sensor_interval_seconds
    from resources.trigger_delivery import TriggerDelivery
    from sensors import (
        alert_on_failed_runs,
        alert_on_finished_runs,
        alert_on_freshness,
        identity_model_drift_sensor,
        landing_zone_sensor,
        realtime_sensor,
    )

    # Every layer below raw follows its inputs through its automation condition (cleaned too,
    # when raw was built without it); this sensor evaluates those conditions and, unlike
    # Dagster's default, starts running.
    automation_sensor = dg.AutomationConditionSensorDefinition(
        name="automation_sensor",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=sensor_interval_seconds(),
        # One run per day: the identity graph reads its own previous day, and a request of two days
        # at once would become a backfill, which Dagster 1.13 can fail before its first run
        # ("At least one run should be requested on first backfill iteration").
        emit_backfills=False,
    )

    defs = dg.Definitions(
        assets=[
            # The ends of the lineage: the landing files and the email platform (not built here).
            *landing_specs,
            *raw_assets,
            *cleaned_assets,
            *identity_assets,
            # Built here, not at import of platform_assets.transform: it reads dbt's manifest.
            build_dbt_assets(manifest_path()),
            *export_assets,
            email_platform_spec(AUDIENCE_FILES),
        ],
        asset_checks=identity_checks,
        # Every step of a run in the run's own process: the steps queue on the one DuckDB writer
        # anyway, and a process per step cost seconds of start-up (loading these definitions) each.
        executor=dg.in_process_executor,
        jobs=JOBS,
        schedules=[fallback_daily_graph],
        sensors=[
            landing_zone_sensor,
            realtime_sensor,
            automation_sensor,
            identity_model_drift_sensor,
            alert_on_finished_runs,
            alert_on_failed_runs,
            alert_on_freshness,
        ],
        resources={
            # Empty settings resolve CDP_DUCKDB_PATH and CDP_LANDING_DIR when a run starts.
            "warehouse": Warehouse(),
            "landing_zone": LandingZone(),
            # Empty: CDP_ARCHIVE_DIR, else archive/ beside the warehouse file.
            "archive": LandingArchive(),
            "artifacts": ArtifactStore(),
            "ground_truth": GroundTruth(),
            "export_directory": ExportDirectory(),
            "dbt": dbt_cli_resource(),
            # Empty: CDP_ALERT_WEBHOOK_URL, read when an alert is sent (unset: ops.alerts only).
            "alert_sink": AlertSink(),
            # Empty: CDP_TRIGGER_WEBHOOK_URL, read when a run sends (unset: a JSONL file per day).
            "trigger_delivery": TriggerDelivery(),
        },
    )
