"""Exports layer: consent-safe audiences for reverse-ETL tools and email platforms."""

from platform_assets.exports.assets import audience_files, export_tables
from platform_assets.exports.consent_state import consent_state
from platform_assets.exports.profile_snapshot import profile_snapshot
from platform_assets.exports.trigger_assets import trigger_performance, trigger_sends

# The checks run inside these assets (`check_specs`), so there is no separate checks list.
export_assets = [
    consent_state,
    export_tables,
    audience_files,
    trigger_sends,
    trigger_performance,
    profile_snapshot,
]

__all__ = [
    "audience_files",
    "consent_state",
    "export_assets",
    "export_tables",
    "profile_snapshot",
    "trigger_performance",
    "trigger_sends",
]
