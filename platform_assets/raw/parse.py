"""Parse one landing file's bytes into raw rows: every value a string, exactly as it arrived.

Pure functions: bytes in, frames out. A file that cannot be read at all is rejected whole with a
reason; a single broken line inside a readable file is rejected alone and the rest loads.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zlib
from dataclasses import dataclass, field

import polars as pl

from platform_assets.contract import FILE_SUFFIXES, SourceContract
from platform_assets.settings import (
    MAX_COMPRESSION_RATIO,
    MAX_DECOMPRESSED_BYTES,
    RATIO_CHECKED_ABOVE_BYTES,
)

EXTRA_COLUMNS = "_extra"
ROW_NUMBER = "_row_number"
_UTF8_BOM = b"\xef\xbb\xbf"


class FileRejected(Exception):
    """The file as a whole cannot be read; the message says why and what to do."""


@dataclass(frozen=True)
class RejectedLine:
    row_number: int
    raw_text: str
    reason: str


@dataclass
class ParsedFile:
    rows: pl.DataFrame
    rejected_lines: list[RejectedLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def raw_columns(contract: SourceContract) -> list[str]:
    return [*contract.columns, EXTRA_COLUMNS, ROW_NUMBER]


def empty_rows(contract: SourceContract) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {column: pl.Utf8() for column in contract.columns}
    schema[EXTRA_COLUMNS] = pl.Utf8()
    schema[ROW_NUMBER] = pl.Int64()
    return pl.DataFrame(schema=schema)


def parse_landing_file(name: str, content: bytes, contract: SourceContract) -> ParsedFile:
    """Parse a file by its suffix. Raises FileRejected when the file cannot be read at all."""
    lowered = name.lower()
    if not lowered.endswith(FILE_SUFFIXES):
        raise FileRejected(
            f"unsupported file type: expected one of {', '.join(FILE_SUFFIXES)};"
            " rename or convert the file"
        )
    if lowered.endswith(".gz"):
        content = _gunzip(content)
    if lowered.endswith(".parquet"):
        return _parse_parquet(content, contract)
    content = content.removeprefix(_UTF8_BOM)
    is_csv = lowered.endswith((".csv", ".csv.gz"))
    if not is_csv and not content.isspace():
        # JSON lines are read from the bytes: decoding a large file into a str first costs
        # more than parsing it. polars rejects bytes that are not UTF-8, which sends the file
        # to the line-by-line path below, where the decode names the offending byte.
        fast = _parse_well_formed_jsonl(content)
        if fast is not None:
            return _jsonl_rows(fast, contract)
    text = _decode_utf8(content)
    # isspace, not strip: no copy of a large file to learn that it is not empty.
    if not text or text.isspace():
        return ParsedFile(rows=empty_rows(contract), notes=["empty file: no header, no rows"])
    if is_csv:
        return _parse_csv(text, contract)
    return _parse_jsonl(text, contract)


def _gunzip(content: bytes) -> bytes:
    """Decompress in chunks, stopping at the limits in settings: a small file that expands
    without bound (a gzip bomb) is rejected before it fills the memory."""
    limit = min(
        MAX_DECOMPRESSED_BYTES,
        max(RATIO_CHECKED_ABOVE_BYTES, len(content) * MAX_COMPRESSION_RATIO),
    )

    def too_large() -> FileRejected:
        return FileRejected(
            f"decompresses to more than {limit:,} bytes from {len(content):,} (limits:"
            f" {MAX_COMPRESSION_RATIO}x and {MAX_DECOMPRESSED_BYTES:,} bytes); split the file"
            " or send it uncompressed"
        )

    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing
    chunks = []
    size = 0
    pending = content
    try:
        while True:
            chunk = decompressor.decompress(pending, 1 << 20)
            size += len(chunk)
            if size > limit:
                raise too_large()
            chunks.append(chunk)
            pending = decompressor.unconsumed_tail
            if decompressor.eof:
                if decompressor.unused_data:
                    # Several gzip members in one file: decompress the rest the same way.
                    rest = _gunzip(decompressor.unused_data)
                    if size + len(rest) > limit:
                        raise too_large()
                    chunks.append(rest)
                break
            if not pending and not chunk:
                raise EOFError("compressed file ended before the end-of-stream marker")
    except (EOFError, OSError, zlib.error) as error:
        raise FileRejected(
            f"corrupt or truncated gzip ({error}); re-send the complete file"
        ) from error
    return b"".join(chunks)


def _decode_utf8(content: bytes) -> str:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        raise FileRejected(
            f"not UTF-8: byte 0x{content[error.start]:02x} on line {line} cannot be decoded;"
            " re-export the file as UTF-8"
        ) from error
    return text


def _check_header(header: list[str], contract: SourceContract, *, delimited: bool) -> None:
    duplicates = sorted({column for column in header if header.count(column) > 1})
    if duplicates:
        raise FileRejected(f"duplicate columns in header: {', '.join(duplicates)}")
    missing = [column for column in contract.required if column not in header]
    if not missing:
        return
    hint = ""
    if delimited and len(header) == 1:
        for delimiter in (";", "\t", "|"):
            if delimiter in header[0]:
                hint = (
                    f"; the header looks {delimiter!r}-delimited, the contract is comma-delimited"
                )
                break
    raise FileRejected(
        f"missing required column(s): {', '.join(missing)}"
        f" (found: {', '.join(header) or 'no columns'}){hint}"
    )


def _normalize_header(names: list[str]) -> list[str]:
    # Column names match the contract ignoring case and surrounding spaces.
    return [name.strip().lower() for name in names]


def _parse_csv(text: str, contract: SourceContract) -> ParsedFile:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = _normalize_header(next(reader))
    except csv.Error as error:
        raise FileRejected(f"unreadable CSV header: {error}") from error
    _check_header(header, contract, delimited=True)
    width = len(header)
    fast = _parse_well_formed_csv(text, header)
    if fast is not None:
        return ParsedFile(rows=_to_contract_shape(fast, list(range(1, fast.height + 1)), contract))
    good: list[list[str]] = []
    row_numbers: list[int] = []
    rejected: list[RejectedLine] = []
    row_number = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            row_number += 1
            rejected.append(RejectedLine(row_number, "", f"unreadable CSV row: {error}"))
            continue
        if not fields:  # a blank line carries no record
            continue
        row_number += 1
        if len(fields) != width:
            rejected.append(
                RejectedLine(
                    row_number,
                    ",".join(fields),
                    f"expected {width} fields as in the header, found {len(fields)}",
                )
            )
            continue
        good.append(fields)
        row_numbers.append(row_number)
    return ParsedFile(
        rows=_to_contract_shape(_csv_frame(good, header), row_numbers, contract),
        rejected_lines=rejected,
    )


def _parse_well_formed_csv(text: str, header: list[str]) -> pl.DataFrame | None:
    """The common case in one pass: every record readable and as wide as the header.

    None sends the file through the record-by-record path, which sets the bad ones aside.
    """
    width = len(header)
    if '"' not in text and "\r" not in text:
        # Without quotes a line is a record and its commas count its fields, so polars' native
        # reader can be trusted with it (it would pad a short row silently).
        lines = text.split("\n")[1:]
        if lines and lines[-1] == "":
            lines.pop()
        if all(line and line.count(",") == width - 1 for line in lines):
            frame = pl.read_csv(
                io.StringIO(text), schema={name: pl.Utf8 for name in header}, has_header=True
            )
            return frame.with_columns(pl.all().replace("", None))
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))[1:]
    except csv.Error:
        return None
    if any(len(fields) != width for fields in records):  # blank lines are width 0
        return None
    return _csv_frame(records, header)


def _csv_frame(records: list[list[str]], header: list[str]) -> pl.DataFrame:
    frame = pl.DataFrame(records, schema={name: pl.Utf8 for name in header}, orient="row")
    # An empty CSV cell is a missing value, as it would be in JSON.
    return frame.with_columns(pl.all().replace("", None))


def _jsonl_rows(frame: pl.DataFrame, contract: SourceContract) -> ParsedFile:
    header = _normalize_header(frame.columns)
    frame = frame.rename(dict(zip(frame.columns, header, strict=True)))
    _check_header(header, contract, delimited=False)
    return ParsedFile(rows=_to_contract_shape(frame, list(range(1, frame.height + 1)), contract))


def _parse_jsonl(text: str, contract: SourceContract) -> ParsedFile:
    """Line by line: each broken line is set aside with its reason, the rest loads."""
    lines = text.splitlines()
    records: list[dict[str, object]] = []
    row_numbers: list[int] = []
    rejected: list[RejectedLine] = []
    row_number = 0
    for line in lines:
        if not line.strip():
            continue
        row_number += 1
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            rejected.append(RejectedLine(row_number, line, f"invalid JSON: {error.msg}"))
            continue
        if not isinstance(record, dict):
            rejected.append(RejectedLine(row_number, line, "line is not a JSON object"))
            continue
        records.append(record)
        row_numbers.append(row_number)
    keys: dict[str, None] = {}
    for record in records:
        keys.update(dict.fromkeys(record))
    header = _normalize_header(list(keys))
    if records:
        _check_header(header, contract, delimited=False)
    frame = pl.DataFrame(
        {
            normalized: pl.Series(
                normalized, [_json_value_as_text(record.get(key)) for record in records], pl.Utf8
            )
            for key, normalized in zip(keys, header, strict=True)
        }
    )
    return ParsedFile(
        rows=_to_contract_shape(frame, row_numbers, contract), rejected_lines=rejected
    )


_FIRST_OBJECT = re.compile(rb"\s*\{")


def _parse_well_formed_jsonl(content: bytes) -> pl.DataFrame | None:
    """The common case, vectorized: every line a flat JSON object with consistent types.

    None sends the file through the line-by-line path, which sets broken lines aside.
    """
    if not _FIRST_OBJECT.match(content):
        return None
    try:
        frame = pl.read_ndjson(io.BytesIO(content), infer_schema_length=None)
    except Exception:  # polars raises several types for broken or inconsistent lines
        return None
    lines = content.count(b"\n") + (not content.endswith(b"\n"))
    if frame.height != lines:
        return None  # a blank line, which would shift the record numbers of the lines after it
    if any(dtype.is_nested() for dtype in frame.schema.values()):
        return None
    as_text = [_number_or_flag_as_text(pl.col(name), dtype) for name, dtype in frame.schema.items()]
    # An empty string is a missing value, as an empty CSV cell is.
    return frame.select(as_text).with_columns(pl.all().replace("", None))


def _number_or_flag_as_text(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Boolean:
        return column.cast(pl.Utf8).str.to_lowercase()
    if dtype.is_float():
        # A column mixing 1762000000 and 1762000000.5 is read as floats; integral values keep
        # their integer text, as the line-by-line path writes them.
        return (
            pl.when(column == column.floor())
            .then(column.cast(pl.Int64, strict=False).cast(pl.Utf8))
            .otherwise(column.cast(pl.Utf8))
        )
    return column.cast(pl.Utf8)


def _json_value_as_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _parse_parquet(content: bytes, contract: SourceContract) -> ParsedFile:
    try:
        frame = pl.read_parquet(io.BytesIO(content))
    except Exception as error:  # polars raises several types for a damaged footer or page
        raise FileRejected(
            f"unreadable Parquet ({type(error).__name__}: {error}); re-send the complete file"
        ) from error
    frame = frame.rename(dict(zip(frame.columns, _normalize_header(frame.columns), strict=True)))
    _check_header(frame.columns, contract, delimited=False)
    as_text = []
    for name, dtype in frame.schema.items():
        if dtype.is_nested():
            as_text.append(pl.col(name).map_elements(_json_value_as_text, return_dtype=pl.Utf8))
        elif dtype == pl.Datetime or dtype == pl.Date:
            # ISO 8601 keeps the meaning (and the offset) for the cleaned layer to parse.
            as_text.append(pl.col(name).dt.to_string("iso"))
        else:
            as_text.append(pl.col(name).cast(pl.Utf8))
    frame = frame.select(as_text)
    return ParsedFile(rows=_to_contract_shape(frame, list(range(1, frame.height + 1)), contract))


def _to_contract_shape(
    frame: pl.DataFrame, row_numbers: list[int], contract: SourceContract
) -> pl.DataFrame:
    """Contract columns in contract order (absent optional ones null), unknown ones as JSON."""
    if frame.height == 0:
        return empty_rows(contract)
    extras = [column for column in frame.columns if column not in contract.columns]
    columns = [
        pl.col(column) if column in frame.columns else pl.lit(None, pl.Utf8).alias(column)
        for column in contract.columns
    ]
    if extras:
        extra = pl.struct(extras).struct.json_encode().alias(EXTRA_COLUMNS)
    else:
        extra = pl.lit(None, pl.Utf8).alias(EXTRA_COLUMNS)
    return frame.select(*columns, extra, pl.Series(ROW_NUMBER, row_numbers, dtype=pl.Int64)).select(
        raw_columns(contract)
    )
