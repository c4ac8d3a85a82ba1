"""The whole graph unattended: files land day by day, some sources silent on some days, and the
daemon's sensors and automation carry every day to the audience files with no one pressing a
button. Its own module so that it runs beside the other daemon tests, not after them."""

from __future__ import annotations

import shutil
import time
from datetime import date
from pathlib import Path

import dagster as dg

from tests.conftest import DAY
from tests.processes import dagster_process, materialized_partitions, why_failed


def _partitioned_keys() -> list[dg.AssetKey]:
    from platform_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    # Every partitioned asset the platform builds (the landing files are observed, not built).
    return sorted(
        (
            key
            for key in graph.get_all_asset_keys()
            if graph.get(key).is_partitioned and graph.get(key).is_materializable
        ),
        key=lambda key: key.to_user_string(),
    )


def test_sources_that_skip_days_reach_the_audience_files_unattended(
    tmp_path: Path, home: Path, landing_zone, warehouse
) -> None:
    from platform_assets.generator import GeneratorConfig, generate

    staged = tmp_path / "staged"
    generate(
        GeneratorConfig(
            landing_dir=staged,
            truth_dir=tmp_path / "truth",
            people=60,
            days=2,
            start_date=date.fromisoformat(DAY),
            progress=False,
        )
    )
    first, second = DAY, "2026-11-03"
    # Day one, as on many real days: no web, email or support files.
    silent_on_first = {"web_events", "email_events", "support_tickets"}
    landing_zone.path.mkdir(parents=True)
    exports = tmp_path / "exports"
    env = {
        "DAGSTER_HOME": str(home),
        "CDP_LANDING_DIR": str(landing_zone.path),
        "CDP_DUCKDB_PATH": str(warehouse.path),
        "CDP_EXPORT_DIR": str(exports),
        "CDP_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "CDP_GROUND_TRUTH_DIR": str(tmp_path / "truth"),
        # The sensors look every 10 s, not every 30 s: a day is three runs, each a tick apart.
        # Every 5 s cost 10 % more CPU (112 to 126 s against 104 to 107 s) and no time: each run
        # spends most of a tick starting its process and loading the definitions.
        "CDP_SENSOR_INTERVAL_SECONDS": "10",
    }

    def land_day(day: str, skip: set[str]) -> None:
        for source_folder in sorted(staged.iterdir()):
            if source_folder.name not in skip and (source_folder / day).is_dir():
                shutil.copytree(source_folder / day, landing_zone.path / source_folder.name / day)

    keys = _partitioned_keys()
    with (
        dagster_process(["dagster-daemon", "run", "-w", "workspace.yaml"], env) as daemon,
        dg.DagsterInstance.from_config(str(home)) as instance,
    ):

        def missing(days: set[str]) -> list[str]:
            return [
                f"{key.to_user_string()}:{day}"
                for key in keys
                for day in sorted(days - materialized_partitions(instance, key.path))
            ]

        def wait_for(days: set[str]) -> list[str]:
            # A wait, not a timing assertion: every run is its own process on 2 busy cores.
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline and missing(days):
                assert daemon.poll() is None, "the daemon stopped"
                failed = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
                assert not failed, why_failed(instance, failed[0])
                time.sleep(3)
            return missing(days)

        land_day(first, skip=silent_on_first)
        assert wait_for({first}) == []
        # The next day every source sends, and the silent ones' first-day files arrive late.
        land_day(second, skip=set())
        assert wait_for({first, second}) == []
        model = instance.get_latest_materialization_event(dg.AssetKey(["identity", "splink_model"]))
        assert model is not None
        # A landed day (or a late file) is one run of the landing sensor that loads and cleans
        # it: no other run builds a cleaned partition after it.
        cleaned_again = [
            (run.tags.get("dagster/sensor_name"), run.tags.get("dagster/partition"))
            for run in instance.get_runs()
            if any(key.path[0] == "cleaned" for key in run.asset_selection or [])
            and run.tags.get("dagster/sensor_name") != "landing_zone_sensor"
        ]
        assert cleaned_again == []
        # The daemon's dbt run of each day evaluates every dbt test, not only the exports'
        # checks it requests with them.
        dbt_runs = [
            run
            for run in instance.get_runs()
            if any(key.path[0] == "star" for key in run.asset_selection or [])
        ]
        assert sorted(run.tags["dagster/partition"] for run in dbt_runs) == [first, second]
        for run in dbt_runs:
            evaluated = {
                record.dagster_event.event_specific_data.check_name
                for record in instance.all_logs(
                    run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
                )
            }
            assert {"unique_fct_orders_order_id", "not_null_stg_cleaned__products_sku"} <= evaluated
            assert len(evaluated) >= 100  # the day's 100 dbt tests, and the exports' checks
    for day in (first, second):
        assert sorted(path.name for path in (exports / day).glob("*.csv")), f"no audiences {day}"
    silent = warehouse.query(
        "select count(*) as n from raw.web_events where _partition_date = ?", [date(2026, 11, 2)]
    )
    assert silent["n"][0] == 0  # the silent day is an empty partition, not a missing one
