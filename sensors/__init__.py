"""Sensors: what starts runs when data lands or drifts."""

from sensors.identity_model import identity_model_drift_sensor
from sensors.landing import landing_zone_sensor

__all__ = ["identity_model_drift_sensor", "landing_zone_sensor"]
