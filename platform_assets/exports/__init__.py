"""Exports layer: consent-safe audiences for reverse-ETL tools and email platforms."""

from platform_assets.exports.assets import audience_files, export_tables
from platform_assets.exports.consent_state import consent_state

# The checks run inside these assets (`check_specs`), so there is no separate checks list.
export_assets = [consent_state, export_tables, audience_files]

__all__ = ["export_assets"]
