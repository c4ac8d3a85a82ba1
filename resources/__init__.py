"""Resources: the only code that touches the outside world (files, directories, warehouse)."""

from resources.alerts import AlertSink
from resources.archive import LandingArchive
from resources.artifacts import ArtifactStore, GroundTruth
from resources.export_dir import ExportDirectory
from resources.landing_zone import LandingFile, LandingZone
from resources.warehouse import TableWrite, Warehouse, WarehouseSession

__all__ = [
    "AlertSink",
    "ArtifactStore",
    "ExportDirectory",
    "GroundTruth",
    "LandingArchive",
    "LandingFile",
    "LandingZone",
    "TableWrite",
    "Warehouse",
    "WarehouseSession",
]
