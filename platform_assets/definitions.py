"""The platform's one `Definitions`: every layer, resource, sensor and job, read in one place."""

from __future__ import annotations

import dagster as dg

from platform_assets.raw import raw_assets
from resources import LandingZone, Warehouse

defs = dg.Definitions(
    assets=[*raw_assets],
    resources={
        # Empty settings resolve CDP_DUCKDB_PATH / CDP_LANDING_DIR when a run starts.
        "warehouse": Warehouse(),
        "landing_zone": LandingZone(),
    },
)
