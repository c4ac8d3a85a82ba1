"""dbt-duckdb plugin: the salt of the hashed identifiers, given to DuckDB without entering SQL.

dbt's `hash_email` macro hashes with `getvariable('cdp_pii_salt')`. The salt is set on each of
dbt's DuckDB connections and cursors here, from CDP_PII_SALT, so it never appears in compiled
SQL, dbt's logs or the Dagster UI. Without the variable every dbt run stops with a clear
message instead of writing null hashes.

It also points dbt's connection at the absolute CDP_DUCKDB_PATH, of which the profile names the
file only (see `update_connection_config`).
"""

from __future__ import annotations

import os
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from resources.pii import MissingSalt, pii_salt, set_salt

__all__ = ["MissingSalt", "Plugin", "pii_salt", "set_salt"]


class Plugin(BasePlugin):
    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        # The profile names the warehouse file without its folder (so one saved parse serves
        # every folder); the connection opens the absolute CDP_DUCKDB_PATH, the very file
        # Dagster opens. The encrypted target attaches it in `configure_connection` instead.
        if os.environ.get("CDP_DUCKDB_ENCRYPTION_KEY"):
            return
        from resources.warehouse import resolve_duckdb_path

        path = resolve_duckdb_path()
        if path.name != os.path.basename(creds.path):
            raise ValueError(
                f"dbt's profile names the warehouse {creds.path!r}, CDP_DUCKDB_PATH {path}"
            )
        creds.path = str(path)

    def configure_connection(self, conn: Any) -> None:
        set_salt(conn)
        if key := os.environ.get("CDP_DUCKDB_ENCRYPTION_KEY"):
            # Attached here, with the key, before dbt's own `ATTACH IF NOT EXISTS` of the
            # `encrypted` target (which then finds it attached): the key stays out of the
            # profile and of every statement dbt logs. Python models get this connection.
            from resources.warehouse import attach_encrypted, resolve_duckdb_path

            attach_encrypted(conn, resolve_duckdb_path(), key)

    def configure_cursor(self, cursor: Any) -> None:
        # Each cursor is a connection of its own in DuckDB: variables are not shared.
        set_salt(cursor)
        if os.environ.get("CDP_DUCKDB_ENCRYPTION_KEY"):
            # The encrypted warehouse sits beside dbt's in-memory database: the default here
            # too, so unqualified names in hooks and tests read it.
            from resources.warehouse import resolve_duckdb_path

            cursor.execute(f'use "{resolve_duckdb_path().stem}"')
