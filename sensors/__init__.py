"""Sensors: what starts runs when data lands."""

from sensors.landing import landing_zone_sensor

__all__ = ["landing_zone_sensor"]
