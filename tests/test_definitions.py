"""The graph contract: a refactor cannot silently re-wire lineage, groups or partitions."""

from pathlib import Path

import dagster as dg
import yaml

from platform_assets.automation import FOLLOWS_INPUTS_ON_ANY_DAY
from platform_assets.contract import SOURCES
from platform_assets.definitions import defs
from platform_assets.partitions import start_date
from platform_assets.settings import WAREHOUSE_WRITER_POOL

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("raw", "cleaned")
IDENTITY = {
    dg.AssetKey(["identity", name])
    for name in (
        "splink_model",
        "person_records",
        "edges",
        "customer_records",
        "identity_events",
        "golden_customers",
        "review_queue",
    )
}
EXPORTS = {
    dg.AssetKey(["exports", name])
    for name in (
        "consent_state",
        "audiences",
        "people",
        "audience_memberships",
        "audience_files",
        "trigger_sends",
        "profile_snapshot",
    )
}
# Layers whose assets dbt defines: one asset per model, keyed by its schema.
DBT_LAYERS = ("staging", "intermediate", "star", "segments")
# The only checks that may block what is downstream, per layer.
BLOCKING = {
    "cleaned": {"conservation"},
    "identity": {"one_customer_per_record", "one_row_per_customer", "endpoints_exist"},
    "exports": {"consent_safe", "size_change", "schema"},
}


def _assets() -> list[dg.AssetsDefinition]:
    return [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]


def _keys() -> set[dg.AssetKey]:
    return {key for assets_def in _assets() for key in assets_def.keys}


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)


def test_asset_graph_has_exactly_the_layers_sources_and_identity_and_export_assets() -> None:
    keys = {key for key in _keys() if key.path[0] not in DBT_LAYERS}
    expected = {dg.AssetKey([layer, source]) for layer in LAYERS for source in SOURCES}
    assert keys == expected | IDENTITY | EXPORTS


def test_layer_name_is_group_and_key_prefix() -> None:
    for assets_def in _assets():
        for key, group in assets_def.group_names_by_key.items():
            assert key.path[0] == group


def test_every_asset_but_the_model_is_daily_partitioned_from_the_start_date() -> None:
    for assets_def in _assets():
        partitions = assets_def.partitions_def
        if set(assets_def.keys) == {dg.AssetKey(["identity", "splink_model"])}:
            assert partitions is None  # trained on all days at once
            continue
        assert isinstance(partitions, dg.DailyPartitionsDefinition), assets_def.keys
        assert partitions.get_first_partition_key() == start_date().isoformat()
        # One day per backfill run everywhere: each asset replaces exactly one day.
        assert assets_def.backfill_policy == dg.BackfillPolicy.multi_run(1), assets_def.keys


def test_cleaned_depends_on_its_raw_source_only_and_raw_on_its_landing_files() -> None:
    graph = defs.resolve_asset_graph()
    for source in SOURCES:
        assert graph.get(dg.AssetKey(["cleaned", source])).parent_keys == {
            dg.AssetKey(["raw", source])
        }
        landing = graph.get(dg.AssetKey(["landing", source]))
        assert graph.get(dg.AssetKey(["raw", source])).parent_keys == {landing.key}
        assert not landing.is_materializable and landing.is_partitioned


def test_identity_builds_on_cleaned_and_the_model_and_on_no_partition_of_its_own() -> None:
    graph = defs.resolve_asset_graph()
    customers = graph.get(dg.AssetKey(["identity", "customer_records"]))
    assert {
        dg.AssetKey(["cleaned", source])
        for source in ("crm_contacts", "shop_customers", "support_tickets", "identity_overrides")
    } <= customers.parent_keys
    assert dg.AssetKey(["identity", "splink_model"]) in customers.parent_keys
    # Day D is built on the graph as far as it got (resolve.py rewinds and reads every record
    # since), not through a partition mapping onto its own previous day: that would make
    # automation launch backfills. The five tables share one set of inputs.
    tables = [graph.get(key) for key in graph.get_all_asset_keys() if key.path[0] == "identity"]
    graph_tables = [t for t in tables if t.key.path[1] != "splink_model"]
    assert len({frozenset(t.parent_keys) for t in graph_tables}) == 1
    assert not any(t.key in t.parent_keys for t in graph_tables)


def test_every_writing_asset_shares_the_single_writer_pool() -> None:
    assert {assets_def.op.pool for assets_def in _assets()} == {WAREHOUSE_WRITER_POOL}
    instance_settings = yaml.safe_load((ROOT / "dagster_home" / "dagster.yaml").read_text())
    assert instance_settings["concurrency"]["pools"]["default_limit"] == 1
    assert instance_settings["telemetry"]["enabled"] is False


def test_every_asset_has_freshness_owner_and_description() -> None:
    for assets_def in _assets():
        for spec in assets_def.specs:
            assert isinstance(spec.freshness_policy, dg.FreshnessPolicy), spec.key
            assert spec.owners == ["team:data-platform"], spec.key
            assert spec.description and len(spec.description) > 40, spec.key


def test_every_raw_and_cleaned_asset_has_schema_and_volume_checks() -> None:
    for assets_def in _assets():
        if assets_def.keys and next(iter(assets_def.keys)).path[0] in LAYERS:
            check_names = {spec.name for spec in assets_def.check_specs}
            assert {"schema", "volume"} <= check_names
            if next(iter(assets_def.keys)).path[0] == "cleaned":
                assert "conservation" in check_names


def test_only_the_designated_checks_block_downstream() -> None:
    for assets_def in _assets():
        for spec in assets_def.check_specs:
            layer = spec.asset_key.path[0]
            if layer in DBT_LAYERS:
                continue  # dbt's error-severity tests block by design
            assert spec.blocking == (spec.name in BLOCKING.get(layer, set())), spec


def test_sensors_start_running() -> None:
    for name in ("landing_zone_sensor", "automation_sensor", "identity_model_drift_sensor"):
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING


def test_workspace_points_at_the_one_definitions() -> None:
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    target = workspace["load_from"][0]["python_module"]
    assert (target["module_name"], target["attribute"]) == ("platform_assets.definitions", "defs")


def test_dbt_source_cleaned_names_exactly_the_cleaned_assets() -> None:
    sources = yaml.safe_load(
        (ROOT / "dbt" / "models" / "staging" / "_cleaned__sources.yml").read_text()
    )
    (cleaned,) = [s for s in sources["sources"] if s["name"] == "cleaned"]
    assert cleaned["schema"] == "cleaned"
    # Every cleaned source dbt models names its Dagster asset; overrides and corrections feed
    # identity only.
    identity_only = ("identity_overrides", "profile_corrections")
    assert {t["name"]: t["meta"]["dagster"]["asset_key"] for t in cleaned["tables"]} == {
        source: ["cleaned", source] for source in SOURCES if source not in identity_only
    }


def test_every_layer_below_raw_follows_its_inputs_by_automation() -> None:
    # Raw is requested by the landing-zone sensor; everything below re-runs when inputs change,
    # so a late file flows from landing zone to audience file without anyone clicking.
    for assets_def in _assets():
        for spec in assets_def.specs:
            if spec.key.path[0] == "raw":
                continue
            condition = spec.automation_condition
            assert condition is not None, spec.key
            labels = _labels(condition)
            if spec.key == dg.AssetKey(["identity", "splink_model"]):
                # Trained when missing; retrained by the drift sensor, never by new data alone.
                assert "trained when missing, once its inputs have landed" in labels, spec.key
                continue
            # The one shared condition, which waits for the blocking checks of the inputs (or
            # runs with them), whatever a layer adds to it.
            assert FOLLOWS_INPUTS_ON_ANY_DAY.get_label() in labels, spec.key
            assert "inputs checked, or built in the same run" in labels, spec.key


def _labels(condition: dg.AutomationCondition) -> set[str | None]:
    found = {condition.get_label()}
    for child in condition.children:
        found |= _labels(child)
    return found


def test_the_fallback_schedule_runs_by_default_and_rebuilds_yesterday_through_every_layer() -> None:
    from datetime import UTC, datetime

    from platform_assets.jobs import daily_graph, fallback_daily_graph

    assert fallback_daily_graph.default_status == dg.DefaultScheduleStatus.RUNNING
    assert fallback_daily_graph.job_name == daily_graph.name
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 5, 6, 0, tzinfo=UTC)
    )
    request = fallback_daily_graph(context)
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == "2026-11-04"
    graph = defs.resolve_asset_graph()
    job_keys = defs.resolve_job_def("daily_graph").asset_layer.selected_asset_keys
    built = {
        key
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_partitioned and graph.get(key).is_materializable
    }
    assert built <= set(job_keys)
    # The landing files are an end of the lineage, never built by a run.
    assert not {key for key in job_keys if key.path[0] == "landing"}


def test_the_partitions_end_on_cdp_end_date_when_it_is_set() -> None:
    # Read when the definitions load: a fresh interpreter, as a code location would start.
    import os
    import subprocess
    import sys

    script = (
        "from platform_assets.definitions import defs\n"
        "from platform_assets.partitions import daily_partitions\n"
        "keys = daily_partitions.get_partition_keys()\n"
        "print(keys[0], keys[-1], len(keys))\n"
    )

    def run(end: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CDP_START_DATE": "2026-11-01", "CDP_END_DATE": end}
        return subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=ROOT
        )

    assert run("2026-11-14").stdout.split() == ["2026-11-01", "2026-11-14", "14"]
    wrong = run("the 14th")
    assert wrong.returncode != 0 and "CDP_END_DATE 'the 14th' is not a YYYY-MM-DD date" in (
        wrong.stderr
    )
