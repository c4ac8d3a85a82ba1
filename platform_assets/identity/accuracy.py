"""Pairwise accuracy of a clustering against a reference clustering (truth, or another run).

Counted on pairs of records that share a cluster, which is what users see: two records under
one `customer_id`. Computed from cluster sizes, so a million records cost a group-by, not a
trillion pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class PairwiseAccuracy:
    records: int
    predicted_clusters: int
    true_clusters: int
    predicted_pairs: int
    true_pairs: int
    true_positive_pairs: int

    @property
    def precision(self) -> float:
        return self.true_positive_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positive_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def _pairs(sizes: pl.Series) -> int:
    return int((sizes.cast(pl.Int64) * (sizes.cast(pl.Int64) - 1) // 2).sum())


def pairwise_accuracy(predicted: pl.DataFrame, truth: pl.DataFrame) -> PairwiseAccuracy:
    """Compare `record_key, cluster` frames on the records both contain."""
    both = predicted.select("record_key", pl.col("cluster").cast(pl.Utf8).alias("p")).join(
        truth.select("record_key", pl.col("cluster").cast(pl.Utf8).alias("t")), on="record_key"
    )
    return PairwiseAccuracy(
        records=both.height,
        predicted_clusters=both["p"].n_unique(),
        true_clusters=both["t"].n_unique(),
        predicted_pairs=_pairs(both.group_by("p").len()["len"]),
        true_pairs=_pairs(both.group_by("t").len()["len"]),
        true_positive_pairs=_pairs(both.group_by("p", "t").len()["len"]),
    )
