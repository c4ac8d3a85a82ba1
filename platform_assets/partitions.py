"""The one partitioning of the platform: a day, named by its landing-zone date folder."""

from __future__ import annotations

import os
from datetime import date, timedelta
from typing import Any

import dagster as dg

from platform_assets.settings import DEFAULT_START_DATE, WAREHOUSE_WRITER_POOL


def start_date() -> date:
    return date.fromisoformat(os.environ.get("CDP_START_DATE") or DEFAULT_START_DATE)


def end_date() -> date | None:
    """The last partition when CDP_END_DATE is set (a demo or a replay of history that ends
    before today), else None: the partitions run to today."""
    configured = os.environ.get("CDP_END_DATE")
    if not configured:
        return None
    try:
        return date.fromisoformat(configured)
    except ValueError:
        raise ValueError(f"CDP_END_DATE {configured!r} is not a YYYY-MM-DD date") from None


def _daily_partitions() -> dg.DailyPartitionsDefinition:
    last = end_date()
    if last is None:
        # end_offset=1 includes today, so files landing during the day load before midnight.
        return dg.DailyPartitionsDefinition(start_date=start_date().isoformat(), end_offset=1)
    if last < start_date():
        raise ValueError(f"CDP_END_DATE {last} is before CDP_START_DATE {start_date()}")
    # Dagster's end date is exclusive.
    return dg.DailyPartitionsDefinition(
        start_date=start_date().isoformat(), end_date=(last + timedelta(days=1)).isoformat()
    )


# Read when the definitions load, the settings that cannot wait for a run: the partition set
# is part of the asset graph itself.
daily_partitions = _daily_partitions()

# Every daily asset reads and replaces exactly one day, so a backfill runs one day per run, in
# order of the dependencies between days (identity builds on the day before). One policy for
# all of them also lets a run span layers without Dagster settling on the strictest.
one_day_per_run = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)

# What every daily step of the platform shares, set once: the day, one day per run, and the
# pool of the one DuckDB writer (`**DAILY_WRITER_STEP` in each asset decorator).
DAILY_WRITER_STEP: dict[str, Any] = {
    "partitions_def": daily_partitions,
    "backfill_policy": one_day_per_run,
    "pool": WAREHOUSE_WRITER_POOL,
}


def partition_range() -> tuple[date, date]:
    keys = daily_partitions.get_partition_keys()
    return date.fromisoformat(keys[0]), date.fromisoformat(keys[-1])
