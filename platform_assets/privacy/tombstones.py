"""Erasure tombstones: salted hashes of an erased person's identifiers, never the values.

`ops.erasure_tombstones` keeps one row per identifier of every erased person (an email address,
a source system's record id, a web visitor or user id, a customer id), hashed with CDP_PII_SALT.
The raw layer checks every newly landed file against them before it archives or loads it, so a
re-delivered file or a late event never brings an erased person back; `cdp erase` run again
finds an erasure it left unfinished through them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from resources import WarehouseSession
from resources.pii import pii_salt

TOMBSTONE_TABLE = "ops.erasure_tombstones"
TOMBSTONE_DDL = f"""
create schema if not exists ops;
create table if not exists {TOMBSTONE_TABLE} (
    erasure_id varchar not null,
    recorded_at timestamptz not null,
    kind varchar not null,
    value_hash varchar not null
)
"""

# Which identifier kind each column of a landing file carries, per source: the columns that
# tie a landed row to a person. `email` values are compared trimmed and lower-cased.
SOURCE_IDENTIFIERS: dict[str, dict[str, str]] = {
    "crm_contacts": {"contact_id": "id:crm_contacts", "email": "email"},
    "shop_customers": {"customer_id": "id:shop_customers", "email": "email"},
    "orders": {"customer_id": "id:shop_customers"},
    "support_tickets": {"ticket_id": "id:support_tickets", "requester_email": "email"},
    "email_events": {"email": "email"},
    "web_events": {"anonymous_id": "visitor", "user_id": "user", "email": "email"},
    "consent": {"subject_email": "email"},
    "profile_corrections": {"customer_id": "customer_id"},
    # not a landing source: the audience files of the export directory
    "exports": {"email": "email", "customer_id": "customer_id"},
}
# An address anywhere in a line's text: in a broken line, an unknown column or a free-text note.
ADDRESS = re.compile(r"[^@\s,;\"'<>(){}\[\]]+@[^@\s,;\"'<>(){}\[\]]+\.[^@\s,;\"'<>(){}\[\]]+")


def normalized(kind: str, value: str) -> str:
    value = value.strip(" ")  # as SQL's trim(), so the warehouse can hash the same way
    return value.lower() if kind == "email" else value


def identifier_hash(salt: str, kind: str, value: str) -> str:
    """The tombstone of one identifier: salted, so a leaked tombstone table names nobody."""
    return hashlib.sha256(f"{salt}\x1f{kind}\x1f{normalized(kind, value)}".encode()).hexdigest()


@dataclass(frozen=True)
class Tombstones:
    """The hashes of every erased identifier, and the salt to hash a candidate with."""

    salt: str
    hashes: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.hashes)

    def erased(self, kind: str, value: object) -> bool:
        if value is None or (text := str(value)).strip() == "":
            return False
        return identifier_hash(self.salt, kind, text) in self.hashes

    def row_erased(self, source: str, row: Mapping[str, object]) -> bool:
        """Whether a landed row (column names lower-cased) belongs to an erased person."""
        return any(
            self.erased(kind, row.get(column))
            for column, kind in SOURCE_IDENTIFIERS.get(source, {}).items()
        )

    def text_erased(self, text: str) -> bool:
        """Whether a line's text names an erased address anywhere in it."""
        return any(self.erased("email", found) for found in ADDRESS.findall(text))


def read_tombstones(db: WarehouseSession) -> Tombstones:
    """Every tombstone; the salt is required only once there is one (a missing salt then stops
    the load rather than letting an erased person back in)."""
    if not db.table_exists(TOMBSTONE_TABLE):
        return Tombstones("", frozenset())
    hashes = db.query(f"select distinct value_hash from {TOMBSTONE_TABLE}")["value_hash"]
    return Tombstones(pii_salt() if len(hashes) else "", frozenset(hashes.to_list()))


def tombstone_rows(salt: str, identifiers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(kind, hash) of each (kind, value), without repeats."""
    return sorted({(kind, identifier_hash(salt, kind, value)) for kind, value in identifiers})
