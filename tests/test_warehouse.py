"""The warehouse held open for a block (a dbt step): one database for its sessions and dbt's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from resources import Warehouse

OPEN_READ_ONLY = "import duckdb, sys; print(duckdb.connect(sys.argv[1], read_only=True)" + (
    ".execute('select count(*) from duckdb_tables()').fetchone()[0])"
)


def other_process_opens(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", OPEN_READ_ONLY, str(path)], capture_output=True, text=True
    )


def test_a_held_file_is_one_database_for_its_sessions_and_dbts_connection(
    tmp_path: Path,
) -> None:
    path = tmp_path / "warehouse.duckdb"
    warehouse = Warehouse(database=str(path))
    with warehouse.held():
        with warehouse.session() as db:
            db.execute("create table a as select 1 as n")
        # dbt-duckdb connects with DuckDB's default configuration: it gets the held database
        # (a second configuration in one process would be refused).
        dbt = duckdb.connect(str(path), read_only=False, config={})
        assert dbt.execute("select n from a").fetchall() == [(1,)]
        dbt.execute("create table b as select 2 as n")
        dbt.close()
        with warehouse.held():  # a hold inside a hold changes nothing
            with warehouse.session(read_only=True) as db:
                assert db.query("select n from b")["n"].to_list() == [2]
        with warehouse.session() as db:
            assert db.query("select count(*) as c from duckdb_tables()")["c"][0] == 2
        # The process holds the file: another one waits for it, as for any writer.
        held = other_process_opens(path)
        assert held.returncode != 0 and "lock" in held.stderr.lower()
    released = other_process_opens(path)
    assert released.returncode == 0, released.stderr
    assert released.stdout.strip() == "2"  # both writes are in the file
