"""Resources: the only code that touches the outside world (files, directories, warehouse).

The names load on first use: dbt imports `resources.dbt_pii` in every dbt process, and that
plugin needs only the salt, not Dagster and the warehouse code (about a second of imports).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, eagerly, for type checkers
    from resources.alerts import AlertSink as AlertSink
    from resources.archive import LandingArchive as LandingArchive
    from resources.artifacts import ArtifactStore as ArtifactStore
    from resources.artifacts import GroundTruth as GroundTruth
    from resources.export_dir import ExportDirectory as ExportDirectory
    from resources.landing_zone import LandingFile as LandingFile
    from resources.landing_zone import LandingZone as LandingZone
    from resources.warehouse import TableWrite as TableWrite
    from resources.warehouse import Warehouse as Warehouse
    from resources.warehouse import WarehouseSession as WarehouseSession

_MODULES = {
    "AlertSink": "resources.alerts",
    "ArtifactStore": "resources.artifacts",
    "ExportDirectory": "resources.export_dir",
    "GroundTruth": "resources.artifacts",
    "LandingArchive": "resources.archive",
    "LandingFile": "resources.landing_zone",
    "LandingZone": "resources.landing_zone",
    "TableWrite": "resources.warehouse",
    "Warehouse": "resources.warehouse",
    "WarehouseSession": "resources.warehouse",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module 'resources' has no attribute {name!r}")
    value = getattr(import_module(_MODULES[name]), name)
    globals()[name] = value
    return value
