"""dbt-duckdb plugin: the salt of the hashed identifiers, given to DuckDB without entering SQL.

dbt's `hash_email` macro hashes with `getvariable('cdp_pii_salt')`. The salt is set on each of
dbt's DuckDB connections and cursors here, from CDP_PII_SALT, so it never appears in compiled
SQL, dbt's logs or the Dagster UI. Without the variable every dbt run stops with a clear
message instead of writing null hashes.
"""

from __future__ import annotations

import os
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

SALT_VARIABLE = "cdp_pii_salt"


class MissingSalt(RuntimeError):
    pass


def pii_salt() -> str:
    salt = os.environ.get("CDP_PII_SALT", "")
    if not salt:
        raise MissingSalt(
            "CDP_PII_SALT is not set: the marts hash email addresses with it. Set a long random"
            " secret and keep it stable (every hash changes with it); `make demo` sets a demo"
            " salt that is not for real data."
        )
    return salt


def set_salt(connection: Any) -> None:
    # A prepared parameter: the value is never part of a statement's text.
    connection.execute(f"set variable {SALT_VARIABLE} = $salt", {"salt": pii_salt()})


class Plugin(BasePlugin):
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
