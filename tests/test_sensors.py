"""The landing-zone sensor against a real landing folder and a real (ephemeral) instance."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.contract import SOURCES
from resources import LandingZone
from sensors.landing import changed_partitions, days_to_cover, landing_zone_sensor
from tests.conftest import DAY, LandFile

ALL_SOURCES = [dg.AssetKey(["raw", source]) for source in sorted(SOURCES)]


def _loaded_and_cleaned(*sources: str) -> list[dg.AssetKey]:
    """What a day's ingest run builds for these sources: each one's raw and cleaned partition."""
    return [dg.AssetKey([layer, source]) for source in sources for layer in ("raw", "cleaned")]


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """One persistent instance for every tick of a test, as the daemon has."""
    (tmp_path / "instance").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "instance")) as persistent:
        yield persistent


class Ticks:
    """Evaluates the sensor tick after tick, carrying its cursor like the daemon does."""

    def __init__(self, instance: dg.DagsterInstance, landing_zone) -> None:
        self.instance = instance
        self.landing_zone = landing_zone
        self.cursor: str | None = None
        self.run_keys: list[str] = []

    def __call__(self) -> list[dg.RunRequest]:
        context = dg.build_sensor_context(
            cursor=self.cursor,
            instance=self.instance,
            resources={"landing_zone": self.landing_zone},
        )
        result = landing_zone_sensor(context)
        assert isinstance(result, dg.SensorResult)
        self.cursor = result.cursor
        requests = list(result.run_requests or [])
        self.run_keys += [r.run_key for r in requests if r.run_key]
        return requests


@pytest.fixture
def tick(instance: dg.DagsterInstance, landing_zone) -> Ticks:
    return Ticks(instance, landing_zone)


def _requested(requests: list[dg.RunRequest]) -> list[tuple[str | None, list]]:
    return [(r.partition_key, list(r.asset_selection or [])) for r in requests]


def test_changed_partitions_compares_fingerprints() -> None:
    assert changed_partitions({"a/d1": "x", "b/d1": "y"}, {"a/d1": "x", "b/d1": "old"}) == [
        ("b", "d1")
    ]


def test_days_between_landed_days_are_covered() -> None:
    assert days_to_cover({date(2026, 11, 4), date(2026, 11, 2)}) == [
        date(2026, 11, 2),
        date(2026, 11, 3),
        date(2026, 11, 4),
    ]
    assert days_to_cover(set()) == []


def test_a_landed_day_requests_every_source_once_silent_ones_as_empty_partitions(
    land: LandFile, tick: Ticks
) -> None:
    land("orders", "a.csv", "order_id\n")
    assert _requested(tick()) == [(DAY, _loaded_and_cleaned(*sorted(SOURCES)))]
    assert tick() == []


def test_a_day_with_no_file_between_landed_days_is_an_empty_day(
    land: LandFile, tick: Ticks
) -> None:
    land("orders", "a.csv", "order_id\n")
    land("orders", "b.csv", "order_id\n", day="2026-11-04")
    assert [r.partition_key for r in tick()] == [DAY, "2026-11-03", "2026-11-04"]


def test_late_file_requests_only_its_source_again(land: LandFile, tick: Ticks) -> None:
    land("orders", "a.csv", "order_id\n")
    tick()
    land("products", "a.csv", "sku\n")
    assert _requested(tick()) == [(DAY, _loaded_and_cleaned("products"))]
    assert len(set(tick.run_keys)) == len(tick.run_keys) == 2


def test_a_vanished_day_is_looked_at_again(land: LandFile, tick: Ticks) -> None:
    path = land("orders", "a.csv", "order_id\n")
    tick()
    os.remove(path)
    path.parent.rmdir()
    # The raw step keeps the day's rows (from the archive) and reports the vanished file.
    assert _requested(tick()) == [(DAY, _loaded_and_cleaned("orders"))]


def test_a_listing_seen_before_gets_a_new_run_key_across_a_restart(
    land: LandFile, tick: Ticks, landing_zone, tmp_path: Path
) -> None:
    path = land("orders", "a.csv", "order_id\n")
    stat = path.stat()
    tick()
    content = path.read_bytes()
    path.unlink()
    tick()
    # Restored with its old timestamps: the very listing of the first tick.
    path.write_bytes(content)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    # A restarted daemon: a new instance on the same storage, the cursor it kept.
    with dg.instance_for_test(temp_dir=str(tmp_path / "instance")) as restarted:
        after_restart = Ticks(restarted, landing_zone)
        after_restart.cursor = tick.cursor
        assert [r.partition_key for r in after_restart()] == [DAY]
    keys = tick.run_keys + after_restart.run_keys
    assert len(keys) == 3 and len(set(keys)) == 3


def test_work_done_outside_the_sensor_is_not_requested_again(
    land: LandFile, tick: Ticks, instance: dg.DagsterInstance, landing_zone, warehouse
) -> None:
    from platform_assets.definitions import defs

    land("orders", "a.csv", "order_id\n")
    # What `cdp run` does: every source of the day, in process, on the same instance.
    dg.materialize(
        [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)],
        partition_key=DAY,
        selection=ALL_SOURCES,
        resources={**(defs.resources or {}), "warehouse": warehouse, "landing_zone": landing_zone},
        instance=instance,
    )
    assert tick() == []
    land("orders", "b.csv", "order_id\n")
    assert _requested(tick()) == [(DAY, _loaded_and_cleaned("orders"))]


def test_a_file_still_being_written_is_not_requested(land: LandFile, tick: Ticks) -> None:
    land("orders", "a.csv.part", "order_id\n")
    assert tick() == []
    tick.landing_zone = LandingZone(root=str(tick.landing_zone.path), settle_seconds=3600)
    land("orders", "a.csv", "order_id\n")
    assert tick() == []


def test_folder_outside_the_partition_range_requests_nothing(land: LandFile, tick: Ticks) -> None:
    land("orders", "a.csv", "order_id\n", day="2019-05-01")
    assert tick() == []


def test_a_missing_landing_root_requests_nothing_and_says_why(tmp_path: Path) -> None:
    context = dg.build_sensor_context(
        resources={"landing_zone": LandingZone(root=str(tmp_path / "unmounted"))}
    )
    result = landing_zone_sensor(context)
    assert isinstance(result, dg.SkipReason)
    assert "does not exist" in (result.skip_message or "")


def test_cleaned_day_follows_a_reloaded_raw_day_even_when_it_is_not_the_latest(
    land: LandFile, landing_zone, warehouse
) -> None:
    from platform_assets.definitions import defs

    land(
        "orders",
        "late.csv",
        "order_id,line_number,customer_id,ordered_at,sku\no1,1,s1,2026-11-02,A\n",
    )
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert first.total_requested == 0
        dg.materialize(
            assets,
            partition_key=DAY,
            selection=[dg.AssetKey(["raw", "orders"])],
            resources={
                **(defs.resources or {}),
                "warehouse": warehouse,
                "landing_zone": landing_zone,
            },
            instance=instance,
        )
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        assert after.get_requested_partitions(dg.AssetKey(["cleaned", "orders"])) == {DAY}
        # Only the reloaded day follows; the dbt view over cleaned.orders comes along in the
        # same run, the layers that need other sources wait for them.
        requested = {
            key: after.get_requested_partitions(key)
            for key in defs.resolve_asset_graph().get_all_asset_keys()
            if after.get_requested_partitions(key)
        }
        assert all(partitions == {DAY} for partitions in requested.values())
        assert not any(key.path[0] in ("identity", "exports") for key in requested)
        # What reads cleaned.orders waits for the day's blocking conservation check.
        view = dg.AssetKey(["staging", "stg_cleaned__order_lines"])
        assert view not in requested
        dg.materialize(
            assets,
            partition_key=DAY,
            selection=[dg.AssetKey(["cleaned", "orders"])],
            resources={**(defs.resources or {}), "warehouse": warehouse},
            instance=instance,
        )
        checked = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=after.cursor
        )
        # Its check has passed, yet the view waits for the day's identity graph: every dbt
        # model of a day is built in one run (test_daemon drives that through a real daemon).
        assert checked.get_requested_partitions(view) == set()
        label = "after the day's identity graph"
        assert label in str(defs.resolve_asset_graph().get(view).automation_condition)


def test_a_failed_blocking_check_holds_what_is_below_until_a_rerun_passes() -> None:
    from platform_assets.automation import FOLLOWS_INPUTS_ON_ANY_DAY
    from platform_assets.partitions import daily_partitions

    outcome = {"passed": False}

    @dg.asset(
        partitions_def=daily_partitions,
        automation_condition=FOLLOWS_INPUTS_ON_ANY_DAY,
        check_specs=[dg.AssetCheckSpec("size_change", asset="tables", blocking=True)],
    )
    def tables() -> dg.MaterializeResult:
        return dg.MaterializeResult(
            check_results=[dg.AssetCheckResult(check_name="size_change", passed=outcome["passed"])]
        )

    @dg.asset(
        deps=[tables],
        partitions_def=daily_partitions,
        automation_condition=FOLLOWS_INPUTS_ON_ANY_DAY,
    )
    def files() -> None:
        return None

    defs = dg.Definitions(assets=[tables, files])
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        # The size guard fails in the run: Dagster skips `files` in that run...
        run = dg.materialize(
            [tables, files], partition_key=DAY, instance=instance, raise_on_error=False
        )
        assert not any(
            event.materialization.asset_key == files.key
            for event in run.get_asset_materialization_events()
        )
        # ...and the next ticks do not run it either, though its input was updated.
        held = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        assert DAY not in held.get_requested_partitions(files.key)
        again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=held.cursor)
        assert DAY not in again.get_requested_partitions(files.key)

        outcome["passed"] = True
        dg.materialize([tables], partition_key=DAY, instance=instance)
        released = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=again.cursor
        )
        assert DAY in released.get_requested_partitions(files.key)
