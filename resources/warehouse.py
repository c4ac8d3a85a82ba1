"""The DuckDB warehouse: one file shared by every layer, dbt included."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
from dagster._utils.backoff import backoff
from dagster_duckdb import DuckDBResource

from resources.paths import resolve_path

DEFAULT_DUCKDB_PATH = "data/warehouse.duckdb"

# A read-only open waits for a writer with exponential back-off from 0.1 s: 7 tries wait about
# 13 s in all, short enough for a sensor tick, which then tries again on the next tick.
READ_ONLY_RETRIES = 7


def resolve_duckdb_path(configured: str | None = None) -> Path:
    """The absolute warehouse path: configured value, else CDP_DUCKDB_PATH, else the default.

    Absolute, because dbt runs from inside `dbt/` and must open the very same file.
    """
    return resolve_path(configured, "CDP_DUCKDB_PATH", DEFAULT_DUCKDB_PATH)


@dataclass(frozen=True)
class TableWrite:
    """Rows that replace the rows of `table` matching `replace_where` (column -> value)."""

    table: str  # "schema.table"
    frame: pl.DataFrame
    replace_where: Mapping[str, Any] = field(default_factory=dict)


class Warehouse(dg.ConfigurableResource):
    """DuckDB file of the platform. Empty `database` means CDP_DUCKDB_PATH, read at run time."""

    database: str = ""

    @property
    def path(self) -> Path:
        return resolve_duckdb_path(self.database)

    @contextmanager
    def connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the file, retried with back-off while another process holds it.

        Writers run inside the one writer pool; `read_only` is for the readers outside it
        (sensors, the command line), which must never take the write lock from a run.
        """
        from resources.configuration import warehouse_name_problem

        if problem := warehouse_name_problem(self.path):
            raise ValueError(problem)
        if read_only:
            connection = backoff(
                fn=duckdb.connect,
                retry_on=(RuntimeError, duckdb.IOException),
                kwargs={"database": str(self.path), "read_only": True},
                max_retries=READ_ONLY_RETRIES,
            )
            try:
                connection.execute("set TimeZone = 'UTC'")
                yield connection
            finally:
                connection.close()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # DuckDBResource retries while another process holds the file lock.
        with DuckDBResource(database=str(self.path)).get_connection() as connection:
            # DuckDBResource closes its connection only when the body succeeds; an error
            # would leave the file locked for the rest of the process.
            try:
                connection.execute("set TimeZone = 'UTC'")
                yield connection
            finally:
                connection.close()

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator[WarehouseSession]:
        """One connection for a whole asset body: opening one costs more than a small query."""
        with self.connection(read_only=read_only) as connection:
            yield WarehouseSession(connection)

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> pl.DataFrame:
        with self.session() as session:
            return session.query(sql, parameters)

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> None:
        with self.session() as session:
            session.execute(sql, parameters)

    def replace(self, writes: Sequence[TableWrite]) -> None:
        with self.session() as session:
            session.replace(writes)


class WarehouseSession:
    """Queries and writes over one open connection."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> pl.DataFrame:
        return self.connection.execute(sql, parameters or []).pl()

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> None:
        self.connection.execute(sql, parameters or [])

    def table_exists(self, table: str) -> bool:
        """Whether `schema.table` exists: layers read tables an earlier run may not have made."""
        schema, name = table.split(".")
        found = self.connection.execute(
            "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
            [schema, name],
        ).fetchall()
        return bool(found[0][0])

    def table_schema(self, table: str) -> pl.Schema:
        """Column names and types of a table as polars reads them."""
        return self.query(f"select * from {table} limit 0").schema

    def replace(self, writes: Sequence[TableWrite]) -> None:
        """Replace the matching rows of every table in one transaction: all or nothing.

        Tables are created from the first frame written to them. Re-running a write with the
        same `replace_where` gives the same table, which makes partition loads idempotent.
        """
        self.connection.execute("begin transaction")
        try:
            for write in writes:
                _replace_rows(self.connection, write)
            self.connection.execute("commit")
        except BaseException:
            self.connection.execute("rollback")
            raise


def _replace_rows(connection: duckdb.DuckDBPyConnection, write: TableWrite) -> None:
    schema, _ = write.table.split(".")
    connection.execute(f"create schema if not exists {schema}")
    arrow = write.frame.to_arrow()
    connection.register("incoming_rows", arrow)
    try:
        connection.execute(
            f"create table if not exists {write.table} as select * from incoming_rows limit 0"
        )
        if write.replace_where:
            condition = " and ".join(f'"{column}" = ?' for column in write.replace_where)
            connection.execute(
                f"delete from {write.table} where {condition}", list(write.replace_where.values())
            )
        if write.frame.height:
            connection.execute(f"insert into {write.table} by name select * from incoming_rows")
    finally:
        connection.unregister("incoming_rows")
