"""The real-time path: events posted to `cdp serve` reach the day's audience files through the
realtime sensor and the realtime_path job, and a posted unsubscribe takes a person out again.

The day of the path is the day before today, seen by the sensor as if it were 23:00 on it: its
partition is then evaluated as of its end, so the hour-long quiet period of the cart rule has
passed whatever time the suite runs at (a cart posted at 00:20 could not be abandoned yet).
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import dagster as dg
import httpx
import pytest
import uvicorn

import sensors.realtime
from platform_assets.definitions import defs
from platform_assets.generator import GeneratorConfig, generate
from platform_assets.identity.assets import MODEL_KEY
from platform_assets.ingest.api import create_app
from platform_assets.jobs import REALTIME_SOURCES
from resources import LandingZone
from sensors import realtime_sensor
from tests.processes import free_port

TOKEN = "realtime-token-0123456789"
ASSETS = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
# The platform's own resources, which read their settings from the environment at run time.
RESOURCES = dict(defs.resources or {})
PATH_DAY = datetime.now(UTC).date() - timedelta(days=1)
BUILT_DAYS = [PATH_DAY - timedelta(days=2), PATH_DAY - timedelta(days=1)]
KIM = "kim.known@realtime.example"


def _csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _at(hour: int, minute: int = 0) -> str:
    moment = datetime.combine(PATH_DAY, clock_time(hour, minute), tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("realtime")
    landing = root / "landing"
    generate(
        GeneratorConfig(
            landing_dir=landing,
            truth_dir=root / "truth",
            people=250,
            days=len(BUILT_DAYS),
            start_date=BUILT_DAYS[0],
            seed=3,
            progress=False,
        )
    )
    first = BUILT_DAYS[0].isoformat()
    shop = {
        "customer_id": "KNOWN-KIM",
        "first_name": "Kimberley",
        "last_name": "Aldersgate",
        "email": KIM,
        "phone": "",
        "date_of_birth": "1988-02-14",
        "street_address": "2 Known Street",
        "city": "York",
        "postcode": "YO1 7HH",
        "region": "",
        "country": "GB",
        "created_at": "2026-10-01T09:00:00Z",
        "updated_at": "2026-10-01T09:00:00Z",
    }
    consent = {
        "subject_email": KIM,
        "purpose": "email_marketing",
        "status": "granted",
        "recorded_at": "2026-10-01T09:00:00Z",
        "source": "signup",
    }
    for source, row in (("shop_customers", shop), ("consent", consent)):
        (landing / source / first).mkdir(parents=True, exist_ok=True)
        (landing / source / first / "known.csv").write_text(_csv([row]))
    environment = {
        "CDP_LANDING_DIR": str(landing),
        "CDP_DUCKDB_PATH": str(root / "warehouse.duckdb"),
        "CDP_EXPORT_DIR": str(root / "exports"),
        "CDP_ARTIFACT_DIR": str(root / "artifacts"),
        "CDP_GROUND_TRUTH_DIR": str(root / "truth"),
        "CDP_ARCHIVE_DIR": str(root / "archive"),
    }
    ingest = dg.AssetSelection.groups("raw", "cleaned")
    rest = dg.AssetSelection.all() - ingest - dg.AssetSelection.keys(MODEL_KEY)
    with pytest.MonkeyPatch.context() as env:
        # The resources resolve these when a run starts, as under the daemon.
        for name, value in environment.items():
            env.setenv(name, value)
        for day in BUILT_DAYS:
            dg.materialize(
                ASSETS, partition_key=day.isoformat(), selection=ingest, resources=RESOURCES
            )
        dg.materialize(ASSETS, selection=dg.AssetSelection.keys(MODEL_KEY), resources=RESOURCES)
        for day in BUILT_DAYS:
            dg.materialize(
                ASSETS, partition_key=day.isoformat(), selection=rest, resources=RESOURCES
            )
    yield {"landing": landing, "exports": root / "exports", "environment": environment}


@pytest.fixture
def api(platform: dict) -> Iterator[httpx.Client]:
    app = create_app(LandingZone(root=str(platform["landing"])), TOKEN)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    port = server.config.port
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client
    server.should_exit = True
    thread.join(timeout=10)


def _audience(platform: dict, name: str) -> set[str]:
    path = platform["exports"] / PATH_DAY.isoformat() / f"{name}.csv"
    return {row["email"] for row in csv.DictReader(path.open())} if path.exists() else set()


def _every_audience(platform: dict) -> set[str]:
    folder = platform["exports"] / PATH_DAY.isoformat()
    return {row["email"] for path in folder.glob("*.csv") for row in csv.DictReader(path.open())}


def test_a_posted_cart_reaches_the_audience_and_a_posted_unsubscribe_removes_it(
    platform: dict, api: httpx.Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in platform["environment"].items():
        monkeypatch.setenv(name, value)
    # The sensor sees the path's day as today, late in the evening.
    evening = datetime.combine(PATH_DAY, clock_time(23, 0), tzinfo=UTC)
    monkeypatch.setattr(sensors.realtime, "utc_now", lambda: evening)
    job = defs.get_job_def("realtime_path")
    (tmp_path / "instance").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "instance")) as instance:
        cursor: str | None = None

        def tick() -> dg.SensorResult | dg.SkipReason:
            nonlocal cursor
            context = dg.build_sensor_context(
                instance=instance,
                cursor=cursor,
                repository_def=defs.get_repository_def(),
                resources={"landing_zone": LandingZone()},
            )
            result = realtime_sensor(context)
            cursor = context.cursor if isinstance(result, dg.SkipReason) else result.cursor
            return result

        def run_requested(result: dg.SensorResult | dg.SkipReason) -> None:
            assert isinstance(result, dg.SensorResult), result
            [request] = result.run_requests or []
            assert request.partition_key == PATH_DAY.isoformat()
            outcome = job.execute_in_process(
                partition_key=request.partition_key, instance=instance, tags=request.tags
            )
            assert outcome.success

        assert isinstance(tick(), dg.SkipReason)  # nothing posted for the day yet
        cart = [
            {
                "event_id": "rt-kim-view",
                "occurred_at": _at(20, 0),
                "user_id": "KNOWN-KIM",
                "anonymous_id": "anon-kim",
                "event_type": "product_view",
                "sku": "SKU-RT-1",
            },
            {
                "event_id": "rt-kim-cart",
                "occurred_at": _at(20, 2),
                "user_id": "KNOWN-KIM",
                "anonymous_id": "anon-kim",
                "event_type": "add_to_cart",
                "sku": "SKU-RT-1",
                "quantity": 1,
                "price": 24.5,
            },
        ]
        assert api.post("/v1/events/web_events", json=cart).status_code == 202
        run_requested(tick())
        assert KIM in _audience(platform, "cart_abandoners_24h")
        # The same listing again: no second run.
        assert isinstance(tick(), dg.SkipReason)
        # A retried post lands nothing new, so nothing runs again either.
        assert api.post("/v1/events/web_events", json=cart).status_code == 202
        assert isinstance(tick(), dg.SkipReason)

        withdrawal = {
            "subject_email": KIM,
            "purpose": "email_marketing",
            "status": "withdrawn",
            "recorded_at": _at(21, 0),
            "source": "preference_centre",
        }
        assert api.post("/v1/events/consent", json=withdrawal).status_code == 202
        run_requested(tick())
        assert KIM not in _every_audience(platform)
        runs = instance.get_runs(dg.RunsFilter(job_name="realtime_path"))
        assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)


def test_the_landing_sensor_leaves_todays_posted_events_to_the_realtime_path(
    tmp_path: Path,
) -> None:
    from sensors import landing_zone_sensor

    landing = LandingZone(root=str(tmp_path / "landing"))
    today = datetime.now(UTC).date().isoformat()
    for source in ("web_events", "orders"):
        folder = landing.path / source / today
        folder.mkdir(parents=True)
        (folder / "ingest-a.jsonl" if source == "web_events" else folder / "a.csv").write_text(
            '{"event_id": "w1"}\n' if source == "web_events" else "order_id\n"
        )
    (tmp_path / "instance").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "instance")) as instance:
        context = dg.build_sensor_context(instance=instance, resources={"landing_zone": landing})
        result = landing_zone_sensor(context)
        assert isinstance(result, dg.SensorResult)
        requested = {
            key.to_user_string()
            for request in result.run_requests or []
            if request.partition_key == today
            for key in request.asset_selection or []
        }
    realtime = {f"{layer}/{source}" for layer in ("raw", "cleaned") for source in REALTIME_SOURCES}
    assert {"raw/orders", "cleaned/orders"} <= requested and not realtime & requested
