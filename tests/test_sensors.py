"""The landing-zone sensor against a real landing folder and a real (ephemeral) instance."""

from __future__ import annotations

import json
import os

import dagster as dg

from sensors.landing import changed_partitions, landing_zone_sensor
from tests.conftest import DAY, LandFile


def _evaluate(landing_zone, cursor: str | None) -> dg.SensorResult:
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            cursor=cursor, instance=instance, resources={"landing_zone": landing_zone}
        )
        return landing_zone_sensor(context)


def test_changed_partitions_compares_fingerprints() -> None:
    assert changed_partitions({"a/d1": "x", "b/d1": "y"}, {"a/d1": "x", "b/d1": "old"}) == [
        ("b", "d1")
    ]


def test_new_file_requests_its_raw_partition_once(land: LandFile, landing_zone) -> None:
    land("orders", "a.csv", "order_id\n")
    first = _evaluate(landing_zone, None)
    assert [(r.partition_key, r.asset_selection) for r in first.run_requests] == [
        (DAY, [dg.AssetKey(["raw", "orders"])])
    ]
    again = _evaluate(landing_zone, first.cursor)
    assert again.run_requests == []
    assert json.loads(again.cursor) == json.loads(first.cursor)


def test_sources_landing_on_one_day_share_one_run(land: LandFile, landing_zone) -> None:
    land("orders", "a.csv", "order_id\n")
    land("products", "a.csv", "sku\n")
    land("orders", "b.csv", "order_id\n", day="2026-11-03")
    requests = _evaluate(landing_zone, None).run_requests
    assert [(r.partition_key, r.asset_selection) for r in requests] == [
        (DAY, [dg.AssetKey(["raw", "orders"]), dg.AssetKey(["raw", "products"])]),
        ("2026-11-03", [dg.AssetKey(["raw", "orders"])]),
    ]


def test_late_file_requests_the_partition_again(land: LandFile, landing_zone) -> None:
    land("orders", "a.csv", "order_id\n")
    first = _evaluate(landing_zone, None)
    land("orders", "b.csv", "order_id\n")
    late = _evaluate(landing_zone, first.cursor)
    assert [r.partition_key for r in late.run_requests] == [DAY]
    assert late.run_requests[0].run_key != first.run_requests[0].run_key


def test_removed_day_is_reloaded_so_its_rows_leave(land: LandFile, landing_zone) -> None:
    path = land("orders", "a.csv", "order_id\n")
    first = _evaluate(landing_zone, None)
    os.remove(path)
    path.parent.rmdir()
    gone = _evaluate(landing_zone, first.cursor)
    assert [r.partition_key for r in gone.run_requests] == [DAY]
    assert json.loads(gone.cursor) == {}


def test_folder_outside_the_partition_range_requests_nothing(land: LandFile, landing_zone) -> None:
    land("orders", "a.csv", "order_id\n", day="2019-05-01")
    assert _evaluate(landing_zone, None).run_requests == []


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
        assert checked.get_requested_partitions(view) == {DAY}


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
