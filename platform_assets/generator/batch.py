"""The rows one chunk of people produces, grouped by source and landing day, plus ground truth.

A batch is the unit of memory: it lives while a chunk is simulated, is handed to the writers,
and is dropped. Its size grows with `chunk_size`, never with the total number of people.
"""

from __future__ import annotations

from typing import Any

from platform_assets.contract import SOURCES

# Sources whose rows come from people; products are written once from the catalogue.
PERSON_DRIVEN_SOURCES = tuple(name for name in SOURCES if name != "products")

Row = list[str] | dict[str, Any]


class Batch:
    def __init__(self, days: int) -> None:
        self.days = days
        self.rows: dict[str, list[list[Row]]] = {
            source: [[] for _ in range(days)] for source in PERSON_DRIVEN_SOURCES
        }
        self.truth: list[tuple[str, str, str]] = []  # source, source_record_id, person_id
        self.people: list[tuple[str, ...]] = []

    def land(self, source: str, day: int, row: Row) -> bool:
        """Queue a row for a landing day; False (and dropped) when the day is past the horizon."""
        if day >= self.days:
            return False
        self.rows[source][max(day, 0)].append(row)  # history before the start lands on day 0
        return True
