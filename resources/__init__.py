"""Resources: the only code that touches the outside world (the warehouse file, the landing zone)."""

from resources.landing_zone import LandingFile, LandingZone
from resources.warehouse import TableWrite, Warehouse

__all__ = ["LandingFile", "LandingZone", "TableWrite", "Warehouse"]
