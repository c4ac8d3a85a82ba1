"""The profile API: a snapshot published by `exports/profile_snapshot` on a real DuckDB file,
answered by `cdp serve`'s app on a real uvicorn server, read with httpx."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx
import polars as pl
import pytest
import uvicorn

from platform_assets.exports.profile_snapshot import profile_snapshot
from platform_assets.ingest.api import create_app
from platform_assets.privacy.erasure import scrub_files
from platform_assets.privacy.tombstones import Tombstones, tombstone_rows
from resources import ExportDirectory, LandingArchive, LandingZone, Warehouse
from resources.profile_snapshot import ProfileStore, published_day, snapshot_path
from tests.processes import free_port

TOKEN = "profile-token-0123456789"
DAY = date(2026, 11, 2)
ANN, BOB = "cus_000000000001", "cus_000000000002"


def _tables() -> dict[str, pl.DataFrame]:
    people = [ANN, BOB]
    return {
        "identity.golden_customers": pl.DataFrame(
            {
                "customer_id": people,
                "email": ["Ann@Example.org", "bob@example.org"],
                "first_name": ["Ann", "Bob"],
                "last_name": ["Archer", "Baker"],
                "country": ["GB", "DE"],
            }
        ),
        "exports.consent_state": pl.DataFrame(
            {
                "as_of_date": DAY,
                "customer_id": people,
                "purpose": "email_marketing",
                "may_send": [True, False],
                "exclusion_reason": [None, "withdrawn"],
                "latest_status": ["granted", "withdrawn"],
                "stated_at": [datetime(2026, 10, 1, tzinfo=UTC)] * 2,
            }
        ),
        "segments.segment_membership": pl.DataFrame(
            {
                "customer_id": [ANN, ANN],
                "segment": ["vip", "cart_abandoners_24h"],
                "as_of_date": DAY,
                "reason": ["spent 900 in 365 days", "added to cart at 10:00"],
            }
        ),
        "exports.people": pl.DataFrame(
            {
                "as_of_date": [DAY],
                "customer_id": [ANN],
                "email": ["ann@example.org"],
                "first_name": ["Ann"],
                "last_purchased_product": ["Tent"],
                "favourite_category": ["camp"],
                "recommended_product_1": ["Stove"],
                "recommended_product_1_sku": ["STOVE"],
            }
        ),
        "star.fct_email_events": pl.DataFrame(
            {
                "customer_id": [ANN],
                "event_type": ["open"],
                "campaign_id": ["c1"],
                "occurred_at": [datetime(2026, 10, 30, 18, 20, tzinfo=UTC)],
            }
        ),
    }


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as connection:
        for name, frame in _tables().items():
            connection.execute(f"create schema if not exists {name.split('.')[0]}")
            connection.register("frame", frame.to_arrow())
            connection.execute(f"create table {name} as select * from frame")
            connection.unregister("frame")
    exports = ExportDirectory(root=str(tmp_path / "exports"))
    result = dg.materialize(
        [profile_snapshot],
        partition_key=DAY.isoformat(),
        resources={"warehouse": Warehouse(database=str(database)), "export_directory": exports},
    )
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.passed, check.description
    return {"exports": exports, "root": tmp_path}


@pytest.fixture
def client(world: dict[str, Any]) -> Iterator[httpx.Client]:
    store = ProfileStore(snapshot_path(world["exports"].path))
    app = create_app(LandingZone(root=str(world["root"] / "landing")), TOKEN, profiles=store)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    with httpx.Client(base_url=f"http://127.0.0.1:{server.config.port}") as http:
        yield http
    server.should_exit = True
    thread.join(timeout=10)


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_a_profile_by_id_and_by_email_with_consent_segments_and_tokens(
    client: httpx.Client,
) -> None:
    answer = client.get(f"/v1/profiles/{ANN}", headers=AUTH)
    assert answer.status_code == 200
    profile = answer.json()
    assert (profile["first_name"], profile["last_name"], profile["country"]) == (
        "Ann",
        "Archer",
        "GB",
    )
    assert profile["consent"]["email_marketing"]["may_send"] is True
    assert {s["segment"]: s["reason"] for s in profile["segments"]} == {
        "vip": "spent 900 in 365 days",
        "cart_abandoners_24h": "added to cart at 10:00",
    }
    assert profile["tokens"]["recommended_products"] == [{"name": "Stove", "sku": "STOVE"}]
    assert profile["tokens"]["best_send_hour"] == 18
    by_email = client.get("/v1/profiles", params={"email": " ANN@example.org "}, headers=AUTH)
    assert by_email.status_code == 200 and by_email.json()["customer_id"] == ANN
    # Bob withdrew: his profile says so (the email platform must not send).
    bob = client.get(f"/v1/profiles/{BOB}", headers=AUTH).json()
    assert bob["consent"]["email_marketing"]["exclusion_reason"] == "withdrawn"
    assert bob["segments"] == [] and bob["tokens"]["best_send_hour"] == 18


def test_without_the_token_or_for_an_unknown_person_nothing_is_told(client: httpx.Client) -> None:
    assert client.get(f"/v1/profiles/{ANN}").status_code == 401
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    assert client.get(f"/v1/profiles/{ANN}", headers=wrong).status_code == 401
    assert client.get("/v1/profiles", params={"email": "ann@example.org"}).status_code == 401
    assert client.get("/v1/profiles/cus_999999999999", headers=AUTH).status_code == 404
    unknown = client.get("/v1/profiles", params={"email": "nobody@example.org"}, headers=AUTH)
    assert unknown.status_code == 404
    assert client.get("/v1/profiles", headers=AUTH).status_code == 422


def test_an_erased_person_never_answers(
    world: dict[str, Any], client: httpx.Client, tmp_path: Path
) -> None:
    assert client.get(f"/v1/profiles/{ANN}", headers=AUTH).status_code == 200
    salt = "test-salt"
    tombstones = Tombstones(
        salt, frozenset(h for _, h in tombstone_rows(salt, [("email", "ann@example.org")]))
    )
    landing = LandingZone(root=str(tmp_path / "landing"))
    landing.path.mkdir(parents=True, exist_ok=True)
    scrubbed = scrub_files(
        landing,
        LandingArchive(root=str(tmp_path / "archive")),
        world["exports"],
        tombstones,
        "erasure-1",
    )
    assert scrubbed == {"exports/profiles/profiles.parquet": 1}
    # The server reads the rewritten snapshot on the next request.
    assert client.get(f"/v1/profiles/{ANN}", headers=AUTH).status_code == 404
    gone = client.get("/v1/profiles", params={"email": "ann@example.org"}, headers=AUTH)
    assert gone.status_code == 404
    assert client.get(f"/v1/profiles/{BOB}", headers=AUTH).status_code == 200


def test_an_older_day_never_replaces_a_newer_snapshot(world: dict[str, Any]) -> None:
    from resources.profile_snapshot import publish

    path = snapshot_path(world["exports"].path)
    newer = pl.read_parquet(path).with_columns(pl.lit(date(2026, 11, 5)).alias("as_of_date"))
    assert publish(path, newer, date(2026, 11, 5))
    assert not publish(path, newer.head(1), DAY)
    assert published_day(path) == date(2026, 11, 5)
    assert pl.read_parquet(path).height == 2
