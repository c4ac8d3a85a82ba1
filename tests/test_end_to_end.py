"""A small generated dataset through raw and cleaned for two days, then the command line."""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from platform_assets.cli import main
from platform_assets.contract import SOURCES
from platform_assets.definitions import defs
from platform_assets.generator import GeneratorConfig, generate
from resources import LandingZone, Warehouse

DAYS = ["2026-11-01", "2026-11-02"]


@dataclass
class Run:
    landing: Path
    truth: Path
    warehouse: Warehouse
    results: list[dg.ExecuteInProcessResult]


def _lines_landed(landing: Path, source: str, day: str) -> int:
    """Data lines in the day's files, counted independently of the platform's reader."""
    total = 0
    for path in sorted((landing / source / day).glob("*")):
        if path.suffix == ".parquet":
            total += pl.read_parquet(path).height
            continue
        data = path.read_bytes()
        text = (gzip.decompress(data) if path.suffix == ".gz" else data).decode()
        if ".csv" in path.name:
            total += pl.read_csv(io.StringIO(text), infer_schema=False).height
        else:
            total += sum(1 for line in text.splitlines() if line.strip())
    return total


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("e2e")
    landing, truth = root / "landing", root / "truth"
    generate(
        GeneratorConfig(
            landing_dir=landing,
            truth_dir=truth,
            people=150,
            days=3,
            start_date=date(2026, 11, 1),
            seed=7,
            bad_rate=0.05,
            progress=False,
        )
    )
    warehouse = Warehouse(database=str(root / "warehouse.duckdb"))
    resources = {
        **(defs.resources or {}),
        "warehouse": warehouse,
        "landing_zone": LandingZone(root=str(landing)),
    }
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    ingest = dg.AssetSelection.groups("raw", "cleaned")
    results = [
        dg.materialize(assets, partition_key=day, resources=resources, selection=ingest)
        for day in [*DAYS, DAYS[0]]
    ]
    return Run(landing, truth, warehouse, results)


def test_every_run_succeeds_and_no_error_check_fails(run: Run) -> None:
    for result in run.results:
        assert result.success
        errors = [
            (e.asset_key.to_user_string(), e.check_name, e.description)
            for e in result.get_asset_check_evaluations()
            if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
        ]
        assert errors == []


@pytest.mark.parametrize("source", list(SOURCES))
def test_every_landed_line_is_in_raw_and_every_raw_row_is_placed_once(
    run: Run, source: str
) -> None:
    for day in DAYS:
        if not (run.landing / source / day).exists():
            continue
        counts = run.warehouse.query(
            f"""
            select
              (select count(*) from raw.{source} where _partition_date = $1) as raw,
              (select count(*) from raw.rejected_lines
                where source = '{source}' and _partition_date = $1) as rejected,
              (select count(*) from cleaned.{source} where _partition_date = $1) as cleaned,
              (select count(*) from cleaned.{source}_quarantine where _partition_date = $1) as q,
              (select count(*) from cleaned.{source}_superseded where _partition_date = $1) as s
            """,
            [date.fromisoformat(day)],
        ).to_dicts()[0]
        assert counts["raw"] + counts["rejected"] == _lines_landed(run.landing, source, day)
        assert counts["raw"] == counts["cleaned"] + counts["q"] + counts["s"]
        assert counts["cleaned"] > 0


def test_rematerializing_a_day_does_not_duplicate_rows(run: Run) -> None:
    first, again = run.results[0], run.results[2]

    def row_counts(result: dg.ExecuteInProcessResult) -> dict[str, object]:
        counts = {}
        for event in result.get_asset_materialization_events():
            metadata = event.step_materialization_data.materialization.metadata
            counts[event.asset_key.to_user_string()] = metadata["dagster/row_count"].value
        return counts

    assert row_counts(first) == row_counts(again)
    duplicates = run.warehouse.query(
        "select count(*) as n from (select _source_file, _row_number from raw.web_events"
        " group by all having count(*) > 1)"
    )
    assert duplicates["n"][0] == 0


def test_bad_rows_are_quarantined_with_reasons(run: Run) -> None:
    reasons = run.warehouse.query(
        "select failed_rules from cleaned.orders_quarantine union all "
        "select failed_rules from cleaned.web_events_quarantine"
    )["failed_rules"].to_list()
    assert reasons and all(reason for reason in reasons)


def test_ground_truth_is_outside_the_landing_zone(run: Run) -> None:
    assert (run.truth / "person_records.csv.gz").exists()
    assert not any(path.name.startswith("person_records") for path in run.landing.rglob("*"))


def test_command_line_runs_days_and_summarizes(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDP_LANDING_DIR", str(run.landing))
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(tmp_path / "cli.duckdb"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["run", "--start", DAYS[0], "--end", DAYS[1], "--select", "group:raw"]) == 0
    output = capsys.readouterr().out
    assert f"[1/2] {DAYS[0]} raw: ok, {len(SOURCES)} assets materialized" in output
    assert f"[2/2] {DAYS[1]} raw: ok" in output
    assert main(["summary"]) == 0
    summary = capsys.readouterr().out
    assert "web_events" in summary and "most frequent" not in summary  # cleaned not selected


def test_command_line_fails_clearly_without_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDP_LANDING_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    assert main(["run"]) == 2
    assert "CDP_LANDING_DIR" in capsys.readouterr().out  # a folder that does not exist
    (tmp_path / "nothing").mkdir()
    assert main(["run"]) == 1
    assert "no landed files" in capsys.readouterr().out
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(tmp_path / "identity.duckdb"))
    assert main(["run"]) == 2
    assert "may not be named like a schema" in capsys.readouterr().out
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("CDP_ALERT_WEBHOOK_URL", "hooks.example.com/secret-token")
    assert main(["run"]) == 2
    out = capsys.readouterr().out
    assert "CDP_ALERT_WEBHOOK_URL" in out and "secret-token" not in out
    with pytest.raises(SystemExit):
        main(["run", "--start", "not-a-date"])
    monkeypatch.delenv("CDP_PII_SALT")
    for command in (["run"], ["summary"], ["generate", "--days", "1"]):
        assert main(command) == 2
        assert "CDP_PII_SALT is not set" in capsys.readouterr().out


def _file_columns(path: Path) -> set[str]:
    """The columns a landing file carries: the CSV header, the JSON keys, the Parquet schema."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    name = path.name.removesuffix(".gz")
    if name.endswith(".parquet"):
        return set(pl.read_parquet(io.BytesIO(data)).columns)
    if name.endswith(".jsonl"):
        return {
            key for line in data.decode().splitlines() if line.strip() for key in json.loads(line)
        }
    assert name.endswith(".csv"), path
    return set(data.decode().splitlines()[0].split(","))


def test_generated_files_follow_the_contract(run: Run) -> None:
    covered, formats = set(), set()
    for source, contract in SOURCES.items():
        for path in sorted(p for p in (run.landing / source).rglob("*") if p.is_file()):
            columns = _file_columns(path)
            assert columns <= set(contract.columns), (path, columns - set(contract.columns))
            assert set(contract.required) <= columns, (path, set(contract.required) - columns)
            covered.add(source)
            formats.add("".join(path.suffixes))
    # Every source is read whatever its file format (two small days may hold no ticket; the
    # generator writes no overrides or corrections).
    assert covered >= set(SOURCES) - {
        "identity_overrides",
        "profile_corrections",
        "support_tickets",
    }
    assert {".csv", ".parquet"} <= formats and formats & {".jsonl", ".jsonl.gz"}


def test_days_identity_built_after_a_rerun_day_are_the_ones_cdp_run_replays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platform_assets.cli import _stale_identity_days

    database = tmp_path / "w.duckdb"
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(database))
    assert _stale_identity_days(date(2026, 11, 1)) == []  # no identity yet
    warehouse = Warehouse()
    warehouse.execute("create schema identity")
    warehouse.execute("create table identity.runs (partition_date date)")
    warehouse.execute(
        "insert into identity.runs values ('2026-11-01'), ('2026-11-02'), ('2026-11-03')"
    )
    assert _stale_identity_days(date(2026, 11, 1)) == [date(2026, 11, 2), date(2026, 11, 3)]
    assert _stale_identity_days(date(2026, 11, 3)) == []
