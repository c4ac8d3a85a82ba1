"""The DuckDB warehouse: one file shared by every layer, dbt included."""

from __future__ import annotations

import os
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


# Writers wait longer than readers: a run step queues behind another step's write.
WRITER_RETRIES = 10
ENCRYPTION_KEY_VARIABLE = "CDP_DUCKDB_ENCRYPTION_KEY"


# The warehouse files this process holds open (`Warehouse.held`), each with its one connection.
_HELD: dict[Path, duckdb.DuckDBPyConnection] = {}


class WarehouseKeyError(Exception):
    """The encrypted warehouse cannot be opened with the key given: never retried."""


def encryption_key() -> str | None:
    """The key of an encrypted warehouse (CDP_DUCKDB_ENCRYPTION_KEY), None for a plain file."""
    return os.environ.get(ENCRYPTION_KEY_VARIABLE) or None


def _quoted(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _attach_options(key: str | None, *, read_only: bool) -> str:
    options = [f"encryption_key {_quoted(key)}"] if key else []
    options += ["read_only"] if read_only else []
    return f"({', '.join(options)})" if options else ""


def open_duckdb(path: Path, read_only: bool, key: str | None) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse file: plain, or encrypted with `key` (see
    `attach_encrypted`)."""
    if not key:
        return duckdb.connect(str(path), read_only=read_only)
    connection = duckdb.connect()
    try:
        attach_encrypted(connection, path, key, read_only=read_only)
    except BaseException:
        connection.close()
        raise
    return connection


def attach_encrypted(
    connection: duckdb.DuckDBPyConnection, path: Path, key: str, *, read_only: bool = False
) -> None:
    """Attach the warehouse as an encrypted DuckDB database (AES-GCM) under its file name and
    make it the default, so every query reads as it does on a plain file. The key goes into
    this process's ATTACH statement only, never a log or a profile."""
    try:
        load_crypto(connection)
        connection.execute(
            f'attach if not exists {_quoted(path)} as "{path.stem}"'
            f" {_attach_options(key, read_only=read_only)}"
        )
        connection.execute(f'use "{path.stem}"')
    except duckdb.Error as error:
        if isinstance(error, duckdb.IOException) and "lock" in str(error).lower():
            raise
        raise WarehouseKeyError(
            f"cannot open {path} with {ENCRYPTION_KEY_VARIABLE}: the key is wrong, or the file"
            f" was written without encryption ({type(error).__name__})"
        ) from None


def load_crypto(connection: duckdb.DuckDBPyConnection) -> None:
    """Load httpfs, whose OpenSSL DuckDB needs to write an encrypted file (without it DuckDB
    can only read one), installing it from the `duckdb-extension-httpfs` wheel the first time."""
    try:
        connection.execute("load httpfs")
    except duckdb.Error:
        import duckdb_extensions

        duckdb_extensions.import_extension("httpfs", con=connection)
        connection.execute("load httpfs")


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
        if (held := _HELD.get(self.path)) is not None:
            # A cursor is a connection of its own to the database the process holds open.
            cursor = held.cursor()
            try:
                cursor.execute("set TimeZone = 'UTC'")
                yield cursor
            finally:
                cursor.close()
            return
        key = encryption_key()
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if read_only or key:
            connection = backoff(
                fn=open_duckdb,
                retry_on=(RuntimeError, duckdb.IOException),
                kwargs={"path": self.path, "read_only": read_only, "key": key},
                max_retries=READ_ONLY_RETRIES if read_only else WRITER_RETRIES,
            )
            try:
                connection.execute("set TimeZone = 'UTC'")
                yield connection
            finally:
                connection.close()
            return
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
    def held(self) -> Iterator[None]:
        """The file held open for the block: its sessions are cursors of one database, and
        dbt, which connects with DuckDB's default configuration, shares that database too.

        Opening the file costs about 25 ms (DuckDB reads the catalog) and closing it
        checkpoints; a dbt step opens it a dozen times. Hold it only in a block that holds
        the writer pool's slot (a step's body): another process waits for the file until
        the block ends. An encrypted file is attached to an in-memory database that dbt's
        own cannot share, so it is opened per session as before."""
        if encryption_key() or self.path in _HELD:
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # DuckDB's default configuration, as dbt-duckdb connects: one process may open a file
        # only once, so every connection to it must agree (DuckDBResource names a user agent).
        connection = backoff(
            fn=duckdb.connect,
            retry_on=(RuntimeError, duckdb.IOException),
            kwargs={"database": str(self.path), "read_only": False},
            max_retries=WRITER_RETRIES,
        )
        _HELD[self.path] = connection
        try:
            yield
        finally:
            del _HELD[self.path]
            connection.close()

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator[WarehouseSession]:
        """One connection for a whole asset body: opening one costs more than a small query."""
        with self.connection(read_only=read_only) as connection:
            yield WarehouseSession(connection)

    def encrypt(self) -> None:
        """Turn a plain warehouse file into an encrypted one with CDP_DUCKDB_ENCRYPTION_KEY:
        copied whole while the plain file is held, then renamed over it."""
        if not encryption_key():
            raise WarehouseKeyError(
                f"{ENCRYPTION_KEY_VARIABLE} is not set: nothing to encrypt with"
            )
        backoff(
            fn=self._compact,
            kwargs={"plain_source": True},
            retry_on=(duckdb.IOException,),
            max_retries=WRITER_RETRIES,
        )

    def compact(self) -> None:
        """Rewrite the file with only its live rows (erasure: DuckDB leaves the bytes of deleted
        rows in freed blocks until they are reused). The copy is made while the old file is
        held open for writing, so no other process writes meanwhile, and renamed over it."""
        backoff(
            fn=self._compact,
            retry_on=(duckdb.IOException,),  # another process holds the file: wait for it
            max_retries=WRITER_RETRIES,
        )

    def _compact(self, plain_source: bool = False) -> None:
        """Copy the file's live rows into a new file and rename it over the old. The new file
        is encrypted when CDP_DUCKDB_ENCRYPTION_KEY is set; the old one is read with that key
        too, unless `plain_source` (a plain file being encrypted)."""
        fresh = self.path.with_name(f".{self.path.name}.compacting")
        fresh.unlink(missing_ok=True)
        connection = duckdb.connect()
        key = encryption_key()
        options = _attach_options(key, read_only=False)
        source = _attach_options(None if plain_source else key, read_only=False)
        try:
            if key:
                load_crypto(connection)
            # Attached under its own name: views that name their database still bind.
            connection.execute(f'attach {_quoted(self.path)} as "{self.path.stem}" {source}')
            connection.execute(f"attach {_quoted(fresh)} as compacted {options}")
            connection.execute(f'copy from database "{self.path.stem}" to compacted')
            connection.execute("detach compacted")
            os.replace(fresh, self.path)
        finally:
            connection.close()
            fresh.unlink(missing_ok=True)

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

    def upsert(self, table: str, frame: pl.DataFrame, key: str) -> None:
        """Insert the rows of `frame`, replacing the table's rows with the same `key`, in one
        transaction (a ledger, such as the triggered sends, rather than a partition)."""
        schema, _ = table.split(".")
        self.connection.execute(f"create schema if not exists {schema}")
        self.connection.register("upserted_rows", _arrow(frame))
        try:
            self.connection.execute(
                f"create table if not exists {table} as select * from upserted_rows limit 0"
            )
            if frame.is_empty():
                return
            self.connection.execute("begin transaction")
            try:
                self.connection.execute(
                    f'delete from {table} where "{key}" in (select "{key}" from upserted_rows)'
                )
                self.connection.execute(f"insert into {table} by name select * from upserted_rows")
                self.connection.execute("commit")
            except BaseException:
                self.connection.execute("rollback")
                raise
        finally:
            self.connection.unregister("upserted_rows")

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


def _arrow(frame: pl.DataFrame) -> Any:
    """The frame as Arrow without a copy: polars' own string views, which DuckDB reads as they
    are (the default, older layout copies every string first, which took as long as the
    insert)."""
    return frame.to_arrow(compat_level=pl.CompatLevel.newest())


def _replace_rows(connection: duckdb.DuckDBPyConnection, write: TableWrite) -> None:
    schema, _ = write.table.split(".")
    connection.execute(f"create schema if not exists {schema}")
    connection.register("incoming_rows", _arrow(write.frame))
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
