"""The dbt layers (staging, intermediate, star, segments) and the personas asset.

Importing this package reads no manifest: `platform_assets.definitions` builds the dbt assets
with `build_dbt_assets(manifest_path())`, so the package also loads before `make install`.
"""

from platform_assets.transform.assets import build_dbt_assets
from platform_assets.transform.personas import assign_personas, personas
from platform_assets.transform.project import dbt_cli_resource, manifest_path, partition_vars
from platform_assets.transform.translator import CdpDbtTranslator

__all__ = [
    "CdpDbtTranslator",
    "assign_personas",
    "build_dbt_assets",
    "dbt_cli_resource",
    "manifest_path",
    "partition_vars",
    "personas",
]
