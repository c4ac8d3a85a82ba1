"""The UI serves the workspace: a real dagster-webserver on loopback, queried over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from platform_assets.contract import SOURCES

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CDP_LANDING_DIR": str(tmp_path / "landing"),
        "CDP_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
    }
    executable = Path(sys.executable).parent / "dagster-webserver"
    process = subprocess.Popen(
        [str(executable), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so the code server stops with it
        # Dagster's processes ignore SIGINT/SIGTERM when inherited as ignored: reset them.
        preexec_fn=lambda: (
            signal.signal(signal.SIGINT, signal.SIG_DFL),
            signal.signal(signal.SIGTERM, signal.SIG_DFL),
        ),
    )
    url = f"http://127.0.0.1:{port}"
    try:
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
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_ui_lists_every_asset_in_its_layer_with_its_checks(webserver: str) -> None:
    answer = _post(
        f"{webserver}/graphql",
        "{ assetNodes { assetKey { path } groupName isPartitioned"
        " assetChecksOrError { ... on AssetChecks { checks { name } } } } }",
    )
    nodes = {tuple(n["assetKey"]["path"]): n for n in answer["data"]["assetNodes"]}
    assert set(nodes) == {(layer, s) for layer in ("raw", "cleaned") for s in SOURCES}
    for (layer, _source), node in nodes.items():
        assert node["groupName"] == layer and node["isPartitioned"]
        checks = {check["name"] for check in node["assetChecksOrError"]["checks"]}
        assert {"schema", "volume"} <= checks
