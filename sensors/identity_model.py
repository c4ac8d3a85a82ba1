"""Retrain the identity model when the records it scores no longer look like its training data."""

import dagster as dg
import duckdb

from platform_assets.identity.assets import MODEL_KEY, drift_verdict, latest_model
from platform_assets.identity.resolve import training_profiles
from resources import Warehouse


@dg.sensor(
    name="identity_model_drift_sensor",
    description="Once a day, compares the current person records with those the identity model"
    " was trained on (growth, fields filling or emptying) and requests a retrain past the"
    " thresholds in platform_assets/identity/settings.py.",
    asset_selection=dg.AssetSelection.keys(MODEL_KEY),
    minimum_interval_seconds=24 * 60 * 60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def identity_model_drift_sensor(
    context: dg.SensorEvaluationContext, warehouse: Warehouse
) -> dg.SensorResult | dg.SkipReason:
    if not warehouse.path.exists():
        return dg.SkipReason(f"no warehouse at {warehouse.path} yet")
    try:
        # Read-only: a sensor never takes the write lock from a run; busy now, next tick.
        with warehouse.session(read_only=True) as db:
            try:
                version, _, trained_profiles, trained_nulls = latest_model(db)
            except dg.Failure:
                return dg.SkipReason("no model trained yet: its automation condition trains it")
            profiles = training_profiles(db.connection)
    except duckdb.IOException as error:
        return dg.SkipReason(f"the warehouse is busy ({error}); trying again on the next tick")
    verdict = drift_verdict(trained_profiles, trained_nulls, profiles)
    if verdict.passed:
        return dg.SkipReason(f"model {version}: {verdict.description}")
    context.log.info("model %s drifted: %s", version, verdict.description)
    # One request per drifted model version: the retrain writes a new version.
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"retrain-{version}")])
