"""Benchmark: do customers keep their ids when the model is retrained and every record is
re-resolved?

    .venv/bin/python bench/identity_retrain.py

The demo's named records (the generator of `make demo`, 3,000 people, 14 days; see
`identity_accuracy.py`) are resolved with a model trained on half of their profiles (the model
of a younger warehouse); a model is then trained on all of them, `resolve.preview` reports what
re-resolving every record with it would change (in a transaction rolled back), and
`resolve.rebuild` applies it. Reports the share of customers who kept their id (target
>= 99 %), merges, splits and moved records, whether the preview predicted the rebuild exactly,
pairwise F1 against the truth before and after, and the seconds of each step. Writes
`bench/out/identity_retrain.json`.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import identity_accuracy  # noqa: E402

from platform_assets.identity import accuracy, graph, model, resolve  # noqa: E402

TARGET_KEPT_SHARE = 0.99


def _mapping(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return connection.execute(
        "select record_key, customer_id from identity.customer_records where valid_to is null"
    ).pl()


def main() -> int:
    landed, truth = identity_accuracy._demo()
    now = datetime.now(UTC)
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        connection = duckdb.connect(str(Path(folder) / "warehouse.duckdb"))
        identity_accuracy._land_cleaned(connection, landed)
        profiles = resolve.training_profiles(connection)

        began = time.perf_counter()
        younger = model.train_model(profiles.sample(fraction=0.5, seed=1))
        resolve.resolve_partition(
            connection, identity_accuracy.PARTITION, younger.settings_json, younger.version, now
        )
        seconds["first model and build"] = time.perf_counter() - began
        before = _mapping(connection)

        began = time.perf_counter()
        retrained = model.train_model(profiles)
        seconds["retrain"] = time.perf_counter() - began
        began = time.perf_counter()
        preview = resolve.preview(connection, retrained.settings_json, retrained.version, now)
        seconds["preview"] = time.perf_counter() - began
        began = time.perf_counter()
        resolve.rebuild(connection, retrained.settings_json, retrained.version, now)
        seconds["rebuild"] = time.perf_counter() - began
        after = _mapping(connection)
        connection.close()

    changes = graph.graph_changes(before, after)
    truth = truth.with_columns(pl.col("cluster").cast(pl.Utf8))
    result = {
        "records": before.height,
        **asdict(changes),
        "kept_share": round(changes.kept_share, 4),
        "target_kept_share": TARGET_KEPT_SHARE,
        "preview_matched_rebuild": preview.changes == changes,
        "f1_before": round(
            accuracy.pairwise_accuracy(before.rename({"customer_id": "cluster"}), truth).f1, 4
        ),
        "f1_after": round(
            accuracy.pairwise_accuracy(after.rename({"customer_id": "cluster"}), truth).f1, 4
        ),
        "seconds": {name: round(value, 2) for name, value in seconds.items()},
    }
    identity_accuracy.OUT.mkdir(exist_ok=True)
    (identity_accuracy.OUT / "identity_retrain.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0 if changes.kept_share >= TARGET_KEPT_SHARE else 1


if __name__ == "__main__":
    sys.exit(main())
