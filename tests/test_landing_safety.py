"""The landing zone can never delete data by accident, and is read only when files are whole."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import dagster as dg
import pytest

from resources import LandingArchive, LandingZone, Warehouse
from tests.conftest import DAY, LandFile, MaterializeDay, check_results

HEADER = "event_id,occurred_at,email,campaign_id,event_type,url"
ROWS = [
    "e1,2026-11-02T10:00:00Z,ann@example.com,c1,open,",
    "e2,2026-11-02T11:00:00Z,bob@example.com,c1,unsubscribe,",
]


def _csv(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def _event_ids(warehouse: Warehouse, layer: str = "cleaned") -> list[str]:
    return sorted(warehouse.query(f"select event_id from {layer}.email_events")["event_id"])


@pytest.fixture
def other_source(land: LandFile) -> Path:
    # The landing root is never empty in these tests: an empty root is refused (tested below).
    return land("products", "products.csv", "sku,name\nSKU-1,Mug\n")


def test_a_vanished_file_keeps_its_rows_and_is_reported(
    land: LandFile, materialize_day: MaterializeDay, warehouse, other_source
) -> None:
    path = land("email_events", "a.csv", _csv(*ROWS))
    materialize_day('key:"*/email_events"')
    path.unlink()
    result = materialize_day('key:"*/email_events"')
    assert _event_ids(warehouse) == ["e1", "e2"]
    check = check_results(result)[("raw/email_events", "no_vanished_files")]
    assert not check.passed and f"email_events/{DAY}/a.csv" in check.description
    assert check.severity == dg.AssetCheckSeverity.WARN
    origin = warehouse.query("select file, from_archive from raw.landed_files").to_dicts()
    assert origin == [{"file": f"email_events/{DAY}/a.csv", "from_archive": True}]


def test_raw_is_rebuilt_from_the_archive_after_the_landing_zone_is_cleaned_up(
    land: LandFile, materialize_day: MaterializeDay, warehouse, other_source
) -> None:
    path = land("email_events", "a.csv", _csv(*ROWS))
    materialize_day('key:"*/email_events"')
    shutil.rmtree(path.parent)
    warehouse.execute("drop schema raw cascade")
    materialize_day('key:"*/email_events"')
    assert _event_ids(warehouse, "raw") == ["e1", "e2"]


def test_a_retraction_removes_a_files_rows_and_only_that(
    land: LandFile, materialize_day: MaterializeDay, warehouse, other_source
) -> None:
    land("email_events", "a.csv", _csv(ROWS[0]))
    land("email_events", "b.csv", _csv(ROWS[1]))
    materialize_day('key:"*/email_events"')
    archive = LandingArchive().beside(warehouse.path)
    archive.retract("email_events", DAY, f"email_events/{DAY}/b.csv", reason="sent by mistake")
    materialize_day('key:"*/email_events"')
    # Still in the landing zone, yet not loaded: the retraction names this very content.
    assert _event_ids(warehouse) == ["e1"]
    # New content under the retracted name is a new file and loads.
    land("email_events", "b.csv", _csv(ROWS[1].replace("e2", "e3")))
    materialize_day('key:"*/email_events"')
    assert _event_ids(warehouse) == ["e1", "e3"]


def test_retracting_a_file_the_archive_does_not_know_names_the_known_ones(
    land: LandFile, materialize_day: MaterializeDay, warehouse, other_source
) -> None:
    land("email_events", "a.csv", _csv(ROWS[0]))
    materialize_day('key:"*/email_events"')
    archive = LandingArchive().beside(warehouse.path)
    with pytest.raises(KeyError, match=f"email_events/{DAY}/a.csv"):
        archive.retract("email_events", DAY, f"email_events/{DAY}/typo.csv", reason="x")


def test_a_vanished_file_without_its_archive_copy_fails_and_deletes_nothing(
    land: LandFile, materialize_day: MaterializeDay, warehouse, other_source
) -> None:
    path = land("email_events", "a.csv", _csv(*ROWS))
    materialize_day('key:"*/email_events"')
    path.unlink()
    objects = LandingArchive().beside(warehouse.path).path / "objects"
    for stored in objects.rglob("*"):
        if stored.is_file():
            stored.chmod(0o644)
            stored.unlink()
    result = materialize_day('key:"raw/email_events"', raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "cdp retract" in str(failure.event_specific_data)
    assert _event_ids(warehouse, "raw") == ["e1", "e2"]


@pytest.mark.parametrize("name", ["a.csv.part", "a.csv.tmp", ".a.csv"])
def test_names_a_transfer_uses_are_never_read(
    land: LandFile, materialize_day: MaterializeDay, warehouse, other_source, name
) -> None:
    land("email_events", name, _csv(*ROWS))
    materialize_day('key:"*/email_events"')
    assert warehouse.query("select count(*) as n from raw.landed_files")["n"][0] == 0


def test_a_file_changed_within_the_settle_interval_waits(
    land: LandFile, landing_zone: LandingZone, warehouse, other_source
) -> None:
    from platform_assets.definitions import defs

    land("email_events", "a.csv", _csv(*ROWS))
    patient = LandingZone(root=str(landing_zone.path), settle_seconds=3600)

    def load(zone: LandingZone) -> None:
        dg.materialize(
            [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)],
            partition_key=DAY,
            selection=dg.AssetSelection.from_string('key:"raw/email_events"'),
            resources={**(defs.resources or {}), "warehouse": warehouse, "landing_zone": zone},
        )

    load(patient)
    assert warehouse.query("select count(*) as n from raw.email_events")["n"][0] == 0
    assert patient.unsettled("email_events", DAY) == [f"email_events/{DAY}/a.csv"]
    old = (landing_zone.path / "email_events" / DAY / "a.csv").stat().st_mtime - 7200
    os.utime(landing_zone.path / "email_events" / DAY / "a.csv", (old, old))
    load(patient)
    assert warehouse.query("select count(*) as n from raw.email_events")["n"][0] == 2


def test_a_run_started_as_the_file_lands_waits_for_it_to_settle(
    land: LandFile, landing_zone: LandingZone, warehouse, other_source
) -> None:
    """`cdp generate && cdp run`: the files are seconds old when raw reads them."""
    from platform_assets.definitions import defs

    land("email_events", "a.csv", _csv(*ROWS))
    dg.materialize(
        [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)],
        partition_key=DAY,
        selection=dg.AssetSelection.from_string('key:"raw/email_events"'),
        resources={
            **(defs.resources or {}),
            "warehouse": warehouse,
            "landing_zone": LandingZone(root=str(landing_zone.path), settle_seconds=1.5),
        },
    )
    assert warehouse.query("select count(*) as n from raw.email_events")["n"][0] == 2


def test_a_symlink_out_of_the_landing_root_is_not_followed(
    land: LandFile, landing_zone: LandingZone, materialize_day, warehouse, tmp_path, other_source
) -> None:
    outside = tmp_path / "secrets.csv"
    outside.write_text(_csv(*ROWS))
    folder = landing_zone.path / "email_events" / DAY
    folder.mkdir(parents=True)
    (folder / "link.csv").symlink_to(outside)
    result = materialize_day('key:"raw/email_events"')
    assert warehouse.query("select count(*) as n from raw.email_events")["n"][0] == 0
    check = check_results(result)[("raw/email_events", "landing_folders_in_range")]
    assert not check.passed and "symlink leaves the landing root" in check.description + str(
        check.metadata
    )


def test_a_gzip_bomb_is_rejected_before_it_fills_the_memory(
    land: LandFile, materialize_day: MaterializeDay, other_source
) -> None:
    bomb = gzip.compress((HEADER + "\n").encode() + b"0" * (80 * 1024 * 1024), compresslevel=9)
    land("email_events", "bomb.csv.gz", bomb)
    result = materialize_day('key:"raw/email_events"')
    check = check_results(result)[("raw/email_events", "files_readable")]
    assert not check.passed and "decompresses to more than" in check.description


@pytest.mark.parametrize(
    ("content", "outcome"),
    [
        ("\ufeff" + _csv(*ROWS), 2),
        (_csv(*ROWS).replace("\n", "\r\n"), 2),
        (_csv(*ROWS).replace("campaign_id", "email", 1), "duplicate columns in header: email"),
    ],
    ids=["byte-order-mark", "crlf", "duplicate-header"],
)
def test_byte_order_marks_crlf_and_duplicate_headers_have_a_clear_outcome(
    land: LandFile, materialize_day: MaterializeDay, warehouse, other_source, content, outcome
) -> None:
    land("email_events", "a.csv", content.encode())
    result = materialize_day('key:"raw/email_events"')
    check = check_results(result)[("raw/email_events", "files_readable")]
    if isinstance(outcome, int):
        assert check.passed
        assert _event_ids(warehouse, "raw") == ["e1", "e2"]
    else:
        assert not check.passed and outcome in check.description


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_a_missing_or_empty_landing_root_is_refused(
    tmp_path: Path, warehouse: Warehouse, state: str
) -> None:
    from platform_assets.definitions import defs

    root = tmp_path / "zone"
    if state == "empty":
        root.mkdir()
    result = dg.materialize(
        [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)],
        partition_key=DAY,
        selection=dg.AssetSelection.from_string('key:"raw/email_events"'),
        resources={
            **(defs.resources or {}),
            "warehouse": warehouse,
            "landing_zone": LandingZone(root=str(root)),
        },
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "CDP_LANDING_DIR" in str(failure.event_specific_data)
    assert (
        not warehouse.path.exists()
        or not warehouse.query("select * from duckdb_tables() where schema_name = 'raw'").height
    )


def test_cdp_retract_names_what_it_cannot_retract(
    land: LandFile,
    materialize_day: MaterializeDay,
    warehouse,
    landing_zone,
    other_source,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from platform_assets.cli import main

    land("email_events", "a.csv", _csv(*ROWS))
    materialize_day('key:"*/email_events"')
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(warehouse.path))
    monkeypatch.setenv("CDP_LANDING_DIR", str(landing_zone.path))
    assert main(["retract", "emails", DAY, "a.csv", "--reason", "typo"]) == 2
    assert "unknown source 'emails'" in capsys.readouterr().out
    assert main(["retract", "email_events", DAY, "b.csv", "--reason", "typo"]) == 2
    assert f"email_events/{DAY}/a.csv" in capsys.readouterr().out  # the files it knows
