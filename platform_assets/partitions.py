"""The one partitioning of the platform: a day, named by its landing-zone date folder."""

from __future__ import annotations

import os
from datetime import date

import dagster as dg

from platform_assets.settings import DEFAULT_START_DATE


def start_date() -> date:
    return date.fromisoformat(os.environ.get("CDP_START_DATE") or DEFAULT_START_DATE)


# Read when the definitions load, the one setting that cannot wait for a run: the partition set
# is part of the asset graph itself. end_offset=1 includes today, so files landing during the
# day can be loaded before midnight.
daily_partitions = dg.DailyPartitionsDefinition(start_date=start_date().isoformat(), end_offset=1)


def partition_range() -> tuple[date, date]:
    keys = daily_partitions.get_partition_keys()
    return date.fromisoformat(keys[0]), date.fromisoformat(keys[-1])
