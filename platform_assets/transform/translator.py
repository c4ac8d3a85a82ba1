"""How dbt nodes become Dagster assets: one name per layer, freshness and owners."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from platform_assets.automation import FOLLOWS_INPUTS_ON_ANY_DAY
from platform_assets.partitions import daily_partitions
from platform_assets.settings import OWNERS
from platform_assets.transform.settings import FRESHNESS, TEST_DESCRIPTIONS

# Without this, automation builds the dbt models over cleaned tables as soon as cleaned is in,
# and the rest after identity: two dbt runs a day, and dbt's tests of the first run include
# relationship tests of facts that do not exist yet. Waiting until the day's identity graph is
# built (not merely requested: models that do not read identity are evaluated before it) puts
# every model of the day in one run.
AFTER_THE_DAYS_IDENTITY = dg.AutomationCondition.asset_matches(
    dg.AssetKey(["identity", "customer_records"]),
    ~dg.AutomationCondition.missing() & ~dg.AutomationCondition.in_progress(),
).with_label("after the day's identity graph")


def _layer(dbt_resource_props: Mapping[str, Any]) -> str | None:
    if dbt_resource_props["resource_type"] == "source":
        return None
    return dbt_resource_props["config"].get("schema")


class CdpDbtTranslator(DagsterDbtTranslator):
    """Model `star.fct_orders` is asset `star/fct_orders` in group `star`; sources keep the key
    of the Dagster asset that writes them (their `meta.dagster.asset_key`)."""

    def __init__(self) -> None:
        # Error-severity dbt tests become blocking checks: a failing mart stops what reads it.
        super().__init__(DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        layer = _layer(dbt_resource_props)
        if layer is None:
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey([layer, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return _layer(dbt_resource_props)

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        # Sensors carry a late or new day through every layer: dbt follows identity like
        # identity follows cleaned, and a day's dbt models wait for the day's identity graph
        # even where they read only cleaned tables, so that a day runs dbt once.
        return FOLLOWS_INPUTS_ON_ANY_DAY & AFTER_THE_DAYS_IDENTITY

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        return OWNERS

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        layer = _layer(dbt_resource_props)
        tags = dict(super().get_tags(dbt_resource_props))
        return {**tags, "layer": layer} if layer else tags

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        layer = _layer(self.get_resource_props(manifest, unique_id))
        if layer in FRESHNESS:
            spec = spec.replace_attributes(freshness_policy=FRESHNESS[layer])
        return spec

    def get_asset_check_spec(
        self,
        asset_spec: dg.AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: DbtProject | None,
    ) -> dg.AssetCheckSpec | None:
        """Every test is a check of the day (its history reads by partition), described."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return None
        return dg.AssetCheckSpec(
            spec.name,
            asset=spec.asset_key,
            description=spec.description or test_description(manifest["nodes"][unique_id]),
            additional_deps=spec.additional_deps,
            blocking=spec.blocking,
            metadata=spec.metadata,
            partitions_def=daily_partitions,
            automation_condition=with_its_model(spec.asset_key),
        )


def with_its_model(model: dg.AssetKey) -> dg.AutomationCondition:
    """A dbt test is requested with its model. Without a condition of its own it would only ride
    along with its model's run, and Dagster drops those riders from a run that also requests
    checks explicitly (the exports' checks, in the day's dbt run): the daemon's daily dbt run
    then built the models without a single test."""
    return dg.AutomationCondition.asset_matches(
        model, dg.AutomationCondition.will_be_requested()
    ).with_label("with its model")


def test_description(test: Mapping[str, Any]) -> str:
    """A dbt test in words, from its kind's template and its arguments."""
    if test.get("description"):
        return str(test["description"])
    metadata = test.get("test_metadata") or {}
    template = TEST_DESCRIPTIONS.get(metadata.get("name", ""))
    if template is None:
        return f"dbt test `{test['name']}` returns no rows ({test['original_file_path']})."
    kwargs = metadata.get("kwargs", {})
    arguments = {
        "column": kwargs.get("column_name", ""),
        "to": str(kwargs.get("to", "")).removeprefix("ref('").removesuffix("')"),
        "field": kwargs.get("field", ""),
        "values": ", ".join(str(v) for v in kwargs.get("values", [])),
        "min_value": kwargs.get("min_value", "-∞"),
        "max_value": kwargs.get("max_value", "∞"),
        "columns": ", ".join(kwargs.get("combination_of_columns", [])),
    }
    return template.format(**arguments)
