"""Personas: k-means clusters of customers over standardized RFM and engagement features.

The pure core (polars in, polars out) of the dbt Python models `segments.personas` and
`segments.persona_centroids` (dbt/models/segments/*.py), which run inside `dbt build` between
`customer_features` and `segment_membership`. No Dagster here: dbt imports this module.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from platform_assets.loading import collector_paused
from platform_assets.transform.persona_settings import (
    PERSONA_FEATURES,
    PERSONA_K_RANGE,
    PERSONA_LOG_FEATURES,
    PERSONA_RANDOM_SEED,
    PERSONA_SILHOUETTE_SAMPLE,
)

CENTROIDS_TABLE = "segments.persona_centroids"

MEMBER_SCHEMA = {
    "customer_id": pl.String,
    "as_of_date": pl.Date,
    "persona": pl.String,
    "persona_description": pl.String,
    "distance_to_centroid": pl.Float64,
    # The k of the day's fit and its silhouette score, the same on every row of the day.
    "k": pl.Int32,
    "silhouette_score": pl.Float64,
}


@dataclass(frozen=True)
class Personas:
    members: pl.DataFrame  # one row per clustered customer
    centroids: pl.DataFrame  # one row per persona
    k: int
    silhouette_by_k: dict[int, float]


def assign_personas(
    features: pl.DataFrame,
    as_of_date: date,
    feature_names: Sequence[str] = PERSONA_FEATURES,
    k_range: range = PERSONA_K_RANGE,
    seed: int = PERSONA_RANDOM_SEED,
    previous_centroids: pl.DataFrame | None = None,
) -> Personas:
    """Cluster the buyers of `features` (one as_of_date of customer_features) into personas.

    With the previous day's centroids, k-means starts from them and each persona keeps its
    name: `persona_2` stays the same kind of customer from one day to the next and its size
    moves with the data, not with k-means' arbitrary labels. Without them, k is the candidate
    with the best silhouette score and personas are numbered by their centroid's monetary
    value, highest first.
    """
    # Imported here: only dbt's persona models cluster, and scikit-learn costs seconds of
    # start-up in every process that loads the definitions. Without the collector's sweeps
    # (platform_assets/loading.py): 0.85 s instead of 1.05. Not frozen: dbt's other threads
    # are building their own models meanwhile.
    with collector_paused(freeze=False):
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score
        from sklearn.preprocessing import StandardScaler

    buyers = features.filter(pl.col("frequency_365d") > 0).sort("customer_id")
    candidates = [k for k in k_range if k < buyers.height]
    if not candidates:
        return _no_personas(feature_names)

    matrix = _feature_matrix(buyers, feature_names)
    scaler = StandardScaler().fit(matrix)
    scaled = scaler.transform(matrix)
    if np.allclose(scaled, scaled[0]):
        return _no_personas(feature_names)

    def silhouette(labels: np.ndarray) -> float:
        sample = min(PERSONA_SILHOUETTE_SAMPLE, len(labels))
        return float(silhouette_score(scaled, labels, sample_size=sample, random_state=seed))

    names: list[str] | None = None
    silhouette_by_k: dict[int, float] = {}
    labels_by_k: dict[int, np.ndarray] = {}
    if previous_centroids is not None and 2 <= previous_centroids.height < buyers.height:
        previous = previous_centroids.sort("persona")
        names = previous["persona"].to_list()
        start = scaler.transform(
            previous.select([f"{name}_mean" for name in feature_names]).to_numpy()
        )
        k = len(names)
        labels = KMeans(n_clusters=k, init=start, n_init=1).fit_predict(scaled)
        if len(set(labels)) >= 2:
            silhouette_by_k[k], labels_by_k[k] = silhouette(labels), labels
        else:
            names = None
    if names is None:
        for k in candidates:
            labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(scaled)
            if len(set(labels)) >= 2:
                silhouette_by_k[k], labels_by_k[k] = silhouette(labels), labels
    if not silhouette_by_k:
        return _no_personas(feature_names)
    best_k = max(silhouette_by_k, key=lambda k: (silhouette_by_k[k], -k))
    labels = labels_by_k[best_k]

    clustered = _with_features(buyers, matrix, scaled, feature_names).with_columns(
        cluster=pl.Series(labels)
    )
    centroids = _describe_centroids(
        clustered, feature_names, as_of_date, best_k, silhouette_by_k, names
    )
    labels_of_cluster = centroids.select("cluster", "persona", "persona_description")
    z_columns = [f"{name}_z" for name in feature_names]
    centre_z = centroids.select("cluster", *[pl.col(c).alias(f"centre_{c}") for c in z_columns])
    members = (
        clustered.join(labels_of_cluster, on="cluster")
        .join(centre_z, on="cluster")
        .with_columns(
            as_of_date=pl.lit(as_of_date),
            distance_to_centroid=pl.sum_horizontal(
                [(pl.col(c) - pl.col(f"centre_{c}")) ** 2 for c in z_columns]
            ).sqrt(),
            k=pl.lit(best_k, dtype=pl.Int32),
            silhouette_score=pl.lit(round(silhouette_by_k[best_k], 4)),
        )
        .select(list(MEMBER_SCHEMA))
        .sort("customer_id")
    )
    return Personas(members, centroids.drop("cluster"), best_k, silhouette_by_k)


def _with_features(
    buyers: pl.DataFrame, matrix: np.ndarray, scaled: np.ndarray, feature_names: Sequence[str]
) -> pl.DataFrame:
    """The buyers' ids beside each feature as clustered (`<name>`) and standardized (`_z`)."""
    return buyers.select("customer_id").with_columns(
        **{f"{name}_z": pl.Series(scaled[:, i]) for i, name in enumerate(feature_names)},
        **{name: pl.Series(matrix[:, i]) for i, name in enumerate(feature_names)},
    )


def _centroid_aggregates(feature_names: Sequence[str]) -> list[pl.Expr]:
    """A persona's size and the mean of every feature, standardized and as clustered."""
    return [
        pl.len().alias("customers"),
        *[pl.col(f"{name}_z").mean() for name in feature_names],
        *[pl.col(name).mean().alias(f"{name}_mean") for name in feature_names],
    ]


def _feature_matrix(buyers: pl.DataFrame, feature_names: Sequence[str]) -> np.ndarray:
    # A customer who was never emailed has no open rate: 0 is "no engagement", which is true.
    columns = [
        pl.col(name).cast(pl.Float64).fill_null(0.0).log1p()
        if name in PERSONA_LOG_FEATURES
        else pl.col(name).cast(pl.Float64).fill_null(0.0)
        for name in feature_names
    ]
    return buyers.select(columns).to_numpy()


def _describe_centroids(
    clustered: pl.DataFrame,
    feature_names: Sequence[str],
    as_of_date: date,
    k: int,
    silhouette_by_k: dict[int, float],
    names: list[str] | None,
) -> pl.DataFrame:
    """One row per persona. `names[i]` names cluster i when personas carry over from the
    previous day; new personas are ranked by monetary value."""
    z_columns = [f"{name}_z" for name in feature_names]
    centroids = clustered.group_by("cluster").agg(*_centroid_aggregates(feature_names))
    if names is None:
        order = "monetary_365d_z" if "monetary_365d" in feature_names else z_columns[0]
        centroids = centroids.sort(order, descending=True).with_row_index("rank", offset=1)
        persona = pl.format("persona_{}", pl.col("rank"))
    else:
        centroids = centroids.sort("cluster").with_columns(rank=pl.col("cluster"))
        persona = pl.col("cluster").replace_strict(dict(enumerate(names)), return_dtype=pl.String)
    descriptions = [
        _describe(row, feature_names) for row in centroids.select(z_columns).iter_rows(named=True)
    ]
    return centroids.with_columns(
        persona=persona,
        persona_description=pl.Series(descriptions),
        as_of_date=pl.lit(as_of_date),
        k=pl.lit(k),
        silhouette_score=pl.lit(round(silhouette_by_k[k], 4)),
    ).drop("rank")


def _describe(centroid_z: dict[str, float], feature_names: Sequence[str]) -> str:
    """The two features that set the centroid furthest apart from the average customer."""
    strongest = sorted(feature_names, key=lambda name: -abs(centroid_z[f"{name}_z"]))[:2]
    return ", ".join(
        f"{'high' if centroid_z[f'{name}_z'] > 0 else 'low'} {name}" for name in strongest
    )


def _no_personas(feature_names: Sequence[str]) -> Personas:
    centroids = pl.DataFrame(
        schema={
            "customers": pl.UInt32,
            **{f"{name}_z": pl.Float64 for name in feature_names},
            **{f"{name}_mean": pl.Float64 for name in feature_names},
            "persona": pl.String,
            "persona_description": pl.String,
            "as_of_date": pl.Date,
            "k": pl.Int32,
            "silhouette_score": pl.Float64,
        }
    )
    return Personas(pl.DataFrame(schema=MEMBER_SCHEMA), centroids, 0, {})


def describe_personas(
    features: pl.DataFrame,
    members: pl.DataFrame,
    as_of_date: date,
    feature_names: Sequence[str] = PERSONA_FEATURES,
) -> pl.DataFrame:
    """One row per persona of `members` (a day's `segments.personas`): size, the mean and the
    z-score of every feature over its members, k and silhouette score. The same numbers
    `assign_personas` computed for the day: the buyers are standardized the same way."""
    with collector_paused(freeze=False):  # as in assign_personas
        from sklearn.preprocessing import StandardScaler

    buyers = features.filter(pl.col("frequency_365d") > 0).sort("customer_id")
    if buyers.is_empty() or members.is_empty():
        return _no_personas(feature_names).centroids
    matrix = _feature_matrix(buyers, feature_names)
    clustered = _with_features(
        buyers, matrix, StandardScaler().fit_transform(matrix), feature_names
    )
    day = members.select("customer_id", "persona", "persona_description", "k", "silhouette_score")
    return (
        clustered.join(day, on="customer_id")
        .group_by("persona")
        .agg(
            *_centroid_aggregates(feature_names),
            pl.col("persona_description").first(),
            pl.col("k").first(),
            pl.col("silhouette_score").first(),
        )
        .with_columns(as_of_date=pl.lit(as_of_date))
        .select(_no_personas(feature_names).centroids.columns)
        .sort("persona")
    )


def run_as_of_date(as_of_var: Any, window_as_of: datetime | None, now: datetime) -> date:
    """The as_of_date a dbt run evaluates, as the SQL macro `as_of_date()` computes it: the
    `as_of` var if set, else the window Dagster wrote (ops.dbt_partition), else now."""
    text = None if as_of_var in (None, "", "None") else str(as_of_var)
    as_of = datetime.fromisoformat(text) if text else (window_as_of or now)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    # Partition D is evaluated as of D + 1 day 00:00 UTC and stored under D.
    return (as_of.astimezone(UTC) - timedelta(microseconds=1)).date()


def persona_table(centroids: pl.DataFrame) -> str:
    """The day's personas as a Markdown table, for the asset's metadata."""
    rows = centroids.select("persona", "customers", "persona_description").iter_rows()
    lines = ["| persona | customers | centroid |", "|---|---|---|"]
    lines += [f"| {name} | {count} | {description} |" for name, count, description in rows]
    return "\n".join(lines)
