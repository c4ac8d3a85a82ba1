"""The Dagster instance's event log: one SQLite file, written over pooled connections.

Dagster's default SQLite event log opens a new SQLAlchemy engine and connection for every event
it stores, and keeps one file per run plus an index it mirrors asset events into. A day of the
platform records about 500 events (every planned and evaluated check, every materialization),
so that bookkeeping cost about 6 s a day, more than the day's data. This storage keeps Dagster's
consolidated schema (one `event_log.db` in WAL mode, as `ConsolidatedSqliteEventLogStorage`
writes it) and only changes how it connects: one engine per process with a small pool, and
`synchronous=NORMAL`, which SQLite documents as safe from corruption in WAL mode (a power cut
may lose the last events; a crashed process loses nothing). `dagster_home/dagster.yaml` selects
it; a larger deployment points the instance at Postgres instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import sqlalchemy
from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from sqlalchemy.engine import Connection, Engine

# As Dagster's own SQLite storages: how long a writer waits for another process's lock.
BUSY_TIMEOUT_SECONDS = 15


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """`ConsolidatedSqliteEventLogStorage` over one pooled engine per process."""

    @cached_property
    def _engine(self) -> Engine:
        engine = sqlalchemy.create_engine(
            self._conn_string, connect_args={"timeout": BUSY_TIMEOUT_SECONDS}
        )

        @sqlalchemy.event.listens_for(engine, "connect")
        def _durable_enough(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

        return engine

    @cached_property
    def _present(self) -> set[str]:
        return set()

    def has_table(self, table_name: str) -> bool:
        # Dagster asks whether the tables and columns of later migrations exist before storing
        # every asset and check event (about 250 a day), and each ask of the consolidated
        # storage opens an engine of its own. Migrations add tables and columns, never drop
        # them: a present one is remembered, an absent one asked again.
        if table_name not in self._present and super().has_table(table_name):
            self._present.add(table_name)
        return table_name in self._present

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        key = f"asset_keys.{column_name}"
        if key not in self._present and super()._has_asset_key_col_on_connection(conn, column_name):
            self._present.add(key)
        return key in self._present

    @contextmanager
    def _connect(self) -> Iterator[Connection]:  # type: ignore[override]
        with self._engine.connect() as connection, connection.begin():
            yield connection

    def dispose(self) -> None:
        super().dispose()
        if "_engine" in self.__dict__:
            self._engine.dispose()
