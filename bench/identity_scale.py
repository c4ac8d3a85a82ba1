"""Benchmark: the identity graph's full build and daily increment at 100,000 and 1,000,000 records.

    .venv/bin/python bench/identity_scale.py [--records 100000 1000000] [--repeats N]

Person records are synthesized directly in polars (not with `platform_assets.generator`, which
lands raw files: reaching 1,000,000 person records would take ~330,000 people and a raw + cleaned
run over some 5 million events first, and would not give an exact record count or an exact
10,000-record increment). The synthetic people follow the generator's shape: about three person
records per person, of which 25 % CRM contacts, 20 % shop customers, 5 % support tickets, 25 %
email recipients and 25 % web visitors (a third of them with an email). Names are drawn from
Faker's name lists with a Zipf-like skew (common names are common), and records carry noise:
typos in names and emails, missing fields, transposed birth dates, junk emails and phones, and
households of two or three people sharing one email, street and last name. The frames are
written straight into typed `cleaned.<source>` tables whose columns and types come from the
cleaned layer's own `clean_partition` (run on an empty frame).

Each scenario runs in a fresh process (peak RSS is its own), `--repeats` times, medians quoted:

- full: `resolve.training_profiles` + `model.train_model` (train seconds), then
  `resolve.resolve_partition` once for the first day over an empty graph (resolve seconds),
  with `PartitionResult.comparisons_scored` (pairs Splink kept above the prediction floor) next to
  `model.comparison_count` (pairs the blocking rules generate, the work Splink does).
- increment: a copy of the full build's database, 10,000 new records landed the next day (half
  of them new people, half new records of existing people), `resolve_partition` for that day.

Inside `resolve_partition`, the time of each phase is taken with `time.perf_counter` around the
functions it calls (monkeypatched in the child process only) and around the SQL it writes:
`window records` is the window's records (RECORDS_SQL and the record hash), `current graph
reads` the current person records, edges and customers, `sql writes` the inserts, updates and
deletes, `other` the polars work in between; `step: ...` the three steps around them
(read_state, plan_partition, write_plan). Targets: full build of 1,000,000 records < 180 s
with peak RSS < 8 GB; increment of 10,000 against 1,000,000 < 20 s. Writes
`bench/out/identity_scale.json`.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

OUT = Path(__file__).resolve().parent / "out"
FIRST_DAY = date(2026, 11, 1)
INCREMENT = 10_000
SEED = 20261101
SOURCE_SHARES = {
    "crm_contacts": 0.25,
    "shop_customers": 0.20,
    "support_tickets": 0.05,
    "email_events": 0.25,
    "web_events": 0.25,
}
RECORDS_PER_PERSON = 3
HOUSEHOLD_SHARE = 0.1
JUNK_EMAILS = ("test@test.com", "noemail@noemail.com", "none@none.com")
JUNK_PHONES = ("+441234567890", "+447000000000")


# --------------------------------------------------------------------------------------------
# Synthetic people and records
# --------------------------------------------------------------------------------------------


def _name_pools() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from faker import Faker

    faker = Faker(["en_GB", "en_US", "de_DE", "fr_FR", "es_ES", "it_IT"])
    faker.seed_instance(SEED)
    firsts = sorted({faker.first_name() for _ in range(40_000)})
    lasts = sorted({faker.last_name() for _ in range(80_000)})
    streets = sorted({faker.street_name() for _ in range(40_000)})
    cities = sorted({faker.city() for _ in range(20_000)})
    return np.array(firsts), np.array(lasts), np.array(streets), np.array(cities)


def _skewed(rng: np.random.Generator, size: int, count: int) -> np.ndarray:
    """Indices 0..size-1, the first ones far more often (names are Zipf-like)."""
    weights = 1.0 / (np.arange(size) + 20.0)
    return rng.choice(size, count, p=weights / weights.sum())


def _people(count: int, rng: np.random.Generator) -> pl.DataFrame:
    """One row per person: their true identifying values. Households share email and address."""
    firsts, lasts, streets, cities = _name_pools()
    first = firsts[_skewed(rng, len(firsts), count)]
    last = lasts[_skewed(rng, len(lasts), count)]
    people = pl.DataFrame(
        {
            "person": np.arange(count),
            "first_name": first,
            "last_name": last,
            "date_of_birth": date(1940, 1, 1)
            + pl.Series(rng.integers(0, 65 * 365, count)).cast(pl.Duration("ms")) * 86_400_000,
            "email_number": rng.integers(1, 999, count),
            "domain": rng.choice(["gmail.com", "yahoo.co.uk", "outlook.com", "web.de"], count),
            "phone": ["+447" + f"{n:09d}" for n in rng.integers(0, 10**9, count)],
            "street_address": [
                f"{n} {s}"
                for n, s in zip(
                    rng.integers(1, 300, count),
                    streets[rng.integers(0, len(streets), count)],
                    strict=True,
                )
            ],
            "city": cities[_skewed(rng, len(cities), count)],
            "postcode": [
                f"{chr(65 + a)}{chr(65 + b)}{c} {d}{chr(65 + e)}{chr(65 + f)}"
                for a, b, c, d, e, f in zip(
                    *(rng.integers(0, k, count) for k in (26, 26, 20, 10, 26, 26)), strict=True
                )
            ],
            # A household member takes the previous person's email, street and last name.
            "in_household": rng.random(count) < HOUSEHOLD_SHARE,
        }
    ).with_columns(pl.col("date_of_birth").cast(pl.Date))
    people = people.with_columns(
        (
            pl.col("first_name").str.to_lowercase()
            + "."
            + pl.col("last_name").str.to_lowercase().str.replace_all(r"[^a-z]", "")
            + pl.col("email_number").cast(pl.Utf8)
            + "@"
            + pl.col("domain")
        ).alias("email")
    )
    shared = ["email", "street_address", "city", "postcode", "last_name"]
    joins = pl.col("in_household") & (pl.col("person") > 0)
    return people.with_columns(
        pl.when(joins).then(pl.col(c).shift(1)).otherwise(pl.col(c)).alias(c) for c in shared
    )


def _typo(column: str, rate: float, rng: np.random.Generator, height: int) -> pl.Expr:
    """Drop one character of `column` in `rate` of rows."""
    hit = pl.Series(f"_typo_{column}", rng.random(height) < rate)
    position = pl.Series(f"_position_{column}", rng.integers(1, 6, height))
    text = pl.col(column)
    dropped = text.str.slice(0, pl.lit(position)) + text.str.slice(pl.lit(position) + 1)
    typo = pl.lit(hit) & (text.str.len_chars() > 3)
    return pl.when(typo).then(dropped).otherwise(text).alias(column)


def _missing(column: str, rate: float, rng: np.random.Generator, height: int) -> pl.Expr:
    drop = pl.lit(pl.Series(f"_missing_{column}", rng.random(height) < rate))
    return pl.when(drop).then(None).otherwise(pl.col(column)).alias(column)


def _person_rows(people: pl.DataFrame, rng: np.random.Generator, source: str) -> pl.DataFrame:
    """The identifying fields of one record per row of `people`, with the source's noise."""
    n = people.height
    missing_dob = {"crm_contacts": 0.3, "shop_customers": 0.6}.get(source, 1.0)
    transposed = pl.lit(pl.Series("_transposed", rng.random(n) < 0.01)) & (
        pl.col("date_of_birth").dt.day() <= 12
    )
    rows = people.with_columns(
        _typo("first_name", 0.05, rng, n),
        _typo("last_name", 0.04, rng, n),
        _typo("email", 0.03, rng, n),
        pl.when(transposed)
        .then(
            pl.date(
                pl.col("date_of_birth").dt.year(),
                pl.col("date_of_birth").dt.day(),
                pl.col("date_of_birth").dt.month(),
            )
        )
        .otherwise(pl.col("date_of_birth"))
        .alias("date_of_birth"),
    )
    junk_email = pl.Series("_junk_email", rng.random(n) < 0.01)
    junk_phone = pl.Series("_junk_phone", rng.random(n) < 0.01)
    rows = rows.with_columns(
        pl.when(pl.lit(junk_email))
        .then(pl.lit(pl.Series("_junk_emails", rng.choice(JUNK_EMAILS, n))))
        .otherwise(pl.col("email"))
        .alias("email"),
        pl.when(pl.lit(junk_phone))
        .then(pl.lit(pl.Series("_junk_phones", rng.choice(JUNK_PHONES, n))))
        .otherwise(pl.col("phone"))
        .alias("phone"),
    )
    return rows.with_columns(
        _missing("first_name", 0.02, rng, n),
        _missing("last_name", 0.02, rng, n),
        _missing("email", 0.2 if source == "crm_contacts" else 0.02, rng, n),
        _missing("phone", 0.4, rng, n),
        _missing("date_of_birth", missing_dob, rng, n),
        _missing("street_address", 0.4, rng, n),
        _missing("city", 0.3, rng, n),
        _missing("postcode", 0.3, rng, n),
    )


def _records(
    count: int,
    people: pl.DataFrame,
    person_ids: np.ndarray,
    recipient_ids: np.ndarray,
    day: date,
    prefix: str,
    seed: int,
) -> dict[str, pl.DataFrame]:
    """`count` person records landed on `day`, as cleaned rows per source (untyped)."""
    rng = np.random.default_rng(seed)
    at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC) - timedelta(days=1)
    sizes = {s: int(count * share) for s, share in SOURCE_SHARES.items()}
    sizes["crm_contacts"] += count - sum(sizes.values())
    lineage = [
        pl.lit(day).alias("_partition_date"),
        pl.lit(f"synthetic/{day}").alias("_source_file"),
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("_row_number"),
    ]
    frames: dict[str, pl.DataFrame] = {}
    for source in ("crm_contacts", "shop_customers", "support_tickets"):
        chosen = people[rng.choice(person_ids, sizes[source]).tolist()]
        rows = _person_rows(chosen, rng, source).with_columns(
            (pl.lit(f"{prefix}{source[:4]}-") + pl.int_range(pl.len()).cast(pl.Utf8)).alias("id"),
            pl.lit("GB").alias("country"),
            pl.lit(at).alias("updated_at"),
            pl.lit(at).alias("created_at"),
            *lineage,
        )
        if source == "support_tickets":
            rows = rows.select(
                pl.col("id").alias("ticket_id"),
                pl.lit(at).alias("opened_at"),
                pl.concat_str(["first_name", "last_name"], separator=" ", ignore_nulls=True)
                .replace("", None)
                .alias("requester_name"),
                pl.col("email").alias("requester_email"),
                pl.col("phone").alias("requester_phone"),
                pl.lit("email").alias("channel"),
                pl.lit("open").alias("status"),
                "updated_at",
                *lineage,
            )
        else:
            key = "contact_id" if source == "crm_contacts" else "customer_id"
            rows = rows.rename({"id": key})
        frames[source] = rows
    # One email recipient per address (households share one, so a few less than drawn), one
    # web visitor per anonymous id.
    recipients = people[rng.choice(recipient_ids, sizes["email_events"], replace=False).tolist()]
    frames["email_events"] = recipients.select(
        (pl.lit(f"{prefix}mail-") + pl.int_range(pl.len()).cast(pl.Utf8)).alias("event_id"),
        pl.lit(at).alias("occurred_at"),
        "email",
        pl.lit("delivered").alias("event_type"),
        *lineage,
    )
    visitors = people[rng.choice(person_ids, sizes["web_events"]).tolist()]
    frames["web_events"] = visitors.select(
        (pl.lit(f"{prefix}web-") + pl.int_range(pl.len()).cast(pl.Utf8)).alias("event_id"),
        pl.lit(at).alias("occurred_at"),
        (pl.lit(f"{prefix}anon-") + pl.int_range(pl.len()).cast(pl.Utf8)).alias("anonymous_id"),
        _missing("email", 2 / 3, rng, visitors.height),
        pl.lit("page_view").alias("event_type"),
        *lineage,
    )
    return frames


def _cleaned_schemas() -> dict[str, pl.Schema]:
    """Column names and types of each `cleaned.<source>`, from the cleaned layer itself."""
    from platform_assets.cleaned.transform import clean_partition
    from platform_assets.contract import SOURCES
    from platform_assets.raw.parse import EXTRA_COLUMNS

    schemas = {}
    for source in SOURCE_SHARES:
        raw = pl.DataFrame(
            schema={
                **dict.fromkeys([*SOURCES[source].columns, EXTRA_COLUMNS], pl.Utf8),
                "_partition_date": pl.Date,
                "_source_file": pl.Utf8,
                "_row_number": pl.Int64,
            }
        )
        schemas[source] = clean_partition(source, raw, datetime.now(UTC)).cleaned.schema
    return schemas


def synthesize(records: int, folder: Path) -> dict[str, int]:
    """Write day 1 (`records` records) and day 2 (`INCREMENT` records) as parquet per source."""
    rng = np.random.default_rng(SEED)
    existing = records // RECORDS_PER_PERSON
    newcomers = INCREMENT // RECORDS_PER_PERSON
    people = _people(existing + newcomers, rng)
    schemas = _cleaned_schemas()
    second_day = FIRST_DAY + timedelta(days=1)
    everyone, new_people = np.arange(existing), np.arange(existing, existing + newcomers)
    # The day's new records: half from new people, half new records of people already known;
    # its email recipients are the new people's addresses (a known address is no new record).
    half = np.concatenate([rng.choice(existing, newcomers), new_people])
    days = {
        FIRST_DAY: _records(records, people, everyone, everyone, FIRST_DAY, "", SEED + 1),
        second_day: _records(INCREMENT, people, half, new_people, second_day, "d2-", SEED + 2),
    }
    for day, frames in days.items():
        (folder / str(day)).mkdir(parents=True, exist_ok=True)
        for source, frame in frames.items():
            schema = schemas[source]
            typed = frame.select(
                (pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c)
                for c, t in schema.items()
            )
            typed.write_parquet(folder / str(day) / f"{source}.parquet")
    return {"people": existing, "increment_new_people": newcomers}


# --------------------------------------------------------------------------------------------
# Measurement, in a child process
# --------------------------------------------------------------------------------------------


def _land(connection: Any, folder: Path, day: date) -> None:
    connection.execute("create schema if not exists cleaned")
    for source in SOURCE_SHARES:
        path = folder / str(day) / f"{source}.parquet"
        connection.execute(
            f"create table if not exists cleaned.{source} as "
            f"select * from read_parquet('{path}') limit 0"
        )
        connection.execute(f"insert into cleaned.{source} select * from read_parquet('{path}')")


class _TimedConnection:
    """A DuckDB connection that adds the time of every statement to `phases`."""

    def __init__(self, connection: Any, phases: dict[str, float]) -> None:
        self._connection = connection
        self._phases = phases

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.lstrip().split(None, 1)[0].lower() in ("select", "with"):
            return self._connection.execute(sql, *args)
        began = time.perf_counter()
        try:
            return self._connection.execute(sql, *args)
        finally:
            self._phases["sql writes"] += time.perf_counter() - began

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def _instrument(phases: dict[str, float]) -> None:
    """Time the functions `resolve_partition` calls (this child process only)."""
    from platform_assets.identity import graph, model, records, resolve

    def timed(module: Any, name: str, phase: str) -> None:
        original = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                phases[phase] += time.perf_counter() - began

        setattr(module, name, wrapper)

    timed(resolve, "_window_records", "window records (sql + hash)")
    timed(resolve, "_current", "current graph reads")
    timed(records, "email_edges", "email edges")
    timed(model, "score_pairs", "splink score_pairs")
    timed(resolve, "splink_edges", "splink edges (incl. score_pairs)")
    timed(resolve, "_login_edges", "login edges")
    timed(graph, "cluster", "cluster")
    timed(graph, "assign_customer_ids", "assign ids")
    timed(resolve, "review_queue", "review queue")
    # The three steps of a partition, each around several of the phases above.
    timed(resolve, "read_state", "step: read_state")
    timed(resolve, "plan_partition", "step: plan_partition")
    timed(resolve, "write_plan", "step: write_plan")


def _child(mode: str, records: int, folder: Path, attempt: int) -> dict[str, Any]:
    import duckdb

    from platform_assets.identity import model, resolve

    phases: dict[str, float] = defaultdict(float)
    _instrument(phases)
    snapshot = folder / "full.duckdb"
    model_path = folder / "model.json"
    result: dict[str, Any] = {}
    if mode == "full":
        database = folder / f"full-{attempt}.duckdb"
        database.unlink(missing_ok=True)
        connection = duckdb.connect(str(database))
        _land(connection, folder, FIRST_DAY)
        began = time.perf_counter()
        profiles = resolve.training_profiles(connection)
        trained = model.train_model(profiles)
        result["train_seconds"] = time.perf_counter() - began
        result["training_profiles"] = trained.training_records
        model_json, version, day = trained.settings_json, trained.version, FIRST_DAY
    else:
        database = folder / f"increment-{attempt}.duckdb"
        shutil.copyfile(snapshot, database)
        connection = duckdb.connect(str(database))
        saved = json.loads(model_path.read_text())
        model_json, version = saved["settings_json"], saved["version"]
        day = FIRST_DAY + timedelta(days=1)
        _land(connection, folder, day)

    phases.clear()
    began = time.perf_counter()
    partition = resolve.resolve_partition(
        _TimedConnection(connection, phases),  # type: ignore[arg-type]
        day,
        model_json,
        version,
        datetime.now(UTC),
    )
    result["resolve_seconds"] = time.perf_counter() - began
    top_level = (
        "window records (sql + hash)",
        "current graph reads",
        "sql writes",
        "email edges",
        "splink edges (incl. score_pairs)",
        "login edges",
        "cluster",
        "assign ids",
        "review queue",
    )
    phases["other (polars)"] = result["resolve_seconds"] - sum(phases[p] for p in top_level)
    result["phases"] = dict(phases)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["records_in_window"] = partition.records_in_window
    result["new_records"] = partition.new_records
    result["comparisons_scored"] = partition.comparisons_scored
    result["edges_added"] = partition.edges_added
    result["customers_touched"] = partition.customers_touched
    result["suspicious_clusters"] = partition.suspicious_clusters
    result["customers"] = connection.execute(
        "select count(distinct customer_id) from identity.customer_records where valid_to is null"
    ).fetchall()[0][0]
    if mode == "full" and attempt == 0:
        # Blocked pairs over the day's profiles: what Splink compared (not timed above).
        began = time.perf_counter()
        result["blocked_comparisons"] = model.comparison_count(model_json, profiles)
        result["comparison_count_seconds"] = time.perf_counter() - began
        connection.close()
        shutil.copyfile(database, snapshot)
        model_path.write_text(json.dumps({"settings_json": model_json, "version": version}))
    else:
        connection.close()
    database.unlink(missing_ok=True)
    return result


def _measure(mode: str, records: int, folder: Path, repeats: int) -> dict[str, Any]:
    runs = []
    for attempt in range(repeats):
        completed = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                mode,
                "--records",
                str(records),
                "--folder",
                str(folder),
                "--attempt",
                str(attempt),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    first = runs[0]
    summary: dict[str, Any] = {
        "mode": mode,
        "records": records,
        "repeats": repeats,
        "median_resolve_seconds": round(statistics.median(r["resolve_seconds"] for r in runs), 2),
        "resolve_seconds": [round(r["resolve_seconds"], 2) for r in runs],
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs)),
        "median_phases": {
            phase: round(statistics.median(r["phases"].get(phase, 0.0) for r in runs), 2)
            for phase in first["phases"]
        },
    }
    if mode == "full":
        summary["median_train_seconds"] = round(
            statistics.median(r["train_seconds"] for r in runs), 2
        )
        summary["train_seconds"] = [round(r["train_seconds"], 2) for r in runs]
        summary["median_total_seconds"] = round(
            statistics.median(r["train_seconds"] + r["resolve_seconds"] for r in runs), 2
        )
    for key in (
        "training_profiles",
        "records_in_window",
        "new_records",
        "comparisons_scored",
        "blocked_comparisons",
        "comparison_count_seconds",
        "edges_added",
        "customers_touched",
        "customers",
        "suspicious_clusters",
    ):
        if key in first:
            summary[key] = first[key]
    return summary


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=None, help="default 3 below 1M, else 1")
    parser.add_argument("--child", choices=["full", "increment"])
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--attempt", type=int, default=0)
    arguments = parser.parse_args()
    if arguments.child:
        result = _child(arguments.child, arguments.records[0], arguments.folder, arguments.attempt)
        print(json.dumps(result))
        return 0

    OUT.mkdir(exist_ok=True)
    results = []
    for records in arguments.records:
        folder = OUT / f"identity-scale-{records}"
        began = time.perf_counter()
        shape = synthesize(records, folder)
        print(
            f"{records:,} records: synthesized in {time.perf_counter() - began:.0f} s", flush=True
        )
        repeats = arguments.repeats or (3 if records < 1_000_000 else 1)
        full = _measure("full", records, folder, repeats)
        increment = _measure("increment", records, folder, repeats)
        results.append({"records": records, **shape, "full": full, "increment": increment})
        _print(full, increment)
        (OUT / "identity_scale.json").write_text(json.dumps(results, indent=2))
        shutil.rmtree(folder)
    return 0


def _print(full: dict[str, Any], increment: dict[str, Any]) -> None:
    records = full["records"]
    print(
        f"full build of {records:,}: train {full['median_train_seconds']} s + resolve"
        f" {full['median_resolve_seconds']} s = {full['median_total_seconds']} s"
        f" (runs {full['resolve_seconds']}), peak RSS {full['peak_rss_mb']:,} MB,"
        f" {full['training_profiles']:,} profiles, blocked comparisons"
        f" {full.get('blocked_comparisons', 0):,}, pairs kept above floor"
        f" {full['comparisons_scored']:,}, customers {full['customers']:,}",
        flush=True,
    )
    print(
        f"increment of {INCREMENT:,} vs {records:,}: resolve {increment['median_resolve_seconds']}"
        f" s (runs {increment['resolve_seconds']}), peak RSS {increment['peak_rss_mb']:,} MB,"
        f" pairs kept above floor {increment['comparisons_scored']:,},"
        f" customers touched {increment['customers_touched']:,}",
        flush=True,
    )
    for label, run in (("full", full), ("increment", increment)):
        phases = ", ".join(f"{k} {v}" for k, v in run["median_phases"].items())
        print(f"  {label} phases (s): {phases}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
