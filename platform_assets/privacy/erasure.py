"""Erasure (the right to be forgotten): every row and file of one person, gone, with proof.

`erase` finds the person through the identity graph (`subject.find_subject`), then:
1. in one warehouse transaction, records a tombstone per identifier (salted hashes only) and
   deletes their rows from every table of every schema: sources, quarantine, superseded
   versions, identity, star, segments (history included) and exports;
2. rewrites every landing file, every archived version and every export file that holds a row
   of theirs, each replaced atomically;
3. scans every table and file again for their identifiers and hashes: the report lists what
   remains, and the erasure is complete only when nothing does.

Run again (after an interruption, or to prove it), it picks up the earlier erasure through its
tombstones and finishes what is left. The raw layer applies the tombstones to every file that
lands later, so a re-delivered file never brings the person back.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from platform_assets.privacy.scrub import scrub_file
from platform_assets.privacy.subject import SOURCE_ROWS, Subject, find_subject, subject_tables
from platform_assets.privacy.tombstones import (
    SOURCE_IDENTIFIERS,
    TOMBSTONE_DDL,
    TOMBSTONE_TABLE,
    Tombstones,
    identifier_hash,
    read_tombstones,
    tombstone_rows,
)
from resources import (
    ArtifactStore,
    ExportDirectory,
    LandingArchive,
    LandingZone,
    WarehouseSession,
)

# Kept through an erasure: the tombstones themselves and the audit trail (which by design never
# holds a person's identifiers; the verification scans it all the same).
UNTOUCHED_TABLES = {TOMBSTONE_TABLE, "ops.audit_log"}
TEXT_TYPES = ("VARCHAR", "JSON")
# The SQL twin of `tombstones.identifier_hash`: salt, kind and trimmed value, 0x1f between.
HASHED = "sha256(?::varchar || chr(31) || ?::varchar || chr(31) || {value})"


@dataclass
class ErasureReport:
    erasure_id: str
    customer_ids: list[str]
    earlier: bool  # an earlier erasure of the person was found through its tombstones
    subject: Subject | None = None
    rows_deleted: dict[str, int] = field(default_factory=dict)  # table -> rows
    rows_scrubbed: dict[str, int] = field(default_factory=dict)  # file -> rows
    remaining: list[str] = field(default_factory=list)  # what the verification still found
    artifacts_removed: list[str] = field(default_factory=list)  # dashboards showing them

    @property
    def complete(self) -> bool:
        return not self.remaining


def subject_identifiers(subject: Subject) -> list[tuple[str, str]]:
    """(kind, value) of every identifier of the person, in the tombstones' kinds."""
    identifiers = [("email", email) for email in subject.emails]
    identifiers += [("customer_id", customer_id) for customer_id in subject.customer_ids]
    for name, values in subject.identifiers.items():
        kind = {"visitors": "visitor", "users": "user"}.get(name)
        if name.startswith("ids:"):
            kind = "id:" + name.removeprefix("ids:")
        if kind:
            identifiers += [(kind, value) for value in values]
    return identifiers


def erase(
    db: WarehouseSession,
    landing_zone: LandingZone,
    archive: LandingArchive,
    exports: ExportDirectory,
    *,
    salt: str,
    email: str | None = None,
    customer_id: str | None = None,
    artifacts: ArtifactStore | None = None,
) -> ErasureReport:
    """Steps 1 and 2 (see the module); `remaining` is step 3, run once the warehouse file has
    been compacted."""
    subject = find_subject(db, email=email, customer_id=customer_id)
    asked = [("email", email)] if email else [("customer_id", customer_id or "")]
    earlier = earlier_erasures(db, salt, asked)
    identifiers = subject_identifiers(subject)
    if not subject.record_keys and customer_id and not email and not earlier:
        # Nothing ties the id to anyone: there is no identifier to find or keep out.
        return ErasureReport("", [], False, None)
    report = ErasureReport(
        earlier[0] if earlier else str(uuid.uuid4()), subject.customer_ids, bool(earlier), subject
    )
    report.rows_deleted = delete_rows(db, subject, salt, report.erasure_id, identifiers)
    if artifacts is not None:
        # The identity model's dashboards show sampled records side by side.
        report.artifacts_removed = artifacts.remove_files_naming(
            [*subject.emails, *subject.record_keys], "identity"
        )
    tombstones = read_tombstones(db)
    report.rows_scrubbed = scrub_files(
        landing_zone, archive, exports, tombstones, report.erasure_id
    )
    return report


def earlier_erasures(db: WarehouseSession, salt: str, asked: list[tuple[str, str]]) -> list[str]:
    """Erasure ids whose tombstones name the identifier asked for."""
    if not db.table_exists(TOMBSTONE_TABLE):
        return []
    hashes = [identifier_hash(salt, kind, value) for kind, value in asked]
    return db.query(
        f"select erasure_id from {TOMBSTONE_TABLE}"
        " where value_hash in (select unnest(?::varchar[])) group by 1 order by min(recorded_at)",
        [hashes],
    )["erasure_id"].to_list()


def _text_columns(db: WarehouseSession) -> dict[str, list[str]]:
    """Per base table (`schema.table`), its text columns."""
    columns = db.query(
        """select schema_name || '.' || table_name as name, column_name, data_type
        from duckdb_columns() join duckdb_tables() using (database_name, schema_name, table_name)
        where database_name = current_database() order by name, column_index"""
    )
    found: dict[str, list[str]] = {}
    for row in columns.iter_rows(named=True):
        found.setdefault(row["name"], [])
        if row["data_type"] in TEXT_TYPES:
            found[row["name"]].append(row["column_name"])
    return found


def person_predicates(
    db: WarehouseSession, subject: Subject, salt: str, tombstones: Tombstones | None = None
) -> dict[str, list[tuple[str, list[Any]]]]:
    """Per base table, the where clauses (with parameters) that select the person's rows.

    By identifiers as the graph knows them (`subject_tables`); by the tombstones' hashes of the
    identifier columns of the source tables (which finds an erased person again without their
    values); by customer id, email and email hash in every other table; and, in every text
    column of every table, any mention of one of their addresses.
    """
    hashes = sorted(tombstones.hashes) if tombstones else []
    predicates: dict[str, list[tuple[str, list[Any]]]] = {}
    for table, (where, parameters) in subject_tables(db, subject).items():
        predicates.setdefault(table, []).append((where, parameters))
    any_hash = "in (select unnest(?::varchar[]))"
    for table, text_columns in _text_columns(db).items():
        if table in UNTOUCHED_TABLES:
            continue
        schema, name = table.split(".")
        clauses = predicates.setdefault(table, [])
        source = name.removesuffix("_quarantine")
        if schema in ("raw", "cleaned") and source in SOURCE_IDENTIFIERS and hashes:
            for column, kind in SOURCE_IDENTIFIERS[source].items():
                value = (
                    f"json_extract_string(original_record, '$.{column}')"
                    if name.endswith("_quarantine")
                    else f'"{column}"'
                )
                if name.endswith("_quarantine") or column in text_columns:
                    normalized = f"lower(trim({value}))" if kind == "email" else f"trim({value})"
                    clauses.append(
                        (f"{HASHED.format(value=normalized)} {any_hash}", [salt, kind, hashes])
                    )
        elif schema not in ("raw", "cleaned"):
            for column in ("customer_id", "other_customer_id"):
                hashed = HASHED.format(value=f'trim("{column}")')
                if column in text_columns and (subject.customer_ids or hashes):
                    clauses.append(
                        (f'"{column}" {any_hash}', [subject.customer_ids])
                        if not hashes
                        else (
                            f'("{column}" {any_hash} or {hashed} {any_hash})',
                            [subject.customer_ids, salt, "customer_id", hashes],
                        )
                    )
            if "email_hash" in text_columns and subject.emails:
                clauses.append(
                    (
                        "email_hash in (select sha256(?::varchar || e)"
                        " from unnest(?::varchar[]) as t(e))",
                        [salt, subject.emails],
                    )
                )
        for column in ("record_key", "left_record_key", "right_record_key"):
            if column in text_columns and subject.record_keys and not name.endswith("_superseded"):
                clauses.append((f'"{column}" {any_hash}', [subject.record_keys]))
        for column in text_columns:
            for address in subject.emails:
                clauses.append((f'contains(lower("{column}"::varchar), ?)', [address]))
        if not clauses:
            del predicates[table]
    return predicates


def _where(clauses: list[tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    parameters: list[Any] = []
    for _, values in clauses:
        parameters += values
    return " or ".join(f"({where})" for where, _ in clauses), parameters


def _superseded_of(
    db: WarehouseSession, predicates: Mapping[str, list[tuple[str, list[Any]]]]
) -> dict[str, tuple[str, list[Any]]]:
    """The superseded versions of the person's rows: `cleaned.<source>_superseded` names a row by
    its file and row number, the row it lost to by `kept_*`."""
    found = {}
    for source in SOURCE_ROWS:
        superseded = f"cleaned.{source}_superseded"
        if not db.table_exists(superseded):
            continue
        positions: set[tuple[str, int]] = set()
        for table in (f"raw.{source}", f"cleaned.{source}"):
            if table in predicates:
                where, parameters = _where(predicates[table])
                rows = db.query(
                    f"select distinct _source_file, _row_number from {table} where {where}",
                    parameters,
                )
                positions |= set(rows.iter_rows())
        if positions:
            files = [file for file, _ in positions]
            numbers = [number for _, number in positions]
            pairs = "(select unnest(?::varchar[]) as f, unnest(?::bigint[]) as n)"
            found[superseded] = (
                f"(_source_file, _row_number) in (select (f, n) from {pairs})"
                f" or (kept_source_file, kept_row_number) in (select (f, n) from {pairs})",
                [files, numbers, files, numbers],
            )
    return found


def delete_rows(
    db: WarehouseSession,
    subject: Subject,
    salt: str,
    erasure_id: str,
    identifiers: list[tuple[str, str]],
) -> dict[str, int]:
    """Tombstones and deletions in one transaction: interrupted, nothing of it happened."""
    db.connection.execute(TOMBSTONE_DDL)
    deleted: dict[str, int] = {}
    db.execute("begin transaction")
    try:
        now = datetime.now(UTC)
        known = set(read_tombstones_unsalted(db))
        for kind, value_hash in tombstone_rows(salt, identifiers):
            if value_hash not in known:
                db.execute(
                    f"insert into {TOMBSTONE_TABLE} values (?, ?, ?, ?)",
                    [erasure_id, now, kind, value_hash],
                )
        tombstones = Tombstones(salt, frozenset(read_tombstones_unsalted(db)))
        predicates = person_predicates(db, subject, salt, tombstones)
        # Superseded versions first: they are found through the rows about to go.
        for table, (where, parameters) in _superseded_of(db, predicates).items():
            count = db.connection.execute(f"delete from {table} where {where}", parameters)
            if gone := int(count.fetchall()[0][0]):
                deleted[table] = gone
        for table, clauses in predicates.items():
            where, parameters = _where(clauses)
            count = db.connection.execute(f"delete from {table} where {where}", parameters)
            if gone := int(count.fetchall()[0][0]):
                deleted[table] = deleted.get(table, 0) + gone
        db.execute("commit")
    except BaseException:
        db.execute("rollback")
        raise
    return deleted


def read_tombstones_unsalted(db: WarehouseSession) -> list[str]:
    return db.query(f"select distinct value_hash from {TOMBSTONE_TABLE}")["value_hash"].to_list()


def scrub_files(
    landing_zone: LandingZone,
    archive: LandingArchive,
    exports: ExportDirectory,
    tombstones: Tombstones,
    erasure_id: str,
) -> dict[str, int]:
    """Rewrite the landing files, archived versions and export files holding the person."""
    scrubbed: dict[str, int] = {}
    for landed, rows in archive.scrub(
        lambda source, name, content: scrub_file(source, name, content, tombstones)
    ).items():
        scrubbed[f"archive/{landed}"] = rows
    for landing_file in landing_zone.every_file():
        source = landing_file.relative_path.split("/", 1)[0]
        content = landing_file.path.read_bytes()
        kept, removed = scrub_file(source, landing_file.path.name, content, tombstones)
        if removed:
            landing_zone.replace_file(landing_file, kept)
            scrubbed[f"landing/{landing_file.relative_path}"] = removed
    for day in exports.days():
        manifest = exports.read_manifest(day) or {}
        changed: dict[str, tuple[bytes, int | None]] = {}
        erased = dict(manifest.get("erased_after_export") or {})
        for path in exports.day_files(day):
            kept, removed = scrub_file("exports", path.name, path.read_bytes(), tombstones)
            if removed:
                written = ((manifest.get("files") or {}).get(path.name) or {}).get("rows")
                left = written - removed if isinstance(written, int) else None
                changed[path.name] = (kept, left)
                erased[path.name] = erased.get(path.name, 0) + removed
                scrubbed[f"exports/{day.isoformat()}/{path.name}"] = removed
        if changed:
            erasures = sorted({*manifest.get("erasures", []), erasure_id})
            exports.rewrite_day(
                day, changed, {**manifest, "erased_after_export": erased, "erasures": erasures}
            )
    for path in exports.other_files():
        kept, removed = scrub_file("exports", path.name, path.read_bytes(), tombstones)
        if removed:
            exports.replace_file(path, kept)
            scrubbed[f"exports/{path.relative_to(exports.path).as_posix()}"] = removed
    return scrubbed


def remaining(
    db: WarehouseSession,
    landing_zone: LandingZone,
    archive: LandingArchive,
    exports: ExportDirectory,
    subject: Subject,
    salt: str,
    extra_scan_roots: tuple[Path, ...] = (),
) -> list[str]:
    """Everything that still names the person: `table: n rows` and `file: ...` lines.

    Every table's every text column is searched for their addresses, customer ids and record
    keys, and the source tables for their tombstoned identifiers; every landing file, archived
    version and export file is read through the tombstones, and searched, with the other
    folders given, for their addresses as bytes.
    """
    found = []
    tombstones = read_tombstones(db)
    predicates = person_predicates(db, subject, salt, tombstones)
    values = [*subject.customer_ids, *subject.record_keys]
    for table, text_columns in _text_columns(db).items():
        clauses = list(predicates.get(table, []))
        if table in UNTOUCHED_TABLES:
            clauses = [
                (f'contains(lower("{column}"::varchar), ?)', [lowered])
                for column in text_columns
                for lowered in [*subject.emails, *(v.lower() for v in values)]
            ]
        elif values:
            clauses += [
                (f'"{column}" in (select unnest(?::varchar[]))', [values])
                for column in text_columns
            ]
        if clauses:
            where, parameters = _where(clauses)
            count = int(
                db.query(f"select count(*) as n from {table} where {where}", parameters)["n"][0]
            )
            if count:
                found.append(f"{table}: {count} row(s)")
    files: list[tuple[str, str, Path]] = [
        (f.relative_path.split("/", 1)[0], f"landing/{f.relative_path}", f.path)
        for f in landing_zone.every_file()
    ]
    files += [
        (source, f"archive object of {path}", obj) for source, path, obj in archive.every_object()
    ]
    files += [
        ("exports", f"exports/{day.isoformat()}/{path.name}", path)
        for day in exports.days()
        for path in exports.day_files(day)
    ]
    files += [
        ("exports", f"exports/{path.relative_to(exports.path).as_posix()}", path)
        for path in exports.other_files()
    ]
    for source, label, path in files:
        if scrub_file(source, path.name, path.read_bytes(), tombstones)[1]:
            found.append(f"{label}: holds their rows")
    addresses = [address.encode() for address in subject.emails]
    roots = [landing_zone.path, archive.path, exports.path, *extra_scan_roots]
    for root in roots:
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if path.is_file() and not path.is_symlink():
                content = path.read_bytes().lower()
                if any(address in content for address in addresses):
                    found.append(f"{path}: names their address")
    return sorted(set(found))
