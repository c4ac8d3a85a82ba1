"""Exports layer: consent-safe audiences for reverse-ETL tools and email platforms."""

from platform_assets.exports.assets import audience_files, export_tables

# The checks run inside these assets (`check_specs`), so there is no separate checks list.
export_assets = [export_tables, audience_files]

__all__ = ["export_assets"]
