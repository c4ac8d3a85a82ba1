"""Materialize a raw partition whenever files of its day land, change or disappear."""

import json

import dagster as dg

from platform_assets.contract import SOURCES
from platform_assets.partitions import partition_range
from platform_assets.raw import raw_asset_key, raw_assets
from resources import LandingZone


def changed_partitions(current: dict[str, str], previous: dict[str, str]) -> list[tuple[str, str]]:
    """(source, day) pairs whose file listing differs from the one last seen."""
    return sorted(
        (tuple(entry.split("/", 1)))  # type: ignore[misc]
        for entry, fingerprint in current.items()
        if previous.get(entry) != fingerprint
    )


@dg.sensor(
    name="landing_zone_sensor",
    description="Watches the landing zone; a new, rewritten or removed file of a day requests "
    "that day's raw partition of its source. Cleaned partitions follow through their "
    "automation condition.",
    target=raw_assets,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def landing_zone_sensor(
    context: dg.SensorEvaluationContext, landing_zone: LandingZone
) -> dg.SensorResult:
    previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    first, last = partition_range()
    current = {
        f"{source}/{day}": landing_zone.fingerprint(source, day.isoformat())
        for source in SOURCES
        for day in landing_zone.dates_in_range(source, first, last)
    }
    # A day whose folder vanished is reloaded too, so its rows leave the raw layer.
    current |= {entry: "gone" for entry in previous if entry not in current}
    # One run per day for every source that changed on it: raw loads a day's sources in one
    # step, so a day whose eight files land together costs one run, not eight.
    changed_by_day: dict[str, list[str]] = {}
    for source, day in changed_partitions(current, previous):
        changed_by_day.setdefault(day, []).append(source)
    requests = [
        dg.RunRequest(
            run_key=day + "/" + ",".join(f"{s}:{current[f'{s}/{day}']}" for s in sources),
            partition_key=day,
            asset_selection=[raw_asset_key(source) for source in sources],
        )
        for day, sources in sorted(changed_by_day.items())
    ]
    return dg.SensorResult(
        run_requests=requests,
        cursor=json.dumps({k: v for k, v in current.items() if v != "gone"}, sort_keys=True),
    )
