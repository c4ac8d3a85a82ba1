"""`cdp`: the platform's command line (generate demo data, materialize days, summarize)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence, Set
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from platform_assets.settings import DEFAULT_START_DATE


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a YYYY-MM-DD date") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write seeded demo data to the landing zone")
    generate.add_argument("--people", type=int, default=3000)
    generate.add_argument("--days", type=int, default=14)
    generate.add_argument(
        "--start",
        type=_date,
        default=None,
        help=f"first day (default: CDP_START_DATE, else {DEFAULT_START_DATE})",
    )
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--bad-rate", type=float, default=0.01, help="share of defective rows")
    generate.add_argument("--landing-dir", type=Path, default=None, help="default: CDP_LANDING_DIR")
    generate.add_argument(
        "--truth-dir", type=Path, default=None, help="ground truth (default: data/ground_truth)"
    )
    generate.add_argument("--no-progress", action="store_true")

    run = commands.add_parser("run", help="materialize assets day by day, in process")
    run.add_argument("--start", type=_date, help="first day (default: first landed day)")
    run.add_argument("--end", type=_date, help="last day, inclusive (default: last landed day)")
    run.add_argument("--verbose", action="store_true", help="describe every failed check")
    run.add_argument(
        "--retrain", action="store_true", help="train the identity model again before the graph"
    )
    run.add_argument(
        "--select",
        default="*",
        help='Dagster asset selection, e.g. "group:raw", "key:cleaned/orders" (default: all)',
    )

    retract = commands.add_parser(
        "retract",
        help="remove one landed file's data on purpose, then rebuild its day",
        description="Records the retraction in the landing archive (the file's bytes stay"
        " archived), then runs the day through every layer so the file's rows leave raw and"
        " everything built from them. The only way rows leave the platform with their file:"
        " a file that merely vanishes keeps its rows.",
    )
    retract.add_argument("source")
    retract.add_argument("day", type=_date)
    retract.add_argument("file", help="file name, or its <source>/<day>/<name> path")
    retract.add_argument("--reason", required=True, help="why, kept with the retraction")

    commands.add_parser("summary", help="row counts of every table in the warehouse")

    audit = commands.add_parser(
        "audit",
        help="the audit trail (ops.audit_log), newest first",
        description="Every export file written (audience, day, rows, checksums, the run that"
        " wrote it). Never a person's identifiers.",
    )
    subject = commands.add_parser(
        "export-subject",
        help="everything held about one person, as one JSON document (a right-of-access request)",
        description="Finds the person through the identity graph (every record linked to their"
        " customer id, and every address those records carry) and writes every row of theirs,"
        " from raw to the exports, as JSON. Recorded in the audit log (counts only).",
    )
    who = subject.add_mutually_exclusive_group(required=True)
    who.add_argument("--email")
    who.add_argument("--customer-id")
    subject.add_argument("--output", type=Path, help="write here instead of standard output")
    erase = commands.add_parser(
        "erase",
        help="forget one person everywhere, with proof (a right-to-erasure request)",
        description="Finds the person through the identity graph; in one transaction records a"
        " tombstone of each identifier (salted hashes) and deletes their rows from every table;"
        " rewrites every landing file, archived file and export file holding them; notifies"
        " CDP_ERASURE_WEBHOOK_URL when set; then scans every table and file for them and exits"
        " 1 if anything remains. Safe to run again: it finishes an interrupted erasure.",
    )
    whom = erase.add_mutually_exclusive_group(required=True)
    whom.add_argument("--email")
    whom.add_argument("--customer-id")
    commands.add_parser(
        "encrypt",
        help="encrypt a plain warehouse file with CDP_DUCKDB_ENCRYPTION_KEY, in place",
        description="Copies the plain warehouse into an encrypted DuckDB file (AES-GCM) with the"
        " key in CDP_DUCKDB_ENCRYPTION_KEY and renames it over the plain one. From then on every"
        " command needs the key.",
    )
    identity = commands.add_parser(
        "identity", help="the identity graph: preview what new settings or a retrain would change"
    )
    identity_commands = identity.add_subparsers(dest="identity_command", required=True)
    preview = identity_commands.add_parser(
        "preview",
        help="what re-resolving every record would change, without writing the graph",
        description="Trains a model with the current identity settings on the current records"
        " (or takes the latest trained one with --model latest), re-resolves every record with"
        " it in a transaction that is rolled back, and reports what would change: merges,"
        " splits, customers whose id would move, and people entering or leaving each audience."
        " Nothing is written.",
    )
    preview.add_argument("--model", choices=("retrain", "latest"), default="retrain")
    preview.add_argument("--json", action="store_true", help="print the report as JSON")
    serve = commands.add_parser(
        "serve",
        help="the HTTP API: events posted over HTTP land in the landing zone",
        description="Serves POST /v1/events/{web_events,email_events,consent}, GET"
        " /v1/profiles/{customer_id}, GET /v1/profiles?email= and GET /v1/health"
        " (docs/api.md). Every request but the health check needs"
        " `Authorization: Bearer $CDP_INGEST_TOKEN`; without the variable the server does not"
        " start. Binds 127.0.0.1 unless told otherwise.",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8321)
    audit.add_argument("--action", help="only this action, e.g. export_written")
    audit.add_argument("--limit", type=int, default=50)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    arguments = _parser().parse_args(argv)
    if not os.environ.get("CDP_PII_SALT"):
        # Every hash in the marts and exports depends on it; a default would be a secret in code.
        print(
            "CDP_PII_SALT is not set: set a long random secret (and keep it: every hashed id"
            " changes with it). `make demo` sets a demo salt that is not for real data."
        )
        return 2
    if arguments.command == "generate":
        return _generate(arguments)
    if arguments.command == "run":
        return _run(arguments)
    if arguments.command == "retract":
        return _retract(arguments)
    if arguments.command == "audit":
        return _audit(arguments)
    if arguments.command == "export-subject":
        return _export_subject(arguments)
    if arguments.command == "erase":
        return _erase(arguments)
    if arguments.command == "encrypt":
        return _encrypt()
    if arguments.command == "serve":
        return _serve(arguments)
    if arguments.command == "identity":
        return _identity_preview(arguments)
    return _summary()


def _serve(arguments: argparse.Namespace) -> int:
    import uvicorn

    from platform_assets.ingest.api import DEFAULT_MAX_BODY_BYTES, create_app
    from platform_assets.partitions import start_date
    from resources import ExportDirectory, LandingZone
    from resources.landing_zone import LandingRootUnusable
    from resources.profile_snapshot import ProfileStore, snapshot_path

    token = os.environ.get("CDP_INGEST_TOKEN", "")
    if len(token) < 16:
        print(
            "CDP_INGEST_TOKEN is not set (or shorter than 16 characters): set a long random"
            " token; every request must send it as `Authorization: Bearer <token>`.",
            file=sys.stderr,
        )
        return 2
    limit = os.environ.get("CDP_INGEST_MAX_BYTES")
    if limit is not None and not limit.isdigit():
        print(f"CDP_INGEST_MAX_BYTES {limit!r} is not a number of bytes", file=sys.stderr)
        return 2
    landing_zone = LandingZone()
    try:
        landing_zone.require_root()
    except LandingRootUnusable as error:
        if not landing_zone.path.is_dir():
            print(str(error), file=sys.stderr)
            return 2
        # An empty zone is fine here: the API is what fills it.
    app = create_app(
        landing_zone,
        token,
        max_body_bytes=int(limit) if limit else DEFAULT_MAX_BODY_BYTES,
        first_day=start_date(),
        profiles=ProfileStore(snapshot_path(ExportDirectory().path)),
    )
    print(f"cdp serve: http://{arguments.host}:{arguments.port} -> {landing_zone.path}")
    uvicorn.run(app, host=arguments.host, port=arguments.port, log_level="warning")
    return 0


def _identity_preview(arguments: argparse.Namespace) -> int:
    import json
    from datetime import UTC, datetime

    from platform_assets.identity import model, resolve
    from platform_assets.identity.assets import latest_model
    from resources import Warehouse, WarehouseSession

    warehouse = Warehouse()
    if not warehouse.path.exists():
        print(f"no warehouse at {warehouse.path}: run `cdp run` first", file=sys.stderr)
        return 1
    with _one_run_at_a_time(warehouse.path), warehouse.connection() as connection:
        if resolve.latest_partition(connection) is None:
            print("the identity graph has not been built yet: run `cdp run` first")
            return 1
        if arguments.model == "latest":
            version, model_json, _, _ = latest_model(WarehouseSession(connection))
        else:
            trained = model.train_model(resolve.training_profiles(connection))
            version, model_json = trained.version, trained.settings_json
        found = resolve.preview(connection, model_json, version, datetime.now(UTC))
    changes = found.changes
    report = {
        "partition": found.partition.isoformat(),
        "model_version": version,
        "customers_before": changes.customers_before,
        "customers_after": changes.customers_after,
        "customers_keeping_their_id": changes.kept_id,
        "kept_share": round(changes.kept_share, 4),
        "customers_whose_id_moves": changes.customers_before - changes.kept_id,
        "merges": changes.merges,
        "splits": changes.splits,
        "records_moved": changes.records_moved,
        "audiences": found.audiences.to_dicts(),
    }
    if arguments.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"identity preview as of {report['partition']} with model {version} (nothing written)\n"
        f"  customers: {changes.customers_before} now, {changes.customers_after} after\n"
        f"  keeping their id: {changes.kept_id} ({changes.kept_share:.2%});"
        f" id moves: {report['customers_whose_id_moves']}\n"
        f"  merges: {changes.merges}, splits: {changes.splits},"
        f" records moving: {changes.records_moved}"
    )
    if found.audiences.height:
        print(
            "  audiences (estimated from the id mapping; the segment rules run on the next build):"
        )
        for row in found.audiences.iter_rows(named=True):
            print(
                f"    {row['segment']}: {row['members']} members,"
                f" {row['would_leave']} would leave, {row['would_enter']} would enter"
            )
    return 0


def _export_subject(arguments: argparse.Namespace) -> int:
    import json

    from platform_assets.privacy.subject import find_subject, subject_export
    from resources import Warehouse
    from resources.audit import AuditEntry, record_audit

    with Warehouse().session() as db:
        subject = find_subject(db, email=arguments.email, customer_id=arguments.customer_id)
        document = subject_export(db, subject)
        if not document["tables"]:
            print("no such person: nothing is held about them", file=sys.stderr)
            return 1
        counts = {table: len(rows) for table, rows in document["tables"].items()}
        record_audit(
            db,
            [
                AuditEntry(
                    action="subject_exported",
                    subject=",".join(subject.customer_ids) or "(no customer id)",
                    row_count=sum(counts.values()),
                    details={"rows_per_table": counts},
                )
            ],
        )
    text = json.dumps(document, indent=2, sort_keys=True, default=str)
    if arguments.output:
        arguments.output.write_text(text)
        print(
            f"{sum(counts.values())} rows from {len(counts)} tables written to {arguments.output}"
        )
    else:
        print(text)
    return 0


def _erase(arguments: argparse.Namespace) -> int:
    from platform_assets.privacy.erasure import erase, remaining
    from resources import ArtifactStore, ExportDirectory, LandingArchive, LandingZone, Warehouse

    warehouse = Warehouse()
    # Dagster's own storage is searched too: a log line naming the person would outlive them.
    scanned = tuple(
        Path(os.environ[name])
        for name in ("DAGSTER_HOME", "CDP_ARTIFACT_DIR")
        if os.environ.get(name)
    )
    salt = os.environ["CDP_PII_SALT"]
    places = (LandingZone(), LandingArchive().beside(warehouse.path), ExportDirectory())
    with _one_run_at_a_time(warehouse.path):
        with warehouse.session() as db:
            report = erase(
                db,
                *places,
                salt=salt,
                email=arguments.email,
                customer_id=arguments.customer_id,
                artifacts=ArtifactStore(),
            )
        if report.subject is None:
            print(f"no such customer id: {arguments.customer_id}", file=sys.stderr)
            return 1
        # Deleted rows stay in the file's freed blocks until compacted away.
        warehouse.compact()
        with warehouse.session() as db:
            report.remaining = remaining(
                db, *places, report.subject, salt, (warehouse.path, *scanned)
            )
            notification = _notify_erasure(report, arguments.email)
            _audit_erasure(db, report, notification)
    print(
        f"erasure {report.erasure_id}{' (run again)' if report.earlier else ''}:"
        f" {sum(report.rows_deleted.values())} row(s) deleted from {len(report.rows_deleted)}"
        f" table(s), {sum(report.rows_scrubbed.values())} row(s) removed from"
        f" {len(report.rows_scrubbed)} file(s), {len(report.artifacts_removed)} identity"
        f" dashboard(s) showing them removed; email platform notified: {notification}"
    )
    for line in report.remaining:
        print(f"  still holds the person: {line}", file=sys.stderr)
    if report.remaining:
        print("the erasure is not complete: run it again, or remove what is named", file=sys.stderr)
        return 1
    if notification.startswith("failed"):
        print("the email platform was not notified: run the erasure again", file=sys.stderr)
        return 1
    print("verified: no table or file holds the person's identifiers or hashes")
    return 0


def _encrypt() -> int:
    import duckdb

    from resources import Warehouse
    from resources.warehouse import WarehouseKeyError

    warehouse = Warehouse()
    if not warehouse.path.is_file():
        print(f"no warehouse at {warehouse.path} (CDP_DUCKDB_PATH)", file=sys.stderr)
        return 2
    try:
        with _one_run_at_a_time(warehouse.path):
            warehouse.encrypt()
    except WarehouseKeyError as error:
        print(error, file=sys.stderr)
        return 2
    except duckdb.Error as error:
        print(f"{warehouse.path} is not a plain DuckDB file (already encrypted?): {error}")
        return 2
    print(
        f"{warehouse.path} is encrypted: keep CDP_DUCKDB_ENCRYPTION_KEY, nothing opens it without"
    )
    return 0


def _notify_erasure(report: Any, email: str | None) -> str:
    """Ask the email platform to forget the person too (CDP_ERASURE_WEBHOOK_URL)."""
    from resources.alerts import post_with_retries

    url = os.environ.get("CDP_ERASURE_WEBHOOK_URL")
    if not url:
        return "not configured"
    body = {
        "event": "erasure",
        "erasure_id": report.erasure_id,
        "emails": sorted({*report.subject.emails, *([email.strip().lower()] if email else [])}),
        "customer_ids": report.customer_ids,
    }
    return post_with_retries(url, body, "erasure")


def _audit_erasure(db: Any, report: Any, notification: str) -> None:
    from resources.audit import AuditEntry, record_audit

    deleted, scrubbed = report.rows_deleted, report.rows_scrubbed
    record_audit(
        db,
        [
            AuditEntry(
                action="erasure",
                subject=report.erasure_id,
                row_count=sum(deleted.values()) + sum(scrubbed.values()),
                details={
                    "rows_per_table": deleted,
                    "rows_per_file": scrubbed,
                    "run_again": report.earlier,
                    "complete": report.complete,
                    "remaining": len(report.remaining),
                    "notification": notification,
                },
            )
        ],
    )


def _audit(arguments: argparse.Namespace) -> int:
    from resources import Warehouse
    from resources.audit import read_audit

    entries = read_audit(Warehouse(), action=arguments.action, limit=arguments.limit)
    if entries.is_empty():
        print("the audit log is empty")
        return 0
    for row in entries.iter_rows(named=True):
        checksum = (row["checksum"] or "")[:12]
        print(
            f"{row['recorded_at']:%Y-%m-%d %H:%M:%S}  {row['action']:<15} {row['subject']:<24}"
            f" day {row['partition_key'] or '-'}  rows {row['row_count']}  sha256 {checksum}"
            f"  manifest {(row['manifest_sha256'] or '')[:12]}  run {row['run_id'] or '-'}"
        )
    return 0


def _retract(arguments: argparse.Namespace) -> int:
    from platform_assets.contract import SOURCES
    from resources import LandingArchive, Warehouse

    if arguments.source not in SOURCES:
        print(f"unknown source {arguments.source!r}; one of {', '.join(SOURCES)}")
        return 2
    day = arguments.day.isoformat()
    name = arguments.file.rsplit("/", 1)[-1]
    archive = LandingArchive().beside(Warehouse().path)
    try:
        retracted = archive.retract(
            arguments.source, day, f"{arguments.source}/{day}/{name}", arguments.reason
        )
    except KeyError as error:
        print(error.args[0])
        return 2
    print(
        f"retracted {retracted.relative_path} (sha256 {retracted.sha256[:12]}, reason:"
        f" {arguments.reason}); recorded in {archive.path}; rebuilding {day}"
    )
    run = argparse.Namespace(
        start=arguments.day, end=arguments.day, verbose=False, retrain=False, select="*"
    )
    return _run(run)


def _generate(arguments: argparse.Namespace) -> int:
    from platform_assets.generator import GeneratorConfig, generate
    from platform_assets.partitions import start_date
    from resources import LandingZone

    config = GeneratorConfig(
        landing_dir=arguments.landing_dir or LandingZone().path,
        truth_dir=arguments.truth_dir or Path("data/ground_truth").resolve(),
        people=arguments.people,
        days=arguments.days,
        start_date=arguments.start or start_date(),
        seed=arguments.seed,
        bad_rate=arguments.bad_rate,
        progress=not arguments.no_progress,
    )
    summary = generate(config)
    print(
        f"generated {summary.people} people over {config.days} days from {config.start_date}:"
        f" {summary.files} files in {config.landing_dir} ({summary.seconds:.1f} s)"
    )
    for source, rows in sorted(summary.rows_by_source.items()):
        print(f"  {source:<16} {rows:>10,} rows")
    return 0


def _landed_days() -> list[date]:
    from platform_assets.contract import SOURCES
    from platform_assets.partitions import partition_range
    from resources import LandingZone

    first, last = partition_range()
    zone = LandingZone()
    return sorted({day for source in SOURCES for day in zone.dates_in_range(source, first, last)})


@contextlib.contextmanager
def _one_run_at_a_time(warehouse_path: Path) -> Any:
    """Queue behind another `cdp run` on the same warehouse instead of failing on its lock."""
    import fcntl

    lock_path = warehouse_path.with_name(warehouse_path.name + ".cdp-run.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            print(f"waiting for the cdp run already working on {warehouse_path} ({holder})")
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(arguments: argparse.Namespace) -> int:
    from platform_assets.loading import collector_paused

    # Dagster and the rest load here. Not frozen: the definitions freeze what is loaded by then
    # when they load (once a process), and a process that runs `main` again (a test's) keeps
    # collecting what its earlier runs left.
    with collector_paused(freeze=False):
        from resources import Warehouse
        from resources.configuration import problems

    # Every setting is checked before anything runs; a wrong one is named, not discovered
    # halfway through a day.
    found = problems()
    if found:
        print("cannot run: " + "; ".join(found))
        return 2
    with _one_run_at_a_time(Warehouse().path):
        return _run_locked(arguments)


def _run_locked(arguments: argparse.Namespace) -> int:
    import warnings

    import dagster as dg

    # Dagster's own selection parser uses a beta parameter internally; not the user's concern.
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    # dbt runs one partition per run by design; Dagster warns when a selection mixes it with
    # assets that have no backfill policy.
    warnings.filterwarnings("ignore", message="Asset job .* varying BackfillPolicies")

    from platform_assets.definitions import defs

    landed = _landed_days()
    start = arguments.start or (landed[0] if landed else None)
    end = arguments.end or (landed[-1] if landed else None)
    if start is None or end is None:
        print("nothing to run: no landed files in the partition range; pass --start and --end")
        return 1
    if end < start:
        print(f"--end {end} is before --start {start}")
        return 2
    # The landing files and the email platform are ends of the lineage, never built.
    selection = dg.AssetSelection.from_string(arguments.select).materializable()
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    if instance is not None:
        _release_crashed_runs(instance)

    # dagster-dbt echoes dbt's own log to stdout, where a Dagster run captures it; in process
    # it goes to this file instead, and the terminal keeps one line per day.
    from resources import Warehouse

    log_path = Warehouse().path.parent / "logs" / "cdp-run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")

    from platform_assets import alerts
    from platform_assets.jobs import runs_of_the_code_location
    from resources import AlertSink

    alert_sink = AlertSink()

    def materialize(keys: set[dg.AssetKey], day: date | None = None) -> Any:
        result = _materialize(keys, day)
        # The alerts the daemon's sensors would raise for this run, raised here.
        raised = alerts.from_run(
            result.run_id,
            day.isoformat() if day else None,
            keys,
            succeeded=result.success,
            errors=alerts.step_errors(result.all_events),
            checks=result.get_asset_check_evaluations(),
        )
        announced = alert_sink.record(Warehouse(), raised)
        # Errors and resolutions one per line; warnings (volume, vanished files) as a count.
        for body in announced:
            if body["severity"] != "warning":
                print(f"    alert {body['text']}"[:300], flush=True)
        warnings = sum(body["severity"] == "warning" for body in announced)
        if warnings:
            print(f"    alert {warnings} warning(s) raised, listed in ops.alerts", flush=True)
        return result

    def _materialize(keys: set[dg.AssetKey], day: date | None = None) -> Any:
        # Through the named jobs, so the runs read as "daily_graph" or "ingest" in the UI.
        job = defs.resolve_job_def(_job_for(keys))
        with (
            log_path.open("a") as log,
            contextlib.redirect_stdout(log),
            runs_of_the_code_location(instance) if instance else contextlib.nullcontext(),
        ):
            return job.execute_in_process(
                partition_key=day.isoformat() if day else None,
                asset_selection=sorted(keys, key=lambda key: key.to_user_string()),
                instance=instance,
                raise_on_error=False,
                tags={"cdp/command": "run"},
                # One line per day here; the full event log is in the Dagster UI.
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )

    days = [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
    graph = defs.resolve_asset_graph()
    selected = selection.resolve(graph)
    unpartitioned = {key for key in selected if not graph.get(key).is_partitioned}
    partitioned = selected - unpartitioned
    failed_days: list[date] = []
    from platform_assets.identity.assets import KEYS, MODEL_KEY

    identity_keys = set(KEYS.values())
    if MODEL_KEY in unpartitioned and (arguments.retrain or not _model_exists()):
        # The model is trained on every landed day: land them all first, train once, then
        # build the layers that use it, day by day again.
        ingest = {k for k in partitioned if k.path[0] in ("raw", "cleaned")}
        if ingest:
            failed_days += _run_days(materialize, ingest, days, arguments.verbose)
        failed_days += _run_once(materialize, unpartitioned, arguments.retrain, days[-1])
        partitioned -= ingest
    elif unpartitioned - {MODEL_KEY}:
        failed_days += _run_once(materialize, unpartitioned, arguments.retrain, days[-1])
    elif MODEL_KEY in unpartitioned:
        print("identity model: already trained (pass --retrain to train it again)")
    if partitioned:
        # Read before the run: re-running an old day rewinds identity's record of later days.
        stale = _stale_identity_days(end) if identity_keys & partitioned else []
        # One run per day through every selected layer: a day costs one Dagster run.
        failed_days += _run_days(materialize, partitioned, days, arguments.verbose)
        if stale:
            # Identity of a day builds on the day before, so re-running an old day rewinds it;
            # the later days it had built are re-run so the warehouse ends where it was.
            print(
                f"identity was built up to {stale[-1]}: re-running identity and the layers below"
                f" it for {stale[0]} to {stale[-1]}"
            )
            below = {k for k in partitioned if k.path[0] not in ("raw", "cleaned")}
            failed_days += _run_days(materialize, below, stale, arguments.verbose)
    print(f"dbt's output: {log_path}")
    if failed_days:
        unique = sorted(set(failed_days))
        print(f"{len(unique)} day(s) failed: {', '.join(map(str, unique))}")
        return 1
    return 0


def _release_crashed_runs(instance: Any) -> None:
    """Mark failed the earlier `cdp run` runs still recorded as running, and free their slots
    in the writer pool. Only one `cdp run` works on a warehouse at a time (the lock), so such
    a run's process died (killed, out of memory): its pool slot would otherwise be held for
    good, and every later run would wait for it."""
    import dagster as dg

    stale = instance.get_runs(
        dg.RunsFilter(
            statuses=[
                dg.DagsterRunStatus.STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.NOT_STARTED,
            ],
            tags={"cdp/command": "run"},
        )
    )
    for run in stale:
        instance.report_run_failed(run, "the cdp run process that ran it is gone")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        print(f"run {run.run_id[:8]} of an earlier cdp run had crashed: marked failed")


def _job_for(keys: Set[Any]) -> str:
    """The named job a selection runs under (platform_assets/jobs.py)."""
    from platform_assets.jobs import MODEL

    if set(keys) == {MODEL}:
        return "train_identity_model"
    if all(key.path[0] in ("raw", "cleaned") for key in keys):
        return "ingest"
    return "daily_graph"


def _stale_identity_days(end: date) -> list[date]:
    """The days after `end` that identity had already built (identity.runs): a re-run of
    `end` or earlier rewinds the graph, so they no longer hold."""
    from resources import Warehouse

    warehouse = Warehouse()
    if not warehouse.path.exists():
        return []
    with warehouse.session(read_only=True) as db:
        if not db.table_exists("identity.runs"):
            return []
        built = db.query(
            "select distinct partition_date as day from identity.runs where partition_date > ?"
            " order by 1",
            [end],
        )
    return built["day"].to_list()


def _run_once(
    materialize: Callable[..., Any], keys: Set[Any], retrain: bool, last_day: date
) -> list[date]:
    from platform_assets.identity.assets import MODEL_KEY

    if MODEL_KEY in keys and not retrain and _model_exists():
        keys = keys - {MODEL_KEY}
        print("identity model: already trained (pass --retrain to train it again)")
    if not keys:
        return []
    began = time.monotonic()
    result = materialize(keys)
    names = ", ".join(sorted(k.to_user_string() for k in keys))
    status = "ok" if result.success else "FAILED"
    print(f"[once] {names}: {status} in {time.monotonic() - began:.1f} s", flush=True)
    _print_step_failures(result)
    return [] if result.success else [last_day]


def _model_exists() -> bool:
    from resources import Warehouse

    warehouse = Warehouse()
    if not warehouse.path.exists():
        return False
    with warehouse.session(read_only=True) as db:
        return db.table_exists("identity.splink_models") and bool(
            db.query("select count(*) as n from identity.splink_models")["n"][0]
        )


def _print_step_failures(result: Any) -> None:
    if result.success:
        return
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            print(f"    step {event.step_key}: {event.step_failure_data.error.message}")


def _run_days(
    materialize: Callable[..., Any], keys: Set[Any], days: list[date], verbose: bool
) -> list[date]:
    failed_days = []
    layers = "+".join(sorted({k.path[0] for k in keys}, key=_layer_order))
    for index, day in enumerate(days, start=1):
        began = time.monotonic()
        result = materialize(keys, day)
        materialized = len(result.get_asset_materialization_events())
        failed_checks = [
            evaluation
            for evaluation in result.get_asset_check_evaluations()
            if not evaluation.passed
        ]
        errors = [e for e in failed_checks if e.severity.value == "ERROR"]
        status = "ok" if result.success and not errors else "FAILED"
        print(
            f"[{index}/{len(days)}] {day} {layers}: {status}, {materialized} assets"
            f" materialized, {len(failed_checks)} check(s) failed ({len(errors)} error)"
            f" in {time.monotonic() - began:.1f} s",
            flush=True,
        )
        for evaluation in failed_checks:
            if evaluation in errors or verbose:
                print(
                    f"    {evaluation.severity.value.lower():<5}"
                    f" {evaluation.asset_key.to_user_string()} {evaluation.check_name}:"
                    f" {evaluation.description}"
                )
        warned = [e for e in failed_checks if e not in errors]
        if warned and not verbose:
            by_check: dict[str, list[str]] = {}
            for evaluation in warned:
                by_check.setdefault(evaluation.check_name, []).append(
                    evaluation.asset_key.to_user_string()
                )
            print(
                "    warn  "
                + "; ".join(f"{name}: {', '.join(keys)}" for name, keys in by_check.items())
                + " (--verbose for details)"
            )
        _print_step_failures(result)
        if status != "ok":
            failed_days.append(day)
    return failed_days


def _layer_order(layer: str) -> int:
    from resources.configuration import LAYERS

    return LAYERS.index(layer) if layer in LAYERS else len(LAYERS)


def _summary() -> int:
    from platform_assets.contract import SOURCES
    from resources import Warehouse

    warehouse = Warehouse()
    if not warehouse.path.exists():
        print(f"no warehouse at {warehouse.path}: run `cdp run` first")
        return 1
    tables = set(
        warehouse.query("select schema_name || '.' || table_name as t from duckdb_tables()")["t"]
    )

    def count(table: str, where: str = "") -> int:
        if table not in tables:
            return 0
        return int(warehouse.query(f"select count(*) as n from {table} {where}")["n"][0])

    print(f"warehouse {warehouse.path}")
    header = (
        "source",
        "files",
        "rejected",
        "raw rows",
        "bad lines",
        "cleaned",
        "quarantined",
        "superseded",
        "nulled values",
    )
    print("  " + "".join(f"{h:>14}" if i else f"{h:<16}" for i, h in enumerate(header)))
    for source in SOURCES:
        where = f"where source = '{source}'"
        row = (
            count("raw.landed_files", where),
            count("raw.landed_files", where + " and status = 'rejected'"),
            count(f"raw.{source}"),
            count("raw.rejected_lines", where),
            count(f"cleaned.{source}"),
            count(f"cleaned.{source}_quarantine"),
            count(f"cleaned.{source}_superseded"),
            count(f"cleaned.{source}_value_quarantine"),
        )
        print(f"  {source:<16}" + "".join(f"{value:>14,}" for value in row))
    rules = [
        f"select '{source}' as source, unnest(string_split(failed_rules, '; ')) as rule"
        f" from cleaned.{source}_quarantine"
        for source in SOURCES
        if f"cleaned.{source}_quarantine" in tables
    ]
    if rules:
        top = warehouse.query(
            f"select source, rule, count(*) as n from ({' union all '.join(rules)})"
            " group by all order by n desc limit 10"
        )
        if top.height:
            print("  most frequent quarantine reasons:")
            for item in top.to_dicts():
                print(f"    {item['n']:>8,}  {item['source']}: {item['rule']}")
    if "identity.golden_customers" in tables:
        print(
            f"  identity: {count('identity.person_records', 'where valid_to is null'):,}"
            f" person records, {count('identity.golden_customers'):,} customers"
        )
    if "exports.audiences" in tables:
        audiences = warehouse.query(
            "select as_of_date, audience_id, segment_members, size from exports.audiences"
            " where as_of_date = (select max(as_of_date) from exports.audiences)"
            " order by audience_id"
        )
        if audiences.height:
            day = audiences["as_of_date"][0]
            print(f"  audiences exported for {day} (segment members -> consenting people):")
            for item in audiences.to_dicts():
                print(
                    f"    {item['audience_id']:<24}{item['segment_members']:>8,}"
                    f" -> {item['size']:>6,}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
