"""`cdp serve`'s ingest half: a real uvicorn server on 127.0.0.1, a real httpx client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

from platform_assets.cleaned.transform import clean_partition
from platform_assets.cli import main
from platform_assets.contract import SOURCES
from platform_assets.ingest.api import create_app
from platform_assets.ingest.validate import check_events
from platform_assets.raw.load import LandedBytes, load_partition
from resources import LandingZone
from tests.processes import free_port

TOKEN = "test-token-0123456789abcdef"
NOW = datetime.now(UTC).replace(microsecond=0)


def _at(minutes_ago: int) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cart(event_id: str, minutes_ago: int = 5) -> dict[str, object]:
    return {
        "event_id": event_id,
        "occurred_at": _at(minutes_ago),
        "user_id": "s1",
        "anonymous_id": "a1",
        "event_type": "add_to_cart",
        "sku": "SKU-1",
        "quantity": 1,
        "price": 9.99,
    }


class Server:
    def __init__(self, landing: LandingZone, max_body_bytes: int) -> None:
        app = create_app(landing, TOKEN, max_body_bytes=max_body_bytes, first_day=date(2026, 11, 1))
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"


@pytest.fixture
def server(landing_zone: LandingZone) -> Iterator[Server]:
    landing_zone.path.mkdir(parents=True)
    running = Server(landing_zone, max_body_bytes=64 * 1024)
    running.thread.start()
    deadline = time.monotonic() + 10
    while not running.server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield running
    running.server.should_exit = True
    running.thread.join(timeout=10)


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as http:
        yield http


def _landed(landing_zone: LandingZone) -> list[Path]:
    return sorted(path for path in landing_zone.path.rglob("*") if path.is_file())


def test_without_the_token_every_route_but_health_is_refused(
    server: Server, landing_zone: LandingZone
) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/v1/health").json() == {"status": "ok"}
        assert anonymous.post("/v1/events/web_events", json=[_cart("w1")]).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert anonymous.post("/v1/events/consent", json={}, headers=wrong).status_code == 401
        assert anonymous.get("/v1/openapi.json").status_code == 401
        schema = anonymous.get("/v1/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert schema.status_code == 200
    assert "/v1/events/{source}" in schema.json()["paths"]
    assert _landed(landing_zone) == []


def test_accepted_events_are_on_disk_by_day_and_a_retry_lands_nothing_twice(
    client: httpx.Client, landing_zone: LandingZone
) -> None:
    yesterday = (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    events = [_cart("w1"), _cart("w2") | {"occurred_at": yesterday}]
    answer = client.post("/v1/events/web_events", json=events)
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 2
    files = _landed(landing_zone)
    assert sorted(path.parent.name for path in files) == sorted(
        {NOW.date().isoformat(), (NOW - timedelta(days=1)).date().isoformat()}
    )
    assert all(path.name.startswith("ingest-") and path.suffix == ".jsonl" for path in files)
    landed_ids = {json.loads(line)["event_id"] for path in files for line in path.open()}
    assert landed_ids == {"w1", "w2"}
    # Written complete: read at once, without waiting out a settle interval.
    patient = LandingZone(root=str(landing_zone.path), settle_seconds=3600)
    assert [f.path for f in patient.files("web_events", NOW.date().isoformat())] == [
        path for path in files if path.parent.name == NOW.date().isoformat()
    ]
    retried = client.post("/v1/events/web_events", json=events)
    assert retried.status_code == 202
    assert retried.json()["files"] == [] and len(retried.json()["already_landed"]) == 2
    assert _landed(landing_zone) == files
    # No temporary file is left behind.
    assert not [p for p in landing_zone.path.rglob(".*")]


def test_one_object_and_ndjson_bodies_are_taken_as_well(
    client: httpx.Client, landing_zone: LandingZone
) -> None:
    one = {
        "subject_email": "ann@example.com",
        "purpose": "email_marketing",
        "status": "withdrawn",
        "recorded_at": _at(1),
        "source": "preference_centre",
    }
    assert client.post("/v1/events/consent", json=one).status_code == 202
    lines = "\n".join(
        json.dumps(
            {
                "event_id": f"e{n}",
                "occurred_at": _at(2),
                "email": "ann@example.com",
                "campaign_id": "c1",
                "event_type": kind,
            }
        )
        for n, kind in enumerate(["delivered", "open", "unsubscribe"])
    )
    answer = client.post(
        "/v1/events/email_events",
        content=lines,
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 3
    assert {path.parts[-3] for path in _landed(landing_zone)} == {"consent", "email_events"}


def test_a_request_with_one_bad_event_writes_nothing_and_names_every_reason(
    client: httpx.Client, landing_zone: LandingZone
) -> None:
    events = [
        _cart("w1"),
        {"event_id": "w2", "occurred_at": "yesterday-ish", "event_type": "add_to_cart"},
        {"occurred_at": _at(1), "event_type": "teleport"},
        _cart("w4") | {"occurred_at": (NOW + timedelta(days=2)).isoformat()},
        _cart("w5") | {"colour": "blue"},
    ]
    answer = client.post("/v1/events/web_events", json=events)
    assert answer.status_code == 422
    assert answer.json()["accepted"] == 0
    rejected = answer.json()["rejected"]
    # Unknown fields are reported first, before any value is looked at.
    assert rejected == [{"index": 4, "field": "colour", "rule": "unknown_field"}]
    answer = client.post("/v1/events/web_events", json=events[:4])
    reasons = {(r["index"], r["field"], r["rule"].split(":")[0]) for r in answer.json()["rejected"]}
    assert reasons == {
        (1, "occurred_at", "invalid_required"),
        (2, "event_id", "missing_required"),
        (2, "event_type", "invalid_required"),
        (3, None, "occurred_at_in_future"),
    }
    assert _landed(landing_zone) == []
    assert client.post("/v1/events/web_events", content=b"{not json").status_code == 400
    assert client.post("/v1/events/web_events", json=[]).status_code == 422
    assert client.post("/v1/events/web_events", json=[1, "two"]).status_code == 422
    assert client.post("/v1/events/orders", json=[_cart("w1")]).status_code == 422
    old = _cart("w6") | {"occurred_at": "2025-01-01T00:00:00Z"}
    before = client.post("/v1/events/web_events", json=[old]).json()["rejected"]
    assert before == [
        {"index": 0, "field": "occurred_at", "rule": "before_first_partition:2026-11-01"}
    ]
    assert _landed(landing_zone) == []


def test_a_body_over_the_limit_is_refused_with_or_without_a_length(
    client: httpx.Client, landing_zone: LandingZone
) -> None:
    big = json.dumps([_cart(f"w{n}") for n in range(2000)]).encode()
    assert len(big) > 64 * 1024
    assert client.post("/v1/events/web_events", content=big).status_code == 413

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    assert client.post("/v1/events/web_events", content=chunks()).status_code == 413
    assert _landed(landing_zone) == []


def test_the_api_accepts_exactly_what_the_cleaned_layer_keeps() -> None:
    """One code path: a batch the API accepts is cleaned with nothing quarantined, and a row
    the cleaned layer quarantines is refused by the API."""
    rows = [
        _cart("w1"),
        _cart("w2") | {"event_type": "ADD TO CART"},  # a synonym the cleaned layer maps
        _cart("w3") | {"quantity": "two"},
        {"event_id": "w4", "occurred_at": _at(3), "event_type": "page_view", "url": "/"},
    ]
    contract = SOURCES["web_events"]
    for row in rows:
        content = (json.dumps(row) + "\n").encode()
        load = load_partition(contract, NOW.date(), [LandedBytes("a.jsonl", content, "")], NOW)
        quarantined = clean_partition("web_events", load.rows, as_of=NOW).quarantined.height
        checked = check_events("web_events", [row], now=NOW)
        assert bool(checked.rejections) == bool(quarantined), row


def test_cdp_serve_refuses_to_start_without_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("CDP_LANDING_DIR", str(tmp_path))
    monkeypatch.delenv("CDP_INGEST_TOKEN", raising=False)
    assert main(["serve"]) == 2
    assert "CDP_INGEST_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("CDP_INGEST_TOKEN", "short")
    assert main(["serve"]) == 2
    monkeypatch.setenv("CDP_INGEST_TOKEN", TOKEN)
    monkeypatch.setenv("CDP_LANDING_DIR", str(tmp_path / "missing"))
    assert main(["serve"]) == 2
    assert "CDP_LANDING_DIR" in capsys.readouterr().err


def test_cdp_serve_binds_loopback_unless_told_otherwise() -> None:
    from platform_assets.cli import _parser

    arguments = _parser().parse_args(["serve"])
    assert (arguments.host, arguments.port) == ("127.0.0.1", 8321)
