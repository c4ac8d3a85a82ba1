"""Every setting the platform reads from the environment, documented once, checked at start.

The README's settings table and `.env.example` list exactly these (a test holds them to it).
Values are read when a run starts, never when the definitions load, except CDP_START_DATE and
CDP_SENSOR_INTERVAL_SECONDS: the partition set and the sensors are part of the definitions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    description: str
    secret: bool = False


SETTINGS = [
    Setting(
        "CDP_LANDING_DIR", "data/landing", "Landing zone root: `<source>/<YYYY-MM-DD>/<file>`."
    ),
    Setting(
        "CDP_DUCKDB_PATH",
        "data/warehouse.duckdb",
        "The warehouse file, shared by Dagster and dbt; any name but a layer's.",
    ),
    Setting(
        "CDP_ARCHIVE_DIR",
        "`archive/` beside the warehouse",
        "Every landed file, kept content-addressed; `cdp retract` records retractions here.",
    ),
    Setting("CDP_EXPORT_DIR", "data/exports", "Audience files, one folder per day."),
    Setting("CDP_ARTIFACT_DIR", "data/artifacts", "Splink model charts and other artifacts."),
    Setting(
        "CDP_GROUND_TRUTH_DIR",
        "data/ground_truth",
        "Generated demo data's true identities, for the accuracy check (optional).",
    ),
    Setting("CDP_START_DATE", "2026-11-01", "First daily partition (read when definitions load)."),
    Setting(
        "CDP_END_DATE",
        "(unset: today)",
        "Last daily partition, for a demo or a replay that ends before today (read when"
        " definitions load).",
    ),
    Setting(
        "CDP_SENSOR_INTERVAL_SECONDS",
        "30",
        "How often the landing and automation sensors look (read when definitions load).",
    ),
    Setting(
        "CDP_LANDING_SETTLE_SECONDS",
        "10",
        "A landing file is read once unchanged this long (still being written before).",
    ),
    Setting(
        "CDP_REALTIME_INTERVAL_SECONDS",
        "5",
        "How often the real-time sensor looks for today's posted events (read when definitions"
        " load).",
    ),
    Setting(
        "CDP_INGEST_TOKEN",
        "(required by `cdp serve`; at least 16 characters)",
        "Bearer token every `cdp serve` request must carry.",
        secret=True,
    ),
    Setting(
        "CDP_INGEST_MAX_BYTES",
        "5000000",
        "Largest request body `cdp serve` accepts (413 above it).",
    ),
    Setting(
        "CDP_ALERT_WEBHOOK_URL",
        "(unset: alerts go to ops.alerts only)",
        "Incoming webhook (Slack, Teams or any JSON endpoint) that receives every alert.",
        secret=True,
    ),
    Setting(
        "CDP_ERASURE_WEBHOOK_URL",
        "(unset: no notification)",
        "The email platform's endpoint that `cdp erase` asks to delete an erased person.",
        secret=True,
    ),
    Setting(
        "CDP_TRIGGER_WEBHOOK_URL",
        "(unset: a JSONL file per day under the export directory)",
        "The email platform's endpoint that receives the triggered sends as JSON.",
        secret=True,
    ),
    Setting(
        "CDP_HOLDOUT_SHARE",
        "(the `holdout_share` of triggers.yml: 0.10)",
        "Share of each trigger's entrants held out (recorded, not sent) to measure lift.",
    ),
    Setting(
        "CDP_DUCKDB_ENCRYPTION_KEY",
        "(unset: a plain file)",
        "Encrypts the warehouse file (DuckDB's AES-GCM) for every layer, dbt included; needed"
        " to open it again.",
        secret=True,
    ),
    Setting(
        "CDP_PII_SALT",
        "(required; `make demo` sets a demo salt)",
        "Salt of the hashed identifiers in the marts and exports: a long random secret, kept"
        " stable.",
        secret=True,
    ),
    Setting("DAGSTER_HOME", "dagster_home", "Dagster instance folder (its dagster.yaml)."),
]

# A warehouse file named like a schema makes DuckDB read `identity.golden_customers` as the
# catalog `identity`: every layer name is refused as a file name.
# The layers, top to bottom: each is a DuckDB schema (and the CLI's reporting order).
LAYERS = (
    "raw",
    "cleaned",
    "identity",
    "staging",
    "intermediate",
    "star",
    "segments",
    "exports",
)
RESERVED_WAREHOUSE_NAMES = {*LAYERS, "ops", "main", "system", "temp"}


def warehouse_name_problem(path: Path) -> str | None:
    if path.stem.lower() in RESERVED_WAREHOUSE_NAMES:
        return (
            f"CDP_DUCKDB_PATH={path}: a warehouse file may not be named like a schema"
            f" ({path.stem!r}); rename it, e.g. {path.with_name('cdp-' + path.name)}"
        )
    return None


def sensor_interval_seconds() -> int:
    """The landing and automation sensors' minimum interval; a bad value is `problems()`'s."""
    try:
        return max(1, int(os.environ.get("CDP_SENSOR_INTERVAL_SECONDS") or 30))
    except ValueError:
        return 30


def realtime_interval_seconds() -> int:
    """The real-time sensor's minimum interval (CDP_REALTIME_INTERVAL_SECONDS, default 5)."""
    try:
        return max(1, int(os.environ.get("CDP_REALTIME_INTERVAL_SECONDS") or 5))
    except ValueError:
        return 5


def problems() -> list[str]:
    """What is wrong with the settings as the environment has them now, one line each."""
    from resources.archive import LandingArchive
    from resources.export_dir import ExportDirectory
    from resources.landing_zone import LandingZone
    from resources.warehouse import resolve_duckdb_path

    found = []
    landing = LandingZone().path
    if not landing.is_dir():
        found.append(f"CDP_LANDING_DIR={landing}: no such folder")
    warehouse = resolve_duckdb_path()
    if problem := warehouse_name_problem(warehouse):
        found.append(problem)
    for variable, folder in (
        ("CDP_DUCKDB_PATH", warehouse.parent),
        ("CDP_EXPORT_DIR", ExportDirectory().path),
        ("CDP_ARCHIVE_DIR", LandingArchive().path),
    ):
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK):
            found.append(f"{variable}: {folder} cannot be written")
    if start := os.environ.get("CDP_START_DATE"):
        try:
            date.fromisoformat(start)
        except ValueError:
            found.append(f"CDP_START_DATE={start!r} is not a YYYY-MM-DD date")
    for name in ("CDP_SENSOR_INTERVAL_SECONDS", "CDP_REALTIME_INTERVAL_SECONDS"):
        interval = os.environ.get(name)
        if interval and (not interval.isdigit() or int(interval) < 1):
            found.append(f"{name}={interval!r} is not a whole number of seconds")
    if settle := os.environ.get("CDP_LANDING_SETTLE_SECONDS"):
        try:
            if float(settle) < 0:
                raise ValueError
        except ValueError:
            found.append(f"CDP_LANDING_SETTLE_SECONDS={settle!r} is not a number of seconds")
    for name in ("CDP_ALERT_WEBHOOK_URL", "CDP_TRIGGER_WEBHOOK_URL"):
        url = os.environ.get(name)
        if url and not url.startswith(("http://", "https://")):
            # The value may hold a token: named, never echoed.
            found.append(f"{name} is not an http(s) URL")
    if share := os.environ.get("CDP_HOLDOUT_SHARE"):
        try:
            if not 0 <= float(share) < 1:
                raise ValueError
        except ValueError:
            found.append(f"CDP_HOLDOUT_SHARE={share!r} is not a share from 0 to below 1")
    return found
