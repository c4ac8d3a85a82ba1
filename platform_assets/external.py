"""The ends of the lineage, which the platform reads from and writes to but does not build.

The landing zone's files (one asset per source, partitioned by their day folder) and the email
platform that imports the audience files. Declared so that "landing file → audience file →
email platform" is literal in the asset graph; the raw step records what it read of each
landing partition as an observation of these assets.
"""

from __future__ import annotations

import dagster as dg

from platform_assets.contract import SOURCES, SourceContract
from platform_assets.partitions import daily_partitions
from platform_assets.settings import OWNERS

LANDING = "landing"
EMAIL_PLATFORM = "email_platform"
EMAIL_PLATFORM_AUDIENCES = dg.AssetKey([EMAIL_PLATFORM, "audiences"])


def landing_asset_key(source: str) -> dg.AssetKey:
    return dg.AssetKey([LANDING, source])


def landing_asset_spec(contract: SourceContract) -> dg.AssetSpec:
    return dg.AssetSpec(
        landing_asset_key(contract.name),
        group_name=LANDING,
        owners=OWNERS,
        kinds={"file"},
        tags={"layer": LANDING},
        partitions_def=daily_partitions,
        metadata={
            "path_pattern": f"<CDP_LANDING_DIR>/{contract.name}/<YYYY-MM-DD>/*",
            "formats": ".csv, .csv.gz, .jsonl, .jsonl.gz, .parquet",
            "contract": "docs/landing-contract.md",
        },
        description=(
            f"The `{contract.name}` files that upstream systems drop into the landing zone, one"
            f" folder per day; one row per {contract.description}. Not built by the platform:"
            " raw loads each day's folder and observes here which files it read."
        ),
    )


def email_platform_spec(audience_files: dg.AssetKey) -> dg.AssetSpec:
    return dg.AssetSpec(
        EMAIL_PLATFORM_AUDIENCES,
        deps=[audience_files],
        group_name=EMAIL_PLATFORM,
        owners=OWNERS,
        kinds={"email"},
        tags={"layer": EMAIL_PLATFORM},
        metadata={"reads": "<CDP_EXPORT_DIR>/<YYYY-MM-DD>/<audience_id>.csv"},
        description=(
            "The email platform's audience lists, imported from each day's audience files."
            " Outside the platform: it reads the files and the consent they carry, nothing else."
        ),
    )


landing_specs = [landing_asset_spec(contract) for contract in SOURCES.values()]
