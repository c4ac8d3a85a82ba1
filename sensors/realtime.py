"""The real-time path: today's posted events reach today's audience files within seconds.

The landing sensor and automation carry every other day and every other source; this sensor
carries only today's files of the sources `cdp serve` takes, and runs only the assets between
them and the audience files (the `realtime_path` job). The fallback schedule rebuilds the day
through the whole graph the next morning.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import dagster as dg

from platform_assets.jobs import REALTIME_SOURCES, realtime_path
from platform_assets.partitions import partition_range
from resources import LandingZone
from resources.configuration import realtime_interval_seconds

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def utc_now() -> datetime:
    """The sensor's clock: "today" is the UTC day of this moment."""
    return datetime.now(UTC)


def day_listing(landing_zone: LandingZone, day: str) -> dict[str, str]:
    """The fingerprint of one day's files, per real-time source."""
    return {source: landing_zone.fingerprint(source, day) for source in REALTIME_SOURCES}


def _digest(listing: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(listing, sort_keys=True).encode()).hexdigest()[:16]


@dg.sensor(
    name="realtime_sensor",
    description="Every few seconds, looks at today's web, email and consent files (posted through"
    " `cdp serve` or dropped); new ones request the realtime_path job for today: raw to today's"
    " audience files, so a cart or an unsubscribe shows there within seconds.",
    job=realtime_path,
    minimum_interval_seconds=realtime_interval_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def realtime_sensor(
    context: dg.SensorEvaluationContext, landing_zone: LandingZone
) -> dg.SensorResult | dg.SkipReason:
    state = json.loads(context.cursor) if context.cursor else {}
    today = utc_now().date()
    first, last = partition_range()
    if not first <= today <= last:
        return dg.SkipReason(f"today ({today}) is outside the partitions {first} to {last}")
    if not landing_zone.path.is_dir():
        return dg.SkipReason(f"the landing root {landing_zone.path} does not exist")
    fingerprints = day_listing(landing_zone, today.isoformat())
    if all(value == landing_zone.empty_fingerprint() for value in fingerprints.values()):
        return dg.SkipReason("nothing landed for today yet")
    listing = _digest(fingerprints)
    if state.get("day") == today.isoformat() and state.get("listing") == listing:
        return dg.SkipReason("no new file for today since the last run")
    # One run at a time: a run in flight reads what landed before it started, and the next tick
    # after it picks up the rest in one run (a burst of posts costs one run, not one each).
    in_flight = context.instance.get_runs(
        dg.RunsFilter(job_name=realtime_path.name, statuses=IN_FLIGHT), limit=1
    )
    if in_flight:
        return dg.SkipReason(f"run {in_flight[0].run_id} is still carrying today's events")
    generation = int(state.get("generation", 0)) + 1
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                # Unique per request: a listing seen before (files restored) still runs again.
                run_key=f"{today.isoformat()}/{generation}/{listing}",
                partition_key=today.isoformat(),
                tags={"cdp/trigger": "realtime"},
            )
        ],
        cursor=json.dumps(
            {"day": today.isoformat(), "listing": listing, "generation": generation},
            sort_keys=True,
        ),
    )
