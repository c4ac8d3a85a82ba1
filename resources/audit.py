"""The audit trail, `ops.audit_log`: one row per act a regulator or a customer may ask about.

Every export file written (which audience, which day, how many rows, the file's checksum and the
manifest's, the Dagster run that wrote it). Rows are only ever appended, and they never hold a
person's identifiers: counts, checksums and ids of the platform's own objects.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from resources.warehouse import Warehouse, WarehouseSession

AUDIT_TABLE = "ops.audit_log"
AUDIT_DDL = f"""
create schema if not exists ops;
create table if not exists {AUDIT_TABLE} (
    audit_id varchar not null primary key,
    recorded_at timestamptz not null,
    action varchar not null,
    subject varchar,
    partition_key varchar,
    row_count bigint,
    checksum varchar,
    manifest_sha256 varchar,
    run_id varchar,
    details json
)
"""


@dataclass(frozen=True)
class AuditEntry:
    action: str  # e.g. export_written
    subject: str  # what it was about: an audience id, a table
    partition_key: str | None = None
    row_count: int | None = None
    checksum: str | None = None
    manifest_sha256: str | None = None
    run_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def record_audit(db: WarehouseSession, entries: Sequence[AuditEntry]) -> None:
    """Append the entries, in the caller's session (and transaction, when it has one)."""
    db.connection.execute(AUDIT_DDL)
    now = datetime.now(UTC)
    for entry in entries:
        db.execute(
            f"insert into {AUDIT_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                str(uuid.uuid4()),
                now,
                entry.action,
                entry.subject,
                entry.partition_key,
                entry.row_count,
                entry.checksum,
                entry.manifest_sha256,
                entry.run_id,
                json.dumps(entry.details, sort_keys=True),
            ],
        )


def read_audit(warehouse: Warehouse, *, action: str | None = None, limit: int = 50) -> pl.DataFrame:
    """The latest entries, newest first; empty when nothing was ever audited."""
    with warehouse.session(read_only=True) as db:
        if not db.table_exists(AUDIT_TABLE):
            return pl.DataFrame()
        where = "where action = ?" if action else ""
        return db.query(
            f"select * from {AUDIT_TABLE} {where} order by recorded_at desc, subject limit ?",
            [*([action] if action else []), limit],
        )
