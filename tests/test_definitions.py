"""The graph contract: a refactor cannot silently re-wire lineage, groups or partitions."""

from pathlib import Path

import dagster as dg
import yaml

from platform_assets.contract import SOURCES
from platform_assets.definitions import defs
from platform_assets.partitions import start_date
from platform_assets.settings import WAREHOUSE_WRITER_POOL

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("raw", "cleaned")


def _assets() -> list[dg.AssetsDefinition]:
    return [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)


def test_asset_graph_has_exactly_one_asset_per_layer_and_source() -> None:
    keys = {key for assets_def in _assets() for key in assets_def.keys}
    assert keys == {dg.AssetKey([layer, source]) for layer in LAYERS for source in SOURCES}


def test_layer_name_is_group_and_key_prefix() -> None:
    for assets_def in _assets():
        for key, group in assets_def.group_names_by_key.items():
            assert key.path[0] == group


def test_every_asset_is_daily_partitioned_from_the_start_date() -> None:
    for assets_def in _assets():
        partitions = assets_def.partitions_def
        assert isinstance(partitions, dg.DailyPartitionsDefinition)
        assert partitions.get_first_partition_key() == start_date().isoformat()


def test_cleaned_depends_on_its_raw_source_only() -> None:
    graph = defs.resolve_asset_graph()
    for source in SOURCES:
        assert graph.get(dg.AssetKey(["cleaned", source])).parent_keys == {
            dg.AssetKey(["raw", source])
        }
        assert graph.get(dg.AssetKey(["raw", source])).parent_keys == set()


def test_every_writing_asset_shares_the_single_writer_pool() -> None:
    assert {assets_def.op.pool for assets_def in _assets()} == {WAREHOUSE_WRITER_POOL}
    instance_settings = yaml.safe_load((ROOT / "dagster_home" / "dagster.yaml").read_text())
    assert instance_settings["concurrency"]["pools"]["default_limit"] == 1
    assert instance_settings["telemetry"]["enabled"] is False


def test_every_asset_has_freshness_owner_description_and_checks() -> None:
    for assets_def in _assets():
        for spec in assets_def.specs:
            assert isinstance(spec.freshness_policy, dg.FreshnessPolicy), spec.key
            assert spec.owners == ["team:data-platform"]
            assert spec.description and len(spec.description) > 80
        check_names = {spec.name for spec in assets_def.check_specs}
        assert {"schema", "volume"} <= check_names
        if assets_def.key.path[0] == "cleaned":
            assert "conservation" in check_names


def test_conservation_check_blocks_downstream() -> None:
    for assets_def in _assets():
        for spec in assets_def.check_specs:
            assert spec.blocking == (spec.name == "conservation")


def test_sensors_start_running() -> None:
    for name in ("landing_zone_sensor", "automation_sensor"):
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
    assert {t["name"]: t["meta"]["dagster"]["asset_key"] for t in cleaned["tables"]} == {
        source: ["cleaned", source] for source in SOURCES
    }
