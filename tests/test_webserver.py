"""The UI serves the workspace: a real dagster-webserver on loopback, queried over HTTP."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from platform_assets.contract import SOURCES
from platform_assets.definitions import defs
from tests.processes import dagster_home, dagster_process, free_port


def _post(url: str, query: str) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def webserver(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        "DAGSTER_HOME": str(dagster_home(tmp_path)),
        "CDP_LANDING_DIR": str(tmp_path / "landing"),
        "CDP_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
    }
    command = ["dagster-webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    url = f"http://127.0.0.1:{port}"
    with dagster_process(command, env):
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/server_info", timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("dagster-webserver did not answer within 90 s")
        yield url


def test_ui_lists_every_asset_in_its_layer_with_its_checks(webserver: str) -> None:
    answer = _post(
        f"{webserver}/graphql",
        "{ assetNodes { assetKey { path } groupName isPartitioned"
        " assetChecksOrError { ... on AssetChecks { checks { name } } } } }",
    )
    nodes = {tuple(n["assetKey"]["path"]): n for n in answer["data"]["assetNodes"]}
    served = {key for key in nodes if key[0] in ("raw", "cleaned")}
    assert served == {(layer, s) for layer in ("raw", "cleaned") for s in SOURCES}
    expected = {tuple(key.path) for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert set(nodes) == expected
    for key, node in nodes.items():
        assert node["groupName"] == key[0]
        checks = {check["name"] for check in node["assetChecksOrError"]["checks"]}
        if key[0] in ("raw", "cleaned"):
            assert node["isPartitioned"] and {"schema", "volume"} <= checks
    customers = nodes[("identity", "customer_records")]
    assert {"one_customer_per_record", "accuracy"} <= {
        check["name"] for check in customers["assetChecksOrError"]["checks"]
    }
