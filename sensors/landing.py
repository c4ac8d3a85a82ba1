"""Materialize a day's raw and cleaned partitions whenever files of the day land, change or
disappear.

When is a day complete? A day exists once any source lands a settled file for it (or a later
day lands: the days between are days where nothing landed). From then on every source has a
partition for that day, empty when the source sent nothing, so everything below the raw layer
can follow without waiting on a partition no file will ever fill. A file that arrives later for
that day is a late file: its source's partition is loaded again and the layers below follow.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from platform_assets.cleaned.assets import cleaned_asset_key
from platform_assets.contract import SOURCES
from platform_assets.jobs import REALTIME_SOURCES, ingest
from platform_assets.partitions import partition_range
from platform_assets.raw import raw_asset_key
from platform_assets.raw.assets import LANDING_FINGERPRINT
from resources import LandingZone
from resources.configuration import sensor_interval_seconds
from resources.landing_zone import LandingRootUnusable


def changed_partitions(current: dict[str, str], previous: dict[str, str]) -> list[tuple[str, str]]:
    """(source, day) pairs whose file listing differs from the one last seen."""
    return sorted(
        (tuple(entry.split("/", 1)))  # type: ignore[misc]
        for entry, fingerprint in current.items()
        if previous.get(entry) != fingerprint
    )


def days_to_cover(landed: set[date]) -> list[date]:
    """Every day from the first landed day to the last: a day with no file at all between two
    landed days is an empty day, not a hole that stops the graph below it."""
    if not landed:
        return []
    first, last = min(landed), max(landed)
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def read_cursor(cursor: str | None) -> tuple[dict[str, str], int]:
    """The listings last seen and the number of ticks that requested runs."""
    if not cursor:
        return {}, 0
    state = json.loads(cursor)
    return state.get("listings", {}), int(state.get("generation", 0))


def _already_loaded(instance: dg.DagsterInstance, source: str, day: str, fingerprint: str) -> bool:
    """Whether the latest load of this partition saw this very listing (a `cdp run`, say)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=raw_asset_key(source), asset_partitions=[day]), limit=1
    ).records
    if not records:
        return False
    materialization = records[0].asset_materialization
    seen = materialization.metadata.get(LANDING_FINGERPRINT) if materialization else None
    return seen is not None and seen.value == fingerprint


@dg.sensor(
    name="landing_zone_sensor",
    description="Watches the landing zone; a new, rewritten or vanished file of a day requests "
    "that day's raw partition of its source, and every source silent on a landed day gets an "
    "empty partition. The same run cleans what it loaded.",
    job=ingest,
    minimum_interval_seconds=sensor_interval_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def landing_zone_sensor(
    context: dg.SensorEvaluationContext, landing_zone: LandingZone
) -> dg.SensorResult | dg.SkipReason:
    previous, generation = read_cursor(context.cursor)
    try:
        landing_zone.require_root()
    except LandingRootUnusable as error:
        # Nothing is requested: an unmounted zone must not read as days where nothing landed.
        return dg.SkipReason(str(error))
    first, last = partition_range()
    listed = {
        (source, day): landing_zone.fingerprint(source, day.isoformat())
        for source in SOURCES
        for day in landing_zone.dates_in_range(source, first, last)
    }
    # A folder holding only files still being written does not make a day.
    empty = landing_zone.empty_fingerprint()
    landed = {day for (_, day), fingerprint in listed.items() if fingerprint != empty}
    current = {
        f"{source}/{day}": listed.get((source, day), empty)
        for source in SOURCES
        for day in days_to_cover(landed)
    }
    # A folder that vanished is looked at again: raw keeps its rows (from the archive) and its
    # check reports the vanished files.
    current |= {
        entry: "gone"
        for entry, fingerprint in previous.items()
        if entry not in current and fingerprint != empty
    }
    changed_by_day: dict[str, list[str]] = {}
    today = datetime.now(UTC).date().isoformat()
    for source, day in changed_partitions(current, previous):
        fingerprint = current[f"{source}/{day}"]
        if day == today and source in REALTIME_SOURCES:
            # Today's events are the real-time sensor's. Left out of the cursor too, so that
            # once the day is over this sensor looks again: it loads the day unless the real-time
            # path already loaded exactly this listing.
            current[f"{source}/{day}"] = previous.get(f"{source}/{day}", "deferred")
            continue
        if fingerprint != "gone" and _already_loaded(context.instance, source, day, fingerprint):
            continue  # loaded already, by `cdp run` or an earlier run
        # One run per day for every source that changed on it: raw loads a day's sources in
        # one step, so a day whose eight files land together costs one run, not eight. The run
        # cleans them too: cleaned would follow raw through its automation condition anyway,
        # a tick and a run's start-up later (a run's process loads the definitions first).
        changed_by_day.setdefault(day, []).append(source)
    if changed_by_day:
        generation += 1
    requests = [
        dg.RunRequest(
            # Unique per tick that asks: a listing seen before (a folder restored with its old
            # timestamps, a day vanishing twice) is still loaded again.
            run_key=f"{day}/{generation}/"
            + hashlib.sha256(
                ",".join(f"{s}:{current[f'{s}/{day}']}" for s in sources).encode()
            ).hexdigest()[:16],
            partition_key=day,
            asset_selection=[
                key
                for source in sources
                for key in (raw_asset_key(source), cleaned_asset_key(source))
            ],
        )
        for day, sources in sorted(changed_by_day.items())
    ]
    listings = {k: v for k, v in current.items() if v != "gone"}
    return dg.SensorResult(
        run_requests=requests,
        skip_reason=None
        if requests
        else f"{len(landed)} landed day(s), each already loaded as listed (by a sensor run or"
        " `cdp run`)",
        cursor=json.dumps({"listings": listings, "generation": generation}, sort_keys=True),
    )
