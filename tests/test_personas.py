"""Personas: the pure k-means core on small frames (dbt's Python models run it in the dbt tests)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest

from platform_assets.transform.personas import assign_personas, describe_personas, run_as_of_date

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


def test_centroids_described_from_the_members_equal_those_of_the_fit() -> None:
    frame = features({"big": (20, BIG_SPENDERS), "reader": (20, ENGAGED_READERS),
                      "lapsing": (20, LAPSING)})  # fmt: skip
    fitted = assign_personas(frame, AS_OF)
    described = describe_personas(frame, fitted.members, AS_OF)
    expected = fitted.centroids.sort("persona")
    assert described.columns == expected.columns
    assert described["persona"].to_list() == expected["persona"].to_list()
    assert described["customers"].to_list() == [20, 20, 20]
    for column in expected.columns:
        if expected[column].dtype == pl.Float64:
            assert np.allclose(described[column].to_numpy(), expected[column].to_numpy())
    assert set(fitted.members["k"].to_list()) == {3}


@pytest.mark.parametrize(
    ("as_of_var", "window", "expected"),
    [
        ("2026-11-15 00:00:00+00:00", None, date(2026, 11, 14)),
        ("None", datetime(2026, 11, 10, tzinfo=UTC), date(2026, 11, 9)),
        (None, None, date(2026, 11, 20)),
    ],
)
def test_a_run_evaluates_the_var_else_the_window_else_now(
    as_of_var: str | None, window: datetime | None, expected: date
) -> None:
    now = datetime(2026, 11, 20, 11, 30, tzinfo=UTC)
    assert run_as_of_date(as_of_var, window, now) == expected
