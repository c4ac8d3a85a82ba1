"""Remove an erased person's rows from a landed file's bytes, keeping every other byte.

Pure functions: bytes in, bytes out. Every line of a CSV or JSON-lines file that is not the
person's is kept exactly as it arrived (the raw layer loads the same values from the scrubbed
file), a line goes when its identifiers match a tombstone or its text names an erased address
(a broken line, an unknown column). Parquet files are filtered and written again; gzip files
are decompressed, scrubbed and compressed again. The same input always gives the same bytes, so
a landing file and its archived copy scrub to one checksum.
"""

from __future__ import annotations

import csv
import gzip
import io
import json

import polars as pl

from platform_assets.privacy.tombstones import Tombstones


def scrub_file(source: str, name: str, content: bytes, tombstones: Tombstones) -> tuple[bytes, int]:
    """The file without the rows of erased people, and how many rows went.

    A file the raw layer cannot read (not UTF-8, a corrupt gzip) is searched for erased
    addresses as bytes: it is returned unchanged when it names none, and emptied when it does,
    since nothing in it can be told apart from the person's data.
    """
    if not tombstones:
        return content, 0
    # Imported here: the raw layer imports this module, and parse lives in its package.
    from platform_assets.raw.parse import FileRejected, _gunzip

    lowered = name.lower()
    try:
        plain = _gunzip(content) if lowered.endswith(".gz") else content
        if lowered.endswith(".parquet"):
            kept, removed = _scrub_parquet(source, plain, tombstones)
        else:
            kept, removed = _scrub_text(source, lowered, plain.decode("utf-8"), tombstones)
    except (FileRejected, UnicodeDecodeError, ValueError, pl.exceptions.PolarsError):
        text = content.decode("utf-8", errors="replace")
        return (b"", 1) if tombstones.text_erased(text) else (content, 0)
    if not removed:
        return content, 0
    if lowered.endswith(".gz"):
        kept = gzip.compress(kept, mtime=0)  # mtime 0: the same rows give the same bytes
    return kept, removed


def _scrub_text(source: str, name: str, text: str, tombstones: Tombstones) -> tuple[bytes, int]:
    lines = text.splitlines(keepends=True)
    if name.endswith((".csv", ".csv.gz")):
        kept, removed = _scrub_csv(source, lines, tombstones)
    else:
        kept, removed = _scrub_jsonl(source, lines, tombstones)
    return "".join(kept).encode("utf-8"), removed


def _scrub_csv(source: str, lines: list[str], tombstones: Tombstones) -> tuple[list[str], int]:
    if not lines:
        return lines, 0
    reader = csv.reader(iter(lines))
    try:
        header = [column.strip().lower().removeprefix("\ufeff") for column in next(reader)]
    except (csv.Error, StopIteration):
        return _scrub_lines(lines, tombstones)
    kept = lines[: reader.line_num]
    start = reader.line_num
    removed = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error:
            # An unreadable record: judge the rest line by line, by the addresses in them.
            rest, gone = _scrub_lines(lines[start:], tombstones)
            return kept + rest, removed + gone
        end = reader.line_num
        record = lines[start:end]
        row = dict(zip(header, fields, strict=False))
        if tombstones.row_erased(source, row) or tombstones.text_erased("".join(record)):
            removed += 1
        else:
            kept += record
        start = end
    return kept, removed


def _scrub_jsonl(source: str, lines: list[str], tombstones: Tombstones) -> tuple[list[str], int]:
    kept, removed = [], 0
    for line in lines:
        try:
            record = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            record = None
        row = (
            {str(key).strip().lower(): value for key, value in record.items()}
            if isinstance(record, dict)
            else {}
        )
        if tombstones.row_erased(source, row) or tombstones.text_erased(line):
            removed += 1
        else:
            kept.append(line)
    return kept, removed


def _scrub_lines(lines: list[str], tombstones: Tombstones) -> tuple[list[str], int]:
    kept = [line for line in lines if not tombstones.text_erased(line)]
    return kept, len(lines) - len(kept)


def _scrub_parquet(source: str, content: bytes, tombstones: Tombstones) -> tuple[bytes, int]:
    frame = pl.read_parquet(io.BytesIO(content))
    names = {column.strip().lower(): column for column in frame.columns}
    rows = frame.select(pl.all().cast(pl.Utf8, strict=False)).to_dicts()
    erased = [
        tombstones.row_erased(source, {key: row[column] for key, column in names.items()})
        or tombstones.text_erased(" ".join(str(value) for value in row.values()))
        for row in rows
    ]
    removed = sum(erased)
    if not removed:
        return content, 0
    buffer = io.BytesIO()
    frame.filter(pl.Series([not gone for gone in erased])).write_parquet(buffer)
    return buffer.getvalue(), removed
