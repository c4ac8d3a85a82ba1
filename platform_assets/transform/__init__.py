"""The dbt layers (staging, intermediate, star, segments) and the personas asset."""

from platform_assets.transform.assets import build_dbt_assets, dbt_assets_def
from platform_assets.transform.personas import assign_personas, personas
from platform_assets.transform.project import dbt_cli_resource, partition_vars
from platform_assets.transform.translator import CdpDbtTranslator

transform_assets = [dbt_assets_def, personas]

__all__ = [
    "CdpDbtTranslator",
    "assign_personas",
    "build_dbt_assets",
    "dbt_assets_def",
    "dbt_cli_resource",
    "partition_vars",
    "personas",
    "transform_assets",
]
