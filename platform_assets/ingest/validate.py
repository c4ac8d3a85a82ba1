"""Validate posted events with the very code that loads landing files, and split them by day.

A request is checked the way its rows would be checked after landing: parsed by the raw layer's
JSONL reader, then normalized and validated by the cleaned layer's `clean_partition`. No second
set of rules exists for HTTP; what the API accepts, the cleaned layer keeps, and a row it would
quarantine is refused here, with its reason, before anything is written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime

from platform_assets.cleaned.normalize import parse_timestamp
from platform_assets.cleaned.transform import FAILED_RULES, clean_partition
from platform_assets.contract import SOURCES
from platform_assets.raw.load import LandedBytes, load_partition
from platform_assets.raw.parse import ROW_NUMBER
from resources.landing_zone import COMPLETE_FILE_PREFIX

# The sources the API takes, by path segment, with the column that places an event on its day.
EVENT_TIME = {"web_events": "occurred_at", "email_events": "occurred_at", "consent": "recorded_at"}


# Failed-rule prefixes of the cleaned layer that name a field: "<kind>:<field>[:<detail>]".
_FIELD_RULES = ("missing_required", "invalid_required", "invalid_value")


@dataclass(frozen=True)
class Rejection:
    index: int | None  # the item's position in the request; None for the request as a whole
    field: str | None
    rule: str

    def as_dict(self) -> dict[str, object]:
        return {"index": self.index, "field": self.field, "rule": self.rule}


@dataclass
class Checked:
    """A request's outcome: the JSONL to land per day, or the reasons nothing will be."""

    files: dict[date, bytes] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    accepted: int = 0


def ingest_file_name(content: bytes) -> str:
    """Named by content: the same request retried lands the same file, never a second copy."""
    return f"{COMPLETE_FILE_PREFIX}{hashlib.sha256(content).hexdigest()[:32]}.jsonl"


def parse_body(body: bytes, content_type: str) -> list[object]:
    """One JSON object, a JSON array, or NDJSON (one object per line). Raises ValueError."""
    text = body.decode("utf-8")  # UnicodeDecodeError is a ValueError
    if "ndjson" in content_type or "jsonl" in content_type:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        # Untyped bodies of several lines are NDJSON.
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return parsed if isinstance(parsed, list) else [parsed]


def _rule_rejection(index: int, failed: str) -> Rejection:
    kind, _, rest = failed.partition(":")
    if kind in _FIELD_RULES:
        column, _, detail = rest.partition(":")
        return Rejection(index, column, f"{kind}:{detail}" if detail else kind)
    return Rejection(index, None, failed)


def check_events(
    source: str, items: list[object], now: datetime, first_day: date | None = None
) -> Checked:
    """Every item validated; the accepted ones grouped by their event's day, as JSONL.

    An event dated before `first_day` (the first partition) has no day to land in.
    """
    contract = SOURCES[source]
    checked = Checked()
    if not items:
        checked.rejections.append(Rejection(None, None, "empty_request"))
        return checked
    lines: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            checked.rejections.append(Rejection(index, None, "not_a_json_object"))
            lines.append("{}")
            continue
        unknown = sorted(set(item) - set(contract.columns))
        checked.rejections += [Rejection(index, name, "unknown_field") for name in unknown]
        lines.append(json.dumps(item, sort_keys=True, ensure_ascii=False))
    if checked.rejections:
        return checked
    content = ("\n".join(lines) + "\n").encode()
    load = load_partition(
        contract, now.date(), [LandedBytes("request.jsonl", content, "")], loaded_at=now
    )
    for record in load.landed_files.iter_rows(named=True):
        if record["status"] == "rejected":
            checked.rejections.append(Rejection(None, None, str(record["reason"])))
    for line in load.rejected_lines.iter_rows(named=True):
        checked.rejections.append(Rejection(int(line["row_number"]) - 1, None, line["reason"]))
    if checked.rejections:
        return checked
    rows = load.rows
    result = clean_partition(source, rows, as_of=now)
    for row in result.quarantined.iter_rows(named=True):
        for failed in str(row[FAILED_RULES]).split("; "):
            checked.rejections.append(_rule_rejection(int(row[ROW_NUMBER]) - 1, failed))
    if checked.rejections:
        return checked
    days = parse_timestamp(rows[EVENT_TIME[source]]).values.dt.date()
    by_day: dict[date, list[str]] = {}
    for row_number, day in zip(rows[ROW_NUMBER].to_list(), days.to_list(), strict=True):
        if first_day is not None and day < first_day:
            checked.rejections.append(
                Rejection(row_number - 1, EVENT_TIME[source], f"before_first_partition:{first_day}")
            )
        by_day.setdefault(day, []).append(lines[row_number - 1])
    if checked.rejections:
        return checked
    checked.files = {day: ("\n".join(group) + "\n").encode() for day, group in by_day.items()}
    checked.accepted = len(items)
    return checked


__all__ = [
    "EVENT_TIME",
    "Checked",
    "Rejection",
    "check_events",
    "ingest_file_name",
    "parse_body",
]
