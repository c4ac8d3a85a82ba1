"""Personas: the pure k-means core on small frames, then the asset on a real DuckDB file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from platform_assets.transform.personas import assign_personas, personas
from resources import Warehouse

AS_OF = date(2026, 11, 14)


def features(groups: dict[str, tuple[int, dict[str, float]]], seed: int = 7) -> pl.DataFrame:
    """customer_features rows: `count` customers around each group's feature values."""
    rng = np.random.default_rng(seed)
    rows = []
    for group, (count, centre) in groups.items():
        for index in range(count):
            rows.append(
                {
                    "customer_id": f"{group}-{index:03d}",
                    "as_of_date": AS_OF,
                    **{
                        name: max(0.0, value * rng.normal(1, 0.05))
                        for name, value in centre.items()
                    },
                }
            )
    return pl.DataFrame(rows).with_columns(pl.col("frequency_365d").round().cast(pl.Int64))


BIG_SPENDERS = {
    "recency_days": 10, "frequency_365d": 12, "monetary_365d": 2000,
    "email_open_rate_90d": 0.5, "email_click_rate_90d": 0.1, "web_sessions_30d": 8,
}  # fmt: skip
ENGAGED_READERS = {
    "recency_days": 60, "frequency_365d": 2, "monetary_365d": 120,
    "email_open_rate_90d": 0.95, "email_click_rate_90d": 0.6, "web_sessions_30d": 2,
}  # fmt: skip
LAPSING = {
    "recency_days": 300, "frequency_365d": 1, "monetary_365d": 40,
    "email_open_rate_90d": 0.02, "email_click_rate_90d": 0.0, "web_sessions_30d": 0.1,
}  # fmt: skip


def test_three_separated_groups_give_three_personas_numbered_by_spend() -> None:
    frame = features({"big": (30, BIG_SPENDERS), "reader": (40, ENGAGED_READERS),
                      "lapsing": (50, LAPSING)})  # fmt: skip
    result = assign_personas(frame, AS_OF)

    assert result.k == 3
    assert result.silhouette_by_k[3] == max(result.silhouette_by_k.values())
    persona_of = dict(result.members.select("customer_id", "persona").iter_rows())
    # every group lands whole in one persona, and the big spenders are persona_1
    for group in ("big", "reader", "lapsing"):
        assert len({p for c, p in persona_of.items() if c.startswith(group)}) == 1
    assert {p for c, p in persona_of.items() if c.startswith("big")} == {"persona_1"}
    centroids = result.centroids.sort("persona")
    assert centroids["customers"].to_list() == [30, 40, 50]
    assert "high" in centroids["persona_description"][0]
    assert result.members["as_of_date"].unique().to_list() == [AS_OF]


def test_personas_carry_their_names_over_from_the_previous_day() -> None:
    frame = features({"big": (30, BIG_SPENDERS), "reader": (40, ENGAGED_READERS),
                      "lapsing": (50, LAPSING)})  # fmt: skip
    first = assign_personas(frame, AS_OF)
    # Yesterday's big spenders were called persona_3: today they keep that name, although a
    # fresh fit would number them persona_1 by spend.
    renamed = first.centroids.with_columns(
        persona=pl.col("persona").replace({"persona_1": "persona_3", "persona_3": "persona_1"})
    )
    second = assign_personas(frame.reverse(), AS_OF, previous_centroids=renamed)
    persona_of = dict(second.members.select("customer_id", "persona").iter_rows())
    assert {p for c, p in persona_of.items() if c.startswith("big")} == {"persona_3"}
    assert second.k == 3
    sizes = dict(second.centroids.select("persona", "customers").iter_rows())
    assert sizes == {"persona_3": 30, "persona_2": 40, "persona_1": 50}


def test_customers_without_a_purchase_in_the_year_are_not_clustered() -> None:
    frame = features({"big": (20, BIG_SPENDERS), "lapsing": (20, LAPSING),
                      "never": (10, {**LAPSING, "frequency_365d": 0})})  # fmt: skip
    result = assign_personas(frame, AS_OF)
    assert result.members.height == 40
    assert not result.members.filter(pl.col("customer_id").str.starts_with("never")).height


def test_missing_email_rates_count_as_no_engagement() -> None:
    frame = features({"big": (20, BIG_SPENDERS), "lapsing": (20, LAPSING)}).with_columns(
        email_open_rate_90d=pl.when(pl.col("customer_id").str.starts_with("lapsing"))
        .then(None)
        .otherwise(pl.col("email_open_rate_90d"))
    )
    result = assign_personas(frame, AS_OF)
    assert result.k == 2 and result.members.height == 40


def test_too_few_buyers_give_no_personas_rather_than_an_error() -> None:
    result = assign_personas(features({"big": (2, BIG_SPENDERS)}), AS_OF)
    assert result.k == 0 and result.members.is_empty() and result.centroids.is_empty()


def test_the_same_features_give_the_same_personas() -> None:
    frame = features({"big": (30, BIG_SPENDERS), "reader": (30, ENGAGED_READERS)})
    first, second = assign_personas(frame, AS_OF), assign_personas(frame.reverse(), AS_OF)
    assert first.members.equals(second.members)


def test_asset_writes_personas_and_centroids_and_replaces_its_day(tmp_path: Path) -> None:
    warehouse = Warehouse(database=str(tmp_path / "warehouse.duckdb"))
    frame = features({"big": (20, BIG_SPENDERS), "reader": (20, ENGAGED_READERS),
                      "lapsing": (20, LAPSING)})  # fmt: skip
    with warehouse.connection() as db:
        db.execute("create schema segments")
        db.register("frame", frame.to_arrow())
        db.execute("create table segments.customer_features as select * from frame")
        # another day's features must not be read into this day's personas
        db.execute(
            """insert into segments.customer_features
            select * replace (date '2026-11-13' as as_of_date, customer_id || '-old' as customer_id)
            from frame"""
        )

    for _ in range(2):
        result = personas(dg.build_asset_context(partition_key=AS_OF.isoformat()), warehouse)
    assert isinstance(result, dg.MaterializeResult)
    assert result.metadata and result.metadata["k"] == 3
    counts = warehouse.query(
        """select (select count(*) from segments.personas) as members,
        (select count(distinct customer_id) from segments.personas) as customers,
        (select count(*) from segments.persona_centroids) as centroids,
        (select count(*) from segments.personas where customer_id like '%-old') as other_day"""
    ).to_dicts()[0]
    assert counts == {"members": 60, "customers": 60, "centroids": 3, "other_day": 0}


def test_asset_is_a_daily_segments_asset_whose_description_states_its_grain() -> None:
    spec = next(iter(personas.specs))
    assert spec.description and "one row per" in spec.description.lower()
    assert spec.key == dg.AssetKey(["segments", "personas"])
    assert spec.group_name == "segments"
    assert personas.partitions_def is not None
    assert personas.partitions_def.has_partition_key(AS_OF.isoformat())
