"""Simulated time: instants are integer epoch seconds (UTC), formatted per source on output.

Formatting is hand-rolled rather than going through `datetime.strftime` because it runs for
every row of a million-person run; the day part is cached since only a few hundred days occur.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from functools import lru_cache

DAY_SECONDS = 86_400
_EPOCH = date(1970, 1, 1)


def epoch_of(day: date) -> int:
    """Midnight UTC of a calendar day, in epoch seconds."""
    return calendar.timegm(day.timetuple())


@lru_cache(maxsize=8192)
def _day_text(epoch_day: int) -> str:
    return (_EPOCH + timedelta(days=epoch_day)).isoformat()


def _split(ts: int) -> tuple[str, int, int, int]:
    epoch_day, seconds = divmod(ts, DAY_SECONDS)
    return _day_text(epoch_day), seconds // 3600, seconds // 60 % 60, seconds % 60


def iso_z(ts: int) -> str:
    """`2026-11-03T14:05:09Z`"""
    day, hh, mm, ss = _split(ts)
    return f"{day}T{hh:02d}:{mm:02d}:{ss:02d}Z"


def iso_naive(ts: int) -> str:
    """`2026-11-03T14:05:09`: ISO without an offset, meaning UTC by the contract."""
    day, hh, mm, ss = _split(ts)
    return f"{day}T{hh:02d}:{mm:02d}:{ss:02d}"


def sql_utc(ts: int) -> str:
    """`2026-11-03 14:05:09`: the database-export style of a CRM."""
    day, hh, mm, ss = _split(ts)
    return f"{day} {hh:02d}:{mm:02d}:{ss:02d}"


def iso_offset(ts: int, offset_minutes: int) -> str:
    """`2026-11-03T15:05:09+01:00`: the same instant in the customer's local time."""
    day, hh, mm, ss = _split(ts + offset_minutes * 60)
    sign = "+" if offset_minutes >= 0 else "-"
    off_h, off_m = divmod(abs(offset_minutes), 60)
    return f"{day}T{hh:02d}:{mm:02d}:{ss:02d}{sign}{off_h:02d}:{off_m:02d}"


def day_text(ts: int) -> str:
    return _day_text(ts // DAY_SECONDS)


class Horizon:
    """The simulated days: day 0 is `start`, the last day is `start + days - 1`."""

    def __init__(self, start: date, days: int) -> None:
        self.start = start
        self.days = days
        self.start_ts = epoch_of(start)
        self.end_ts = self.start_ts + days * DAY_SECONDS  # exclusive

    def day_start(self, day: int) -> int:
        return self.start_ts + day * DAY_SECONDS

    def day_of(self, ts: int) -> int:
        """Day index of an instant; negative before the start, >= days after the end."""
        return (ts - self.start_ts) // DAY_SECONDS

    def date_of(self, day: int) -> date:
        return self.start + timedelta(days=day)
