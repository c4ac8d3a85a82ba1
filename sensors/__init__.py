"""Sensors: what starts runs when data lands or drifts, and what raises alerts."""

from sensors.alerts import alert_on_failed_runs, alert_on_finished_runs, alert_on_freshness
from sensors.identity_model import identity_model_drift_sensor
from sensors.landing import landing_zone_sensor
from sensors.realtime import realtime_sensor

__all__ = [
    "alert_on_failed_runs",
    "alert_on_finished_runs",
    "alert_on_freshness",
    "identity_model_drift_sensor",
    "landing_zone_sensor",
    "realtime_sensor",
]
