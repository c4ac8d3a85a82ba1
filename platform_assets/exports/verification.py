"""Verdicts of the export checks: consent re-derived in SQL, and the audience size guard.

The consent check deliberately shares no code with `platform_assets.exports.consent`: it states
the same rules a second time, in SQL over the cleaned tables, so a bug in one is caught by the
other. Examples name customer ids, never email addresses.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import polars as pl

from platform_assets.checks import Verdict
from platform_assets.exports.build import FILE_COLUMNS, end_of_day
from platform_assets.exports.inputs import CONSENT, EMAIL_EVENTS, table_name
from platform_assets.exports.schemas import LAYER
from platform_assets.exports.settings import (
    BOUNCE_EVENTS,
    BOUNCE_RECOVERY_EVENTS,
    COMPLAINT_EVENTS,
    CONSENT_PURPOSE,
    EXCLUSION_REASONS,
    GRANTED,
    UNSUBSCRIBE_EVENTS,
)
from resources import WarehouseSession

EXAMPLES = 5

# Addresses that may receive marketing email at the end of the day, from first principles: a
# grant made by the end of the day later than every other statement, no complaint ever, no
# unsubscribe at or after that grant, and no bounce without a later delivery, open or click
# made by the end of the day. Written as aggregates per address: DuckDB 1.5 mis-evaluated the
# correlated `not exists` form of the same rules once it was inlined into a later CTE.
SENDABLE_ADDRESSES = f"""
    params as (
        select
            ?::timestamptz as day_end,
            ?::varchar as consent_purpose,
            ?::varchar as granted_status,
            ?::varchar[] as unsubscribe_events,
            ?::varchar[] as complaint_events,
            ?::varchar[] as bounce_events,
            ?::varchar[] as recovery_events
    ),
    statements as (
        select lower(trim(subject_email)) as email, status, recorded_at
        from {table_name(CONSENT)} cross join params
        where purpose = params.consent_purpose
            and (status <> params.granted_status or recorded_at < params.day_end)
    ),
    consent_by_address as (
        select
            email,
            max(recorded_at) filter (where status = (select granted_status from params))
                as granted_at,
            max(recorded_at) filter (where status <> (select granted_status from params))
                as refused_at
        from statements
        group by email
    ),
    events as (
        select lower(trim(email)) as email, event_type, occurred_at
        from {table_name(EMAIL_EVENTS)} cross join params
        where email is not null
            and list_contains(
                params.unsubscribe_events || params.complaint_events
                    || params.bounce_events || params.recovery_events,
                event_type
            )
    ),
    events_by_address as (
        select
            email,
            bool_or(list_contains(params.complaint_events, event_type)) as complained,
            max(occurred_at) filter (where list_contains(params.unsubscribe_events, event_type))
                as unsubscribed_at,
            max(occurred_at) filter (where list_contains(params.bounce_events, event_type))
                as bounced_at,
            max(occurred_at) filter (
                where list_contains(params.recovery_events, event_type)
                    and occurred_at < params.day_end
            ) as recovered_at
        from events cross join params
        group by email, params.complaint_events, params.unsubscribe_events,
            params.bounce_events, params.recovery_events, params.day_end
    ),
    sendable as (
        select consent_by_address.email
        from consent_by_address
        left join events_by_address using (email)
        where consent_by_address.granted_at is not null
            and (refused_at is null or refused_at < granted_at)
            and not coalesce(complained, false)
            and (unsubscribed_at is null or unsubscribed_at < granted_at)
            and (bounced_at is null or recovered_at > bounced_at)
    )
"""


def _sendable_parameters(day: date) -> list[Any]:
    return [
        end_of_day(day),
        CONSENT_PURPOSE,
        GRANTED,
        list(UNSUBSCRIBE_EVENTS),
        list(COMPLAINT_EVENTS),
        list(BOUNCE_EVENTS),
        list(BOUNCE_RECOVERY_EVENTS),
    ]


def table_violations(
    db: WarehouseSession, day: date, people: pl.DataFrame, memberships: pl.DataFrame
) -> dict[str, Any]:
    """Rows of one day's people and audience memberships that reach someone who may not be
    emailed: the frames as built, before they are written, or as read back from the tables.

    A membership whose person is missing from `people` counts too: its address cannot have
    been checked.
    """
    counts = db.query(
        f"""
        with {SENDABLE_ADDRESSES},
        people as (select unnest(?::varchar[]) as customer_id, unnest(?::varchar[]) as email),
        memberships as (select unnest(?::varchar[]) as customer_id),
        bad_people as (
            select customer_id from people
            where email is null or lower(trim(email)) not in (select email from sendable)
        ),
        bad_memberships as (
            select memberships.customer_id
            from memberships
            left join people using (customer_id)
            where people.customer_id is null
                or memberships.customer_id in (select customer_id from bad_people)
        )
        select
            (select count(*) from bad_people) as people_violations,
            (select count(*) from bad_memberships) as membership_violations,
            (select list(distinct customer_id order by customer_id)[1:{EXAMPLES}]
             from (select customer_id from bad_people union all
                   select customer_id from bad_memberships)) as examples
        """,
        [
            *_sendable_parameters(day),
            people["customer_id"].to_list(),
            people["email"].to_list(),
            memberships["customer_id"].to_list(),
        ],
    ).to_dicts()[0]
    counts["examples"] = counts["examples"] or []
    return counts


def file_violations(
    db: WarehouseSession, day: date, files: Mapping[str, pl.DataFrame]
) -> dict[str, int]:
    """Rows per file whose address may not be emailed (a missing address counts), counted for
    every file in one query."""
    file_names = [name for name, rows in files.items() for _ in range(rows.height)]
    emails = [
        email
        for rows in files.values()
        for email in (rows["email"] if "email" in rows.columns else [None] * rows.height)
    ]
    counts = db.query(
        f"""
        with {SENDABLE_ADDRESSES},
        exported as (
            select unnest(?::varchar[]) as file_name, unnest(?::varchar[]) as email
        )
        select file_name, count(*) as n from exported
        where email is null or lower(trim(email)) not in (select email from sendable)
        group by file_name
        """,
        [*_sendable_parameters(day), file_names, emails],
    )
    violations = dict.fromkeys(files, 0)
    violations.update({name: int(n) for name, n in counts.iter_rows()})
    return violations


def consent_verdict(tables: Mapping[str, Any], files: Mapping[str, int] | None = None) -> Verdict:
    """Zero rows reach someone who may not be emailed, in the tables and (when given) files."""
    file_total = sum((files or {}).values())
    total = tables["people_violations"] + tables["membership_violations"] + file_total
    metadata: dict[str, Any] = {
        "people_violations": tables["people_violations"],
        "membership_violations": tables["membership_violations"],
        "example_customer_ids": tables["examples"],
    }
    if files is not None:
        metadata["file_violations"] = dict(files)
    where = "tables and files" if files is not None else "tables"
    if total == 0:
        return Verdict(True, f"every exported person may be emailed ({where})", metadata)
    return Verdict(
        False,
        f"{total} exported row(s) reach people who may not be emailed ({where}): do not send;"
        " compare platform_assets/exports/consent.py with the SQL in verification.py and the"
        " consent of the example customer ids, then re-materialize the day",
        metadata,
    )


def manifest_problems(
    manifest: Mapping[str, Any] | None, checksums: Mapping[str, str], audiences: pl.DataFrame
) -> list[str]:
    """How the day's manifest, read back from disk, disagrees with exports.audiences and the
    files on disk: every audience's counts add up (members = exported + excluded by reason),
    match the table, and every file's checksum is the one the manifest recorded."""
    if manifest is None:
        return ["manifest.json is missing or unreadable"]
    problems = []
    snapshots = set(audiences["consent_snapshot_sha256"].to_list())
    if snapshots and manifest.get("consent_snapshot_sha256") not in snapshots:
        problems.append("the manifest's consent snapshot is not the one exports.audiences used")
    listed = manifest.get("audiences") or {}
    for row in audiences.iter_rows(named=True):
        audience = row["audience_id"]
        entry = listed.get(audience)
        if not isinstance(entry, dict):
            problems.append(f"{audience}: not in the manifest")
            continue
        excluded = {reason: row[f"excluded_{reason}"] for reason in EXCLUSION_REASONS}
        if (
            entry.get("size") != row["size"]
            or entry.get("segment_members") != row["segment_members"]
            or entry.get("excluded_by_reason") != excluded
        ):
            problems.append(f"{audience}: the manifest's counts differ from exports.audiences")
        if row["segment_members"] != row["size"] + sum(excluded.values()):
            problems.append(
                f"{audience}: {row['segment_members']} members, but {row['size']} exported and"
                f" {sum(excluded.values())} excluded"
            )
    recorded = manifest.get("files") or {}
    for name, sha256 in sorted(checksums.items()):
        if (recorded.get(name) or {}).get("sha256") != sha256:
            problems.append(f"{name}: its checksum is not the one in the manifest")
    problems += [
        f"{name}: in the manifest, not on disk" for name in sorted(set(recorded) - set(checksums))
    ]
    return problems


def with_manifest(verdict: Verdict, problems: list[str]) -> Verdict:
    """The consent verdict of the files, failed as well when the manifest does not reconcile."""
    metadata = {**verdict.metadata, "manifest_problems": problems[:20]}
    if not problems:
        return Verdict(verdict.passed, f"{verdict.description}; the manifest reconciles", metadata)
    return Verdict(
        False,
        f"the day's manifest does not reconcile ({len(problems)} problem(s), first:"
        f" {problems[0]}); the files were removed: re-materialize the day"
        + ("" if verdict.passed else f". Also: {verdict.description}"),
        metadata,
    )


def files_verdict(written: Mapping[str, pl.DataFrame], audiences: pl.DataFrame) -> Verdict:
    """The files read back from disk: one per audience of the day, the documented columns in
    order, and as many rows as the audience's size."""
    sizes = dict(audiences.select("audience_id", "size").iter_rows())
    problems = [
        f"{name}.csv: no audience of that name" for name in sorted(set(written) - set(sizes))
    ]
    problems += [f"{name}.csv: missing" for name in sorted(set(sizes) - set(written))]
    for name, rows in sorted(written.items()):
        if rows.columns != FILE_COLUMNS:
            problems.append(f"{name}.csv: columns {rows.columns} instead of {FILE_COLUMNS}")
        if name in sizes and rows.height != sizes[name]:
            problems.append(f"{name}.csv: {rows.height} rows for an audience of {sizes[name]}")
    metadata = {"files": len(written), "problems": problems[:10]}
    if problems:
        return Verdict(
            False,
            f"{len(problems)} file problem(s), first: {problems[0]}; re-materialize the day",
            metadata,
        )
    return Verdict(True, f"{len(written)} file(s) match the contract and the tables", metadata)


def size_changes(
    current: pl.DataFrame, previous: pl.DataFrame, *, max_ratio: float, min_people: int
) -> pl.DataFrame:
    """Per audience of the day: previous_size (its usual size), last_size, size, change_ratio
    and `breaches_guard`.

    `current`: audience_id, size; `previous`: audience_id, size and, optionally, last_size (its
    most recent export). An audience breaches the guard when it moved by more than `max_ratio`
    and `min_people` from its usual size and from its last export both: an audience that grows
    steadily (an engagement tier filling up over a platform's first weeks) moves little from one
    day to the next, and a day after a blocked one is judged against the usual size too. An
    audience new today has nothing to compare with and passes; one emptied today is in `current`
    with size 0 and is guarded like any other.
    """
    if "last_size" not in previous.columns:
        previous = previous.with_columns(last_size=pl.col("size"))
    return (
        current.select("audience_id", "size")
        .join(
            previous.select("audience_id", pl.col("size").alias("previous_size"), "last_size"),
            on="audience_id",
            how="left",
        )
        .with_columns(
            change_ratio=_change_ratio("previous_size"),
            breaches_guard=(
                _breaches("previous_size", max_ratio, min_people)
                & _breaches("last_size", max_ratio, min_people)
            ).fill_null(False),
        )
        .sort("audience_id")
    )


def _change_ratio(reference: str) -> pl.Expr:
    change = (pl.col("size") - pl.col(reference)).abs()
    return (
        pl.when(pl.col(reference) > 0)
        .then(change / pl.col(reference))
        .when(pl.col(reference) == 0)
        .then(pl.when(pl.col("size") == 0).then(0.0).otherwise(float("inf")))
        .otherwise(None)
    )


def _breaches(reference: str, max_ratio: float, min_people: int) -> pl.Expr:
    return (
        pl.col(reference).is_not_null()
        & (_change_ratio(reference) > max_ratio)
        & ((pl.col("size") - pl.col(reference)).abs() >= min_people)
    )


def size_verdict(
    current: pl.DataFrame, previous: pl.DataFrame, *, max_ratio: float, min_people: int
) -> Verdict:
    """The size guard over the day's audiences against their usual size (see size_changes)."""
    changes = size_changes(current, previous, max_ratio=max_ratio, min_people=min_people)
    breaches = changes.filter(pl.col("breaches_guard"))
    metadata = {
        "sizes": {r["audience_id"]: r["size"] for r in changes.iter_rows(named=True)},
        "previous_sizes": {
            r["audience_id"]: r["previous_size"] for r in changes.iter_rows(named=True)
        },
        "last_sizes": {r["audience_id"]: r["last_size"] for r in changes.iter_rows(named=True)},
        "max_change_ratio": max_ratio,
        "min_people": min_people,
    }
    if breaches.is_empty():
        return Verdict(
            True,
            f"no audience moved by more than {max_ratio:.0%} (and {min_people} people)"
            " against its usual size and its last export",
            metadata,
        )
    moves = ", ".join(
        f"{r['audience_id']} {r['previous_size']} (last {r['last_size']}) -> {r['size']}"
        for r in breaches.iter_rows(named=True)
    )
    return Verdict(
        False,
        f"audience size jumped by more than {max_ratio:.0%} against its usual size and its last"
        f" export: {moves}. The files were not written."
        " If the change is expected, materialize exports/audience_files for the day on its own;"
        " otherwise look at the segment and its upstream data",
        metadata,
    )


def previous_sizes(
    db: WarehouseSession, day: date, *, baseline_days: int, min_history: int
) -> pl.DataFrame:
    """Each audience's usual size (`size`: the median of its exports in the `baseline_days`
    before `day`) and `last_size` (the most recent of them), for audiences exported on at least
    `min_history` of them (others are unguarded)."""
    return db.query(
        f"""select audience_id, median(size) as size, arg_max(size, as_of_date) as last_size
        from {LAYER}.audiences
        where as_of_date < ?::date and as_of_date >= ?::date - ?::integer
        group by audience_id
        having count(*) >= ?""",
        [day, day, baseline_days, min_history],
    )
