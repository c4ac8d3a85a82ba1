"""An encrypted warehouse (CDP_DUCKDB_ENCRYPTION_KEY): every layer, dbt included, writes and reads
it, and its bytes hold no one's address."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import duckdb
import pytest

from platform_assets.cli import main
from resources import Warehouse

KEY = "a-long-test-key-for-the-warehouse"
ADDRESS = re.compile(rb"[\w.+-]+@[\w-]+\.[\w.]+")


def test_the_whole_graph_runs_on_an_encrypted_file_that_holds_no_plaintext(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    landing, database = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    for name, value in {
        "CDP_LANDING_DIR": landing,
        "CDP_DUCKDB_PATH": database,
        "CDP_GROUND_TRUTH_DIR": tmp_path / "truth",
        "CDP_ARTIFACT_DIR": tmp_path / "artifacts",
        "CDP_EXPORT_DIR": tmp_path / "exports",
        "CDP_DUCKDB_ENCRYPTION_KEY": KEY,
    }.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    generate = ["generate", "--people", "60", "--days", "1", "--no-progress"]
    assert main([*generate, "--start", "2026-11-01"]) == 0
    assert main(["run"]) == 0
    output = capsys.readouterr().out
    assert "exports: ok" in output and "(0 error)" in output and "day(s) failed" not in output

    # every layer is in the file: the Python writers, the identity graph and dbt's models
    with Warehouse().session(read_only=True) as db:
        counts = db.query(
            "select (select count(*) from raw.crm_contacts) as crm,"
            " (select count(*) from identity.golden_customers) as golden,"
            " (select count(*) from star.dim_customer) as customers,"
            " (select count(*) from segments.personas) as personas,"
            " (select count(*) from exports.audiences) as audiences"
        ).row(0, named=True)
    assert all(counts.values()), counts
    # without the key DuckDB cannot open it; its bytes name none of the people who landed
    with pytest.raises(duckdb.Error, match="encrypted"):
        duckdb.connect(str(database), read_only=True)
    landed = set()
    for path in landing.rglob("*.csv*"):
        content = path.read_bytes()
        landed |= set(
            ADDRESS.findall(gzip.decompress(content) if path.suffix == ".gz" else content)
        )
    assert len(landed) > 20
    stored = database.read_bytes()
    assert not [address for address in landed if address in stored]
    # the key is in no file the run wrote: dbt's logs, target folder, artifacts, exports
    written = [path for path in tmp_path.rglob("*") if path.is_file() and path != database]
    assert written and not [path for path in written if KEY.encode() in path.read_bytes()]
    # a wrong key is refused with the variable named, not retried
    monkeypatch.setenv("CDP_DUCKDB_ENCRYPTION_KEY", "not-the-key")
    with pytest.raises(Exception, match="CDP_DUCKDB_ENCRYPTION_KEY"):
        with Warehouse().session(read_only=True):
            pass


def test_cdp_encrypt_turns_a_plain_warehouse_into_an_encrypted_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(database))
    monkeypatch.delenv("CDP_DUCKDB_ENCRYPTION_KEY", raising=False)
    with Warehouse().session() as db:
        db.execute("create schema identity")
        db.execute(
            "create table identity.golden_customers as"
            " select 'cus_' || lpad(i::varchar, 12, '0') as customer_id,"
            " 'person' || i || '@example.org' as email from range(500) as t(i)"
        )
        db.execute("create view identity.first as select * from identity.golden_customers")
    with duckdb.connect(str(database), read_only=True) as plain:  # a plain file opens keyless
        assert plain.execute("select count(*) from identity.golden_customers").fetchone() == (500,)
    assert main(["encrypt"]) == 2  # no key to encrypt with
    monkeypatch.setenv("CDP_DUCKDB_ENCRYPTION_KEY", KEY)
    assert main(["encrypt"]) == 0
    # The addresses themselves, not any address-shaped bytes: ciphertext is random and can
    # spell one by chance (`k@98d.x`). That the file is encrypted at all is proven below: a
    # keyless open is refused.
    assert b"@example.org" not in database.read_bytes()
    with Warehouse().session(read_only=True) as db:
        assert db.query("select count(*) as n from identity.first")["n"][0] == 500
    with pytest.raises(duckdb.Error, match="encrypted"):
        duckdb.connect(str(database), read_only=True)
    assert main(["encrypt"]) == 2  # already encrypted: refused, the file untouched
    with Warehouse().session(read_only=True) as db:
        assert db.query("select count(*) as n from identity.golden_customers")["n"][0] == 500
