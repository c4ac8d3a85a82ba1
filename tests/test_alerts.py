"""Alerts reach someone: ops.alerts and a webhook, raised once, resolved once, never blocking."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from platform_assets import alerts
from platform_assets.cli import main
from resources import AlertSink, Warehouse
from resources.alerts import open_alerts
from tests.conftest import DAY, LandFile
from tests.processes import free_port

HEADER = "event_id,occurred_at,email,campaign_id,event_type,url"
GOOD = HEADER + "\ne1,2026-11-02T10:00:00Z,ann@example.com,c1,open,\n"


class Receiver:
    """A real HTTP server on 127.0.0.1 that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []

        async def receive(request: Request) -> JSONResponse:
            self.bodies.append(await request.json())
            return JSONResponse({"ok": True})

        app = Starlette(routes=[Route("/hook", receive, methods=["POST"])])
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    hook.thread.start()
    deadline = time.monotonic() + 10
    while not hook.server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield hook
    hook.server.should_exit = True
    hook.thread.join(timeout=10)


def _evaluation(passed: bool, severity=dg.AssetCheckSeverity.ERROR, name="conservation"):
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(["cleaned", "orders"]),
        check_name=name,
        passed=passed,
        severity=severity,
        description="2 rows unaccounted for",
    )


def test_an_error_check_alerts_and_its_pass_resolves() -> None:
    failed = alerts.from_check(_evaluation(False), DAY, "r1")
    assert isinstance(failed, alerts.Alert)
    assert failed.key == ("check_failed", "cleaned/orders", DAY, "conservation")
    assert "cleaned/orders" in failed.text and "2 rows unaccounted" in failed.text
    assert isinstance(alerts.from_check(_evaluation(True), DAY, "r2"), alerts.Resolution)


def test_only_the_volume_and_vanished_file_warnings_alert() -> None:
    warn = dg.AssetCheckSeverity.WARN
    assert alerts.from_check(_evaluation(False, warn, "lines_readable"), DAY, None) is None
    volume = alerts.from_check(_evaluation(False, warn, "volume"), DAY, None)
    assert isinstance(volume, alerts.Alert)
    assert (volume.kind, volume.severity) == ("volume_anomaly", "warning")


def test_freshness_alerts_on_the_turn_to_fail_and_resolves_on_the_turn_back() -> None:
    raised = alerts.from_freshness({"raw/orders": "FAIL"}, {"raw/orders": "PASS"})
    assert [type(item).__name__ for item in raised] == ["Alert"]
    assert alerts.from_freshness({"raw/orders": "FAIL"}, {"raw/orders": "FAIL"}) == []
    back = alerts.from_freshness({"raw/orders": "PASS"}, {"raw/orders": "FAIL"})
    assert [type(item).__name__ for item in back] == ["Resolution"]


def test_a_corrupt_file_alerts_once_through_the_webhook_and_resolves_when_fixed(
    land: LandFile,
    landing_zone,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    warehouse = Warehouse(database=str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("CDP_LANDING_DIR", str(landing_zone.path))
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(warehouse.path))
    monkeypatch.setenv("CDP_ALERT_WEBHOOK_URL", receiver.url)
    corrupt = land("email_events", "events.csv", GOOD.encode("utf-8").replace(b"ann", b"\xff"))
    run = ["run", "--select", 'key:"raw/email_events"', "--start", DAY, "--end", DAY]
    main(run)
    assert "alert [error] check_failed: raw/email_events" in capsys.readouterr().out
    assert len(receiver.bodies) == 1
    body = receiver.bodies[0]
    assert body["status"] == "open" and body["check"] == "files_readable"
    assert body["asset"] == "raw/email_events" and body["partition"] == DAY
    assert "email_events/2026-11-02/events.csv" in body["text"] and "UTF-8" in body["text"]
    # The same failure on the next run is not announced again.
    main(run)
    assert len(receiver.bodies) == 1
    [row] = open_alerts(warehouse)
    assert row["delivery"] == "delivered" and row["run_id"] == body["run_id"]
    corrupt.write_text(GOOD)
    main(run)
    assert [b["status"] for b in receiver.bodies] == ["open", "resolved"]
    assert receiver.bodies[1]["alert_id"] == body["alert_id"]
    assert open_alerts(warehouse) == []


def test_an_unreachable_webhook_is_retried_then_recorded_without_failing(
    tmp_path: Path,
) -> None:
    closed_port = free_port()
    warehouse = Warehouse(database=str(tmp_path / "w.duckdb"))
    sink = AlertSink(webhook_url=f"http://127.0.0.1:{closed_port}/hook")
    item = alerts.from_check(_evaluation(False), DAY, "r1")
    assert item is not None
    announced = sink.record(warehouse, [item])
    assert len(announced) == 1
    [row] = open_alerts(warehouse)
    assert row["delivery"].startswith("failed")


def test_the_daemons_sensor_alerts_a_failed_run_and_a_later_success_resolves_it(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    from platform_assets.definitions import defs
    from sensors import alert_on_failed_runs, alert_on_finished_runs

    (tmp_path / "instance").mkdir()
    landing = tmp_path / "landing"
    with dg.instance_for_test(temp_dir=str(tmp_path / "instance")) as instance:

        def raw_run() -> dg.ExecuteInProcessResult:
            from resources import LandingZone

            return dg.materialize(
                [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)],
                partition_key=DAY,
                selection=[dg.AssetKey(["raw", "orders"])],
                resources={
                    **(defs.resources or {}),
                    "warehouse": warehouse,
                    "landing_zone": LandingZone(root=str(landing)),
                },
                instance=instance,
                raise_on_error=False,
            )

        failed = raw_run()  # the landing root does not exist
        assert not failed.success
        run = instance.get_run_by_id(failed.run_id)
        assert run is not None
        resources = {"warehouse": warehouse, "alert_sink": AlertSink()}
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_failed_runs",
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=failed.get_run_failure_event(),
            resources=resources,
        ).for_run_failure()
        alert_on_failed_runs(context)
        [row] = open_alerts(warehouse)
        assert row["kind"] == "run_failed" and "CDP_LANDING_DIR" in row["message"]
        assert row["asset"] == "raw/orders" and row["partition_key"] == DAY
        (landing / "orders" / DAY).mkdir(parents=True)
        (landing / "orders" / DAY / "a.csv").write_text(
            "order_id,line_number,customer_id,ordered_at,sku\n"
        )
        passed = raw_run()
        assert passed.success
        run = instance.get_run_by_id(passed.run_id)
        assert run is not None
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_finished_runs",
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=passed.get_run_success_event(),
            resources=resources,
        )
        alert_on_finished_runs(context)
        assert open_alerts(warehouse) == []


def test_the_freshness_daemon_turning_an_asset_red_alerts_once_and_green_resolves(
    tmp_path: Path, warehouse: Warehouse, receiver: Receiver
) -> None:
    """Dagster's freshness daemon judges the policy; the sensor turns its verdicts into alerts."""
    from datetime import UTC, datetime, timedelta

    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import freeze_time
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
    from dagster._daemon.freshness import FreshnessDaemon

    from platform_assets.definitions import defs
    from resources import LandingZone
    from sensors import alert_on_freshness

    landing = tmp_path / "landing"
    (landing / "orders" / DAY).mkdir(parents=True)
    (landing / "orders" / DAY / "a.csv").write_text(
        "order_id,line_number,customer_id,ordered_at,sku\n"
    )
    resources = {"warehouse": warehouse, "alert_sink": AlertSink(webhook_url=receiver.url)}
    (tmp_path / "instance").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "instance")) as instance:
        built = dg.materialize(
            [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)],
            partition_key=DAY,
            selection=[dg.AssetKey(["raw", "orders"])],
            resources={
                **(defs.resources or {}),
                "warehouse": warehouse,
                "landing_zone": LandingZone(root=str(landing)),
            },
            instance=instance,
        )
        assert built.success
        origin = InProcessCodeLocationOrigin(
            LoadableTargetOrigin(
                module_name="platform_assets.definitions",
                attribute="defs",
                working_directory=str(Path(__file__).resolve().parents[1]),
            )
        )
        cursor: str | None = None

        def evaluate(at: datetime | None) -> None:
            """One iteration of the freshness daemon, then one tick of the alert sensor."""
            nonlocal cursor
            with WorkspaceProcessContext(
                instance, InProcessWorkspaceLoadTarget(origin)
            ) as workspace:
                if at is None:
                    list(FreshnessDaemon().run_iteration(workspace))
                else:
                    with freeze_time(at):
                        list(FreshnessDaemon().run_iteration(workspace))
            context = dg.build_sensor_context(
                instance=instance,
                cursor=cursor,
                repository_def=defs.get_repository_def(),
                resources=resources,
            )
            alert_on_freshness(context)
            cursor = context.cursor

        raw_orders = dg.AssetKey(["raw", "orders"])
        # Raw's fail window is 36 hours: seen 40 hours on, the load is stale.
        evaluate(datetime.now(UTC) + timedelta(hours=40))
        state = instance.get_freshness_state_records([raw_orders])[raw_orders]
        assert state.freshness_state.value == "FAIL"
        [row] = [r for r in open_alerts(warehouse) if r["kind"] == "freshness"]
        assert row["asset"] == "raw/orders" and row["severity"] == "error"
        posted = [body for body in receiver.bodies if body.get("kind") == "freshness"]
        assert len(posted) == 1 and "raw/orders" in posted[0]["text"]
        # Still red on the next tick: no second alert.
        evaluate(datetime.now(UTC) + timedelta(hours=41))
        assert len([r for r in open_alerts(warehouse) if r["kind"] == "freshness"]) == 1
        # Seen now, the same load is fresh again: the alert is resolved, and the team told so.
        evaluate(None)
        assert (
            instance.get_freshness_state_records([raw_orders])[raw_orders].freshness_state.value
            == "PASS"
        )
        assert [r for r in open_alerts(warehouse) if r["kind"] == "freshness"] == []
        resolved = [body for body in receiver.bodies if body.get("kind") == "freshness"]
        assert [body["status"] for body in resolved] == ["open", "resolved"]
        assert resolved[1]["text"].startswith("[resolved] freshness")
