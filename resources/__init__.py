"""Resources: the only code that touches the outside world (warehouse file, landing zone)."""

from resources.artifacts import ArtifactStore, GroundTruth
from resources.landing_zone import LandingFile, LandingZone
from resources.warehouse import TableWrite, Warehouse, WarehouseSession

__all__ = [
    "ArtifactStore",
    "GroundTruth",
    "LandingFile",
    "LandingZone",
    "TableWrite",
    "Warehouse",
    "WarehouseSession",
]
