"""Streaming file writers for the landing zone and the ground truth.

One writer stays open per (source, landing day) for the whole run and every chunk appends to it,
so a source-day is one file however many chunks contribute, and memory holds one chunk of rows.
Gzip members are written with mtime=0 and no file name, so identical rows give identical bytes.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import polars as pl

from platform_assets.contract import SOURCES
from platform_assets.generator.batch import Batch
from platform_assets.generator.catalogue import CATALOGUE_CURRENCY, CATEGORIES, Catalogue
from platform_assets.generator.clock import Horizon

Kind = Literal["csv", "jsonl"]

# Each source in a different format, so every reader of the raw layer is exercised.
FORMATS: dict[str, tuple[Kind, bool]] = {
    "crm_contacts": ("csv", False),
    "shop_customers": ("csv", True),
    "orders": ("csv", False),
    "web_events": ("jsonl", True),
    "support_tickets": ("csv", False),
    "email_events": ("jsonl", False),
    "consent": ("csv", False),
}
GZIP_LEVEL = 6  # level 9 costs much more time for a few percent of size

TRUTH_RECORDS = "person_records.csv.gz"
TRUTH_PEOPLE = "people.csv.gz"
TRUTH_RECORD_COLUMNS = ("source", "source_record_id", "person_id")
TRUTH_PEOPLE_COLUMNS = (
    "person_id",
    "household_id",
    "first_name",
    "last_name",
    "email",
    "date_of_birth",
    "country",
)


class _TextSink:
    """One append-only text file, optionally gzip-compressed, deterministic byte for byte."""

    def __init__(self, path: Path, compressed: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._raw = path.open("wb")
        self._gzip: gzip.GzipFile | None = None
        binary: Any = self._raw
        if compressed:
            self._gzip = gzip.GzipFile(
                filename="", mode="wb", compresslevel=GZIP_LEVEL, fileobj=self._raw, mtime=0
            )
            binary = self._gzip
        # newline="" keeps "\n" as written (the csv module chooses its own terminator).
        self.text = io.TextIOWrapper(binary, encoding="utf-8", newline="")

    def close(self) -> None:
        self.text.close()  # flushes and closes the gzip member, which leaves the raw file open
        self._raw.close()


class _CsvSink(_TextSink):
    def __init__(self, path: Path, compressed: bool, header: Sequence[str]) -> None:
        super().__init__(path, compressed)
        self._writer = csv.writer(self.text, lineterminator="\n")
        self._writer.writerow(header)

    def write(self, rows: Iterable[Sequence[str]]) -> None:
        self._writer.writerows(rows)


class _JsonlSink(_TextSink):
    _encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        encode = self._encode
        self.text.write("".join(f"{encode(row)}\n" for row in rows))


class _ClosedOnExit:
    """Writers used in a `with` block close their files however the block ends."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError


class LandingWriters(_ClosedOnExit):
    """`<landing_dir>/<source>/<YYYY-MM-DD>/<source>-<YYYY-MM-DD>.<ext>`, opened on first row."""

    def __init__(self, landing_dir: Path, horizon: Horizon) -> None:
        self._root = Path(landing_dir)
        self._horizon = horizon
        self._sinks: dict[tuple[str, int], _CsvSink | _JsonlSink] = {}
        self.files: list[Path] = []
        self.rows_by_source: Counter[str] = Counter()

    def path_for(self, source: str, day: int, suffix: str) -> Path:
        day_text = self._horizon.date_of(day).isoformat()
        return self._root / source / day_text / f"{source}-{day_text}{suffix}"

    def _sink(self, source: str, day: int) -> _CsvSink | _JsonlSink:
        sink = self._sinks.get((source, day))
        if sink is None:
            kind, compressed = FORMATS[source]
            path = self.path_for(source, day, f".{kind}{'.gz' if compressed else ''}")
            if kind == "csv":
                sink = _CsvSink(path, compressed, SOURCES[source].columns)
            else:
                sink = _JsonlSink(path, compressed)
            self._sinks[(source, day)] = sink
            self.files.append(path)
        return sink

    def write_batch(self, batch: Batch) -> None:
        for source, per_day in batch.rows.items():
            for day, rows in enumerate(per_day):
                if rows:
                    self._sink(source, day).write(rows)  # type: ignore[arg-type]
                    self.rows_by_source[source] += len(rows)

    def write_products(self, catalogue: Catalogue) -> None:
        """The whole catalogue on day 0, then one file of changed prices per pricing day."""
        base = [
            (number, item.cents, item.updated_at) for number, item in enumerate(catalogue.products)
        ]
        self._write_parquet(0, base, catalogue)
        for day, changes in sorted(catalogue.changes_by_day.items()):
            rows = [(change.product, change.cents, change.updated_at) for change in changes]
            self._write_parquet(day, rows, catalogue)

    def _write_parquet(
        self, day: int, versions: list[tuple[int, int, int]], catalogue: Catalogue
    ) -> None:
        products = [catalogue.products[number] for number, _, _ in versions]
        frame = pl.DataFrame(
            {
                "sku": [product.sku for product in products],
                "name": [product.name for product in products],
                "category": [CATEGORIES[product.category].name for product in products],
                "brand": [product.brand for product in products],
                "price": pl.Series(
                    [Decimal(cents).scaleb(-2) for _, cents, _ in versions], dtype=pl.Decimal(10, 2)
                ),
                "currency": [CATALOGUE_CURRENCY] * len(products),
                "updated_at": pl.Series(
                    [datetime.fromtimestamp(ts, UTC) for _, _, ts in versions],
                    dtype=pl.Datetime("us", "UTC"),
                ),
            }
        )
        path = self.path_for("products", day, ".parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(path, compression="zstd", statistics=True)
        self.files.append(path)
        self.rows_by_source["products"] += frame.height

    def close(self) -> None:
        for sink in self._sinks.values():
            sink.close()
        self._sinks.clear()


class TruthWriters(_ClosedOnExit):
    """Ground truth for evaluating identity resolution, kept outside the landing zone."""

    def __init__(self, truth_dir: Path) -> None:
        root = Path(truth_dir)
        self._records = _CsvSink(root / TRUTH_RECORDS, True, TRUTH_RECORD_COLUMNS)
        self._people = _CsvSink(root / TRUTH_PEOPLE, True, TRUTH_PEOPLE_COLUMNS)

    def write_batch(self, batch: Batch) -> None:
        self._records.write(batch.truth)
        self._people.write(batch.people)

    def close(self) -> None:
        self._records.close()
        self._people.close()
