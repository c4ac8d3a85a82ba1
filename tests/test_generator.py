"""The demo-data generator writes the landing contract, reproducibly, with usable ground truth."""

from __future__ import annotations

import bisect
import gzip
import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from platform_assets.contract import (
    EMAIL_EVENT_TYPES,
    ORDER_STATUSES,
    SOURCES,
    WEB_EVENT_TYPES,
)
from platform_assets.generator import GenerationSummary, GeneratorConfig, generate

START = date(2026, 11, 1)  # a Sunday: the Tuesday campaign falls on day 2
DAYS = 4
DATES = [(START + timedelta(days=offset)).isoformat() for offset in range(DAYS)]
SUFFIXES = {
    "crm_contacts": ".csv",
    "shop_customers": ".csv.gz",
    "orders": ".csv",
    "products": ".parquet",
    "web_events": ".jsonl.gz",
    "support_tickets": ".csv",
    "email_events": ".jsonl",
    "consent": ".csv",
}
PERSON_RECORD_IDS = {
    "crm_contacts": "contact_id",
    "shop_customers": "customer_id",
    "support_tickets": "ticket_id",
    "email_events": "event_id",
    "web_events": "event_id",
}


def _run(root: Path, **overrides: object) -> tuple[GeneratorConfig, GenerationSummary]:
    settings: dict[str, object] = {
        "people": 300,
        "days": DAYS,
        "start_date": START,
        "progress": False,
    }
    settings.update(overrides)
    config = GeneratorConfig(landing_dir=root / "landing", truth_dir=root / "truth", **settings)  # type: ignore[arg-type]
    return config, generate(config)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> GeneratorConfig:
    return _run(tmp_path_factory.mktemp("default"))[0]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> GeneratorConfig:
    return _run(tmp_path_factory.mktemp("clean"), bad_rate=0.0)[0]


@pytest.fixture(scope="module")
def dirty_run(tmp_path_factory: pytest.TempPathFactory) -> GeneratorConfig:
    return _run(tmp_path_factory.mktemp("dirty"), bad_rate=0.2)[0]


def _files(config: GeneratorConfig, source: str) -> list[Path]:
    return sorted((config.landing_dir / source).glob("*/*"))


def _json_lines(path: Path) -> list[dict[str, object]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _read(config: GeneratorConfig, source: str) -> pl.DataFrame:
    """All landed rows of a source as text, plus the landing day of each row."""
    frames = []
    for path in _files(config, source):
        if path.name.endswith(".parquet"):
            frame = pl.read_parquet(path).cast(pl.Utf8)
        elif ".jsonl" in path.name:
            records = _json_lines(path)
            frame = pl.DataFrame(
                {
                    column: [None if r.get(column) is None else str(r[column]) for r in records]
                    for column in SOURCES[source].columns
                },
                schema=dict.fromkeys(SOURCES[source].columns, pl.Utf8),
            )
        else:
            frame = pl.read_csv(path, infer_schema=False)
        frames.append(frame.with_columns(pl.lit(path.parent.name).alias("_day")))
    return pl.concat(frames, how="vertical")


def _truth(config: GeneratorConfig) -> pl.DataFrame:
    return pl.read_csv(config.truth_dir / "person_records.csv.gz", infer_schema=False)


def test_every_source_lands_files_per_day_with_exactly_the_contract_columns(
    default_run: GeneratorConfig,
) -> None:
    for source, contract in SOURCES.items():
        files = _files(default_run, source)
        if source in ("identity_overrides", "profile_corrections"):
            # Stewards write overrides and people ask for corrections by their customer id,
            # which only the platform issues: generated data has neither.
            assert not files
            continue
        assert files, f"{source}: no files"
        for path in files:
            day = path.parent.name
            assert day in DATES, f"{path}: day folder outside the run"
            assert path.name == f"{source}-{day}{SUFFIXES[source]}"
            if path.name.endswith(".parquet"):
                assert pl.read_parquet(path).columns == list(contract.columns)
            elif ".jsonl" in path.name:
                for record in _json_lines(path):
                    assert set(record) <= set(contract.columns), path
                    assert all(record.get(column) is not None for column in contract.required)
            else:
                assert pl.read_csv(path, infer_schema=False).columns == list(contract.columns)
    for source in ("crm_contacts", "shop_customers", "web_events", "consent"):
        assert sorted(path.parent.name for path in _files(default_run, source)) == DATES
    # The whole catalogue on day 0, a pricing run on day 2; the Tuesday campaign on day 2.
    assert [path.parent.name for path in _files(default_run, "products")] == [DATES[0], DATES[2]]
    assert DATES[2] in {path.parent.name for path in _files(default_run, "email_events")}
    assert pl.read_parquet(_files(default_run, "products")[0]).height >= 300


def test_events_land_in_the_folder_of_the_day_they_occurred(default_run: GeneratorConfig) -> None:
    web = _read(default_run, "web_events")
    web_days = web.select(
        pl.from_epoch(pl.col("occurred_at").cast(pl.Int64)).dt.date().cast(pl.Utf8), "_day"
    )
    first_day = min(DATES)
    # History from before the first day (the email programme's earlier sends and the visits
    # they drove) is exported with the day-0 base, like the shop's order history.
    expected = pl.max_horizontal(pl.col("occurred_at"), pl.lit(first_day))
    assert web_days.select(expected == pl.col("_day")).to_series().all()
    email = _read(default_run, "email_events")
    email_days = email.select(pl.col("occurred_at").str.slice(0, 10), "_day")
    assert email_days.select(expected == pl.col("_day")).to_series().all()
    assert (email_days["occurred_at"] < first_day).any()  # the programme ran before day 0


def test_same_seed_writes_identical_files(tmp_path: Path) -> None:
    first, _ = _run(tmp_path / "first", people=120, days=3)
    second, _ = _run(tmp_path / "second", people=120, days=3)
    other_seed, _ = _run(tmp_path / "other", people=120, days=3, seed=7)

    def contents(root: Path) -> dict[str, bytes]:
        return {
            str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }

    assert contents(tmp_path / "first") == contents(tmp_path / "second")
    assert contents(tmp_path / "first") != contents(tmp_path / "other")


def test_chunk_size_does_not_change_the_output(tmp_path: Path) -> None:
    _run(tmp_path / "small_chunks", people=120, days=3, chunk_size=7)
    _run(tmp_path / "one_chunk", people=120, days=3, chunk_size=1000)
    small = sorted((tmp_path / "small_chunks").rglob("*.*"))
    one = sorted((tmp_path / "one_chunk").rglob("*.*"))
    assert [p.relative_to(tmp_path / "small_chunks") for p in small] == [
        p.relative_to(tmp_path / "one_chunk") for p in one
    ]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(small, one, strict=True))


def test_ground_truth_covers_every_person_record_and_stays_outside_the_landing_zone(
    default_run: GeneratorConfig,
) -> None:
    truth = _truth(default_run)
    assert truth.columns == ["source", "source_record_id", "person_id"]
    assert not truth.select("source", "source_record_id").is_duplicated().any()
    known = set(truth.select("source", "source_record_id").iter_rows())
    for source, id_column in PERSON_RECORD_IDS.items():
        landed = _read(default_run, source)[id_column].drop_nulls().unique()
        assert landed.len() > 0
        missing = [i for i in landed.to_list() if (source, i) not in known]
        assert not missing, f"{source}: {len(missing)} ids without ground truth"
    landing = default_run.landing_dir.resolve()
    for path in default_run.truth_dir.rglob("*"):
        assert landing not in path.resolve().parents
    assert not list(default_run.landing_dir.rglob("person_records*"))
    assert not list(default_run.landing_dir.rglob("people.csv*"))


def test_the_same_person_appears_in_at_least_three_sources(default_run: GeneratorConfig) -> None:
    sources_per_person = _truth(default_run).group_by("person_id").agg(pl.col("source").n_unique())
    assert sources_per_person.filter(pl.col("source") >= 3).height > 0


def test_partners_share_a_family_email_surname_and_household(default_run: GeneratorConfig) -> None:
    people = pl.read_csv(default_run.truth_dir / "people.csv.gz", infer_schema=False)
    assert people.height == default_run.people
    couples = people.filter(pl.col("household_id").is_duplicated())
    assert couples.height >= 2
    for _, members in couples.group_by("household_id"):
        assert members.height == 2
        assert members["email"].n_unique() == 1
        assert members["last_name"].n_unique() == 1
        assert members["first_name"].n_unique() == 2


def test_bad_rate_zero_writes_no_defects_and_bad_rate_point_two_does(
    clean_run: GeneratorConfig, dirty_run: GeneratorConfig
) -> None:
    clean_orders = _read(clean_run, "orders")
    assert clean_orders["quantity"].cast(pl.Int64, strict=False).drop_nulls().len() == (
        clean_orders.height
    )
    assert (clean_orders["quantity"].cast(pl.Int64) > 0).all()
    assert set(clean_orders["status"].unique()) <= set(ORDER_STATUSES)
    assert clean_orders["order_id"].null_count() == 0
    assert set(_read(clean_run, "web_events")["event_type"].unique()) <= set(WEB_EVENT_TYPES)
    assert set(_read(clean_run, "email_events")["event_type"].unique()) <= set(EMAIL_EVENT_TYPES)
    assert _read(clean_run, "crm_contacts")["contact_id"].null_count() == 0

    dirty_orders = _read(dirty_run, "orders")
    quantities = dirty_orders["quantity"].cast(pl.Int64, strict=False)
    assert (quantities < 0).any()
    assert quantities.null_count() > 0  # "two"
    assert not set(dirty_orders["status"].unique()) <= set(ORDER_STATUSES)
    assert dirty_orders["order_id"].null_count() > 0
    assert "hover" in set(_read(dirty_run, "web_events")["event_type"])
    assert _read(dirty_run, "web_events")["event_id"].is_duplicated().any()
    assert _read(dirty_run, "crm_contacts")["contact_id"].null_count() > 0


def test_orders_reference_existing_customers_and_catalogue_skus(
    default_run: GeneratorConfig,
) -> None:
    orders = _read(default_run, "orders")
    assert orders.height > 0
    customers = set(_read(default_run, "shop_customers")["customer_id"].drop_nulls())
    skus = set(_read(default_run, "products")["sku"])
    assert set(orders["customer_id"]) <= customers
    assert set(orders["sku"]) <= skus
    in_run = orders.filter(pl.col("ordered_at") >= DATES[0])
    assert in_run.height > 0  # orders placed during the run, not only the history of the base
    assert set(orders["currency"]) <= {"EUR", "GBP", "USD"}


@pytest.mark.parametrize("run", ["default_run", "dirty_run"])
def test_emails_are_sent_only_to_addresses_whose_consent_is_granted(
    run: str, request: pytest.FixtureRequest
) -> None:
    config: GeneratorConfig = request.getfixturevalue(run)
    consent = _read(config, "consent").filter(pl.col("purpose") == "email_marketing")
    timeline: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for email, status, recorded_at in consent.select(
        "subject_email", "status", "recorded_at"
    ).iter_rows():
        timeline[email.strip().lower()].append((_instant(recorded_at), status))
    sent = _read(config, "email_events").filter(pl.col("event_type") == "sent")
    assert sent.height > 0
    for email, occurred_at in sent.select("email", "occurred_at").iter_rows():
        statements = sorted(timeline[email.strip().lower()])
        position = bisect.bisect_right(statements, (_instant(occurred_at), "~"))
        assert position > 0, f"sent to {email} without any consent"
        assert statements[position - 1][1] == "granted", f"sent to {email} after a withdrawal"


def test_config_refuses_ground_truth_inside_the_landing_zone(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside"):
        generate(GeneratorConfig(landing_dir=tmp_path, truth_dir=tmp_path / "truth"))


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
