"""The Dagster UI as a newcomer meets it after `make demo`, then `make ui`.

A real `cdp run` over generated days that end yesterday, then `dagster dev` (webserver and
daemon, every sensor running) on the same instance: read over the webserver's GraphQL, and the
pages opened in a real browser (Debian's chromium-headless-shell, driven by Playwright).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from platform_assets.contract import SOURCES
from platform_assets.jobs import CODE_LOCATION
from tests.processes import ROOT, dagster_home, dagster_process, free_port

DAYS = 2
PYTHON_LAYERS = ("raw", "cleaned", "identity", "exports")
DBT_LAYERS = ("staging", "intermediate", "star", "segments")
JOBS = {"daily_graph", "ingest", "train_identity_model"}
CHROMIUM = Path(os.environ.get("CDP_TEST_CHROMIUM", "/usr/bin/chromium-headless-shell"))
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")

METADATA = """
    label
    ... on TableSchemaMetadataEntry { schema { columns { name type description } } }
    ... on TableColumnLineageMetadataEntry {
        lineage { columnName columnDeps { assetKey { path } columnName } }
    }
    ... on MarkdownMetadataEntry { mdStr }
    ... on PathMetadataEntry { path }
    ... on TextMetadataEntry { text }
    ... on JsonMetadataEntry { jsonString }
    ... on IntMetadataEntry { intValue }
"""


@dataclass
class Ui:
    url: str
    root: Path
    env: dict[str, str]

    def query(self, query: str) -> dict[str, Any]:
        answer = httpx.post(f"{self.url}/graphql", json={"query": query}, timeout=60).json()
        assert "errors" not in answer, answer["errors"]
        return dict(answer["data"])

    def asset_nodes(self, fields: str) -> dict[tuple[str, ...], dict[str, Any]]:
        nodes = self.query(f"{{ assetNodes {{ assetKey {{ path }} {fields} }} }}")["assetNodes"]
        return {tuple(node["assetKey"]["path"]): node for node in nodes}


def _cdp(env: dict[str, str], *arguments: str) -> None:
    command = [str(Path(sys.executable).parent / "cdp"), *arguments]
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True)
    assert done.returncode == 0, done.stdout.decode()[-3000:] + done.stderr.decode()[-3000:]


def _until(condition: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(2)
    pytest.fail(f"{what} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    root = tmp_path_factory.mktemp("ui")
    # As `make demo`: the days end yesterday and the partitions start with them.
    start = datetime.now(UTC).date() - timedelta(days=DAYS)
    env = {
        "DAGSTER_HOME": str(dagster_home(root)),
        "CDP_LANDING_DIR": str(root / "landing"),
        "CDP_DUCKDB_PATH": str(root / "warehouse.duckdb"),
        "CDP_GROUND_TRUTH_DIR": str(root / "truth"),
        "CDP_ARTIFACT_DIR": str(root / "artifacts"),
        "CDP_EXPORT_DIR": str(root / "exports"),
        "CDP_START_DATE": start.isoformat(),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # The freshness daemon's verdicts within the test, not after its default 30 s.
        "FRESHNESS_DAEMON_INTERVAL_SECONDS": "5",
    }
    _cdp(env, "generate", "--people", "120", "--days", str(DAYS), "--no-progress",
         "--truth-dir", env["CDP_GROUND_TRUTH_DIR"])  # fmt: skip
    _cdp(env, "run")
    port = free_port()
    command = ["dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/server_info", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    with dagster_process(command, env):
        _until(answers, "dagster dev did not answer", timeout=120)
        yield Ui(url, root, env)


def test_the_sensors_see_what_cdp_run_built_and_request_nothing(ui: Ui) -> None:
    selector = f'{{repositoryLocationName: "{CODE_LOCATION}", repositoryName: "__repository__"}}'
    query = f"""{{ sensorsOrError(repositorySelector: {selector}) {{ ... on Sensors {{ results {{
        name sensorState {{ status ticks(limit: 5) {{ status runIds error {{ message }} }} }}
    }} }} }} }}"""

    def ticked() -> dict[str, Any] | None:
        sensors = {s["name"]: s for s in ui.query(query)["sensorsOrError"]["results"]}
        watched = ("landing_zone_sensor", "automation_sensor")
        done = all(
            any(t["status"] != "STARTED" for t in sensors[name]["sensorState"]["ticks"])
            for name in watched
        )
        return sensors if done else None

    sensors = _until(ticked, "the landing and automation sensors did not tick")
    for name, sensor in sensors.items():
        assert sensor["sensorState"]["status"] == "RUNNING", name
        for tick in sensor["sensorState"]["ticks"]:
            assert tick["error"] is None, (name, tick["error"])
            assert tick["runIds"] == [], f"{name} requested runs after cdp run: {tick}"
    runs = ui.query(
        "{ runsOrError { ... on Runs { results { jobName status"
        " repositoryOrigin { repositoryLocationName } tags { key value } } } } }"
    )["runsOrError"]["results"]
    assert runs
    for run in runs:
        tags = {tag["key"]: tag["value"] for tag in run["tags"]}
        assert "dagster/sensor_name" not in tags, f"a sensor requested a run: {run}"
        if "dagster/schedule_name" in tags:
            continue  # the 06:00 fallback, should the test run across it
        assert tags.get("cdp/command") == "run", f"a run not started by cdp run: {run}"
        # Named jobs of the code location: the timeline lists them, "View job" leads there.
        assert run["jobName"] in JOBS and run["status"] == "SUCCESS"
        assert run["repositoryOrigin"]["repositoryLocationName"] == CODE_LOCATION


def test_freshness_is_evaluated_and_passing_for_every_asset_with_a_policy(ui: Ui) -> None:
    def evaluated() -> dict[tuple[str, ...], str] | None:
        nodes = ui.asset_nodes("internalFreshnessPolicy { __typename } freshnessStatusInfo"
                               " { freshnessStatus }")  # fmt: skip
        states = {
            key: node["freshnessStatusInfo"]["freshnessStatus"]
            for key, node in nodes.items()
            if node["internalFreshnessPolicy"]
        }
        return states if states and "UNKNOWN" not in states.values() else None

    states = _until(evaluated, "the freshness daemon evaluated every policy")
    assert {key[0] for key in states} >= {*PYTHON_LAYERS, *DBT_LAYERS}
    assert set(states.values()) == {"HEALTHY"}, states


def test_the_lineage_runs_from_the_landing_files_to_the_email_platform(ui: Ui) -> None:
    nodes = ui.asset_nodes("groupName isMaterializable isPartitioned dependencyKeys { path }")
    landing = {key for key in nodes if key[0] == "landing"}
    assert len(landing) == len(SOURCES)  # one landing zone per source
    for key in landing:
        assert not nodes[key]["isMaterializable"] and nodes[key]["isPartitioned"]
        raw = nodes[("raw", key[1])]
        assert [d["path"] for d in raw["dependencyKeys"]] == [list(key)]
    platform = nodes[("email_platform", "audiences")]
    assert [d["path"] for d in platform["dependencyKeys"]] == [["exports", "audience_files"]]
    # What raw read of each landing partition, observed on the landing asset.
    observed = ui.query(
        '{ assetNodeOrError(assetKey: {path: ["landing", "crm_contacts"]}) { ... on AssetNode {'
        f" assetObservations(limit: 10) {{ partition metadataEntries {{ {METADATA} }} }} }} }} }}"
    )["assetNodeOrError"]["assetObservations"]
    assert len({o["partition"] for o in observed}) == DAYS
    files = json.loads(_entry(observed[0]["metadataEntries"], "files")["jsonString"])
    assert files and all(name.startswith("crm_contacts/") for name in files)


def test_every_column_is_described_and_every_dbt_column_typed_with_its_lineage(ui: Ui) -> None:
    nodes = ui.asset_nodes(
        f"metadataEntries {{ {METADATA} }}"
        f" assetMaterializations(limit: 1) {{ metadataEntries {{ {METADATA} }} }}"
    )
    for key, node in nodes.items():
        if key[0] in PYTHON_LAYERS and key[1] not in ("splink_model", "audience_files"):
            columns = _entry(node["metadataEntries"], "dagster/column_schema")["schema"]["columns"]
            undescribed = [c["name"] for c in columns if not c["description"]]
            assert not undescribed, f"{key}: {undescribed}"
        if key[0] in DBT_LAYERS:
            (materialization,) = node["assetMaterializations"]
            entries = materialization["metadataEntries"]
            labels = {entry["label"] for entry in entries}
            assert not labels & {"unique_id", "invocation_id"}, key
            columns = _entry(entries, "dagster/column_schema")["schema"]["columns"]
            assert columns and all(c["type"] for c in columns), key
    golden = _entry(nodes[("identity", "golden_customers")]["metadataEntries"],
                    "dagster/column_schema")["schema"]["columns"]  # fmt: skip
    assert len(golden) == 33
    lineage = _entry(
        nodes[("star", "dim_customer")]["assetMaterializations"][0]["metadataEntries"],
        "dagster/column_lineage",
    )["lineage"]
    deps = {column["columnName"]: column["columnDeps"] for column in lineage}
    assert {"assetKey": {"path": ["staging", "stg_identity__golden_customers"]},
            "columnName": "customer_id"} in deps["customer_id"]  # fmt: skip


def test_metadata_describes_people_by_counts_never_by_rows(ui: Ui) -> None:
    nodes = ui.asset_nodes(
        f"assetMaterializations(limit: 3) {{ metadataEntries {{ {METADATA} }} }}"
    )
    for key, node in nodes.items():
        for materialization in node["assetMaterializations"]:
            text = json.dumps(materialization["metadataEntries"])
            assert not EMAIL.search(text), f"{key} shows a personal address in its metadata"
    golden = nodes[("identity", "golden_customers")]["assetMaterializations"][0]
    coverage = _entry(golden["metadataEntries"], "field_coverage")["mdStr"]
    assert "| email |" in coverage and "%" in coverage
    files = nodes[("exports", "audience_files")]["assetMaterializations"][0]["metadataEntries"]
    folder = Path(_entry(files, "folder")["path"])
    assert folder.is_dir() and list(folder.glob("*.csv"))
    assert str(next(folder.glob("*.csv"))) in _entry(files, "files")["mdStr"]
    model = nodes[("identity", "splink_model")]["assetMaterializations"][0]["metadataEntries"]
    assert "| match weight |" in _entry(model, "match_weights")["mdStr"]


def test_checks_are_described_and_read_by_partition(ui: Ui) -> None:
    nodes = ui.asset_nodes(
        "assetChecksOrError { ... on AssetChecks { checks { name description"
        " partitionDefinition { type } executionForLatestMaterialization"
        " { status evaluation { partition } } } } }"
    )
    for key, node in nodes.items():
        for check in node["assetChecksOrError"].get("checks", []):
            assert check["description"], f"{key} {check['name']} has no description"
            if key[0] in (*PYTHON_LAYERS, *DBT_LAYERS) and key[1] != "splink_model":
                assert check["partitionDefinition"]["type"] == "TIME_WINDOW", (key, check)
                execution = check["executionForLatestMaterialization"]
                assert execution["evaluation"]["partition"], (key, check["name"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium-headless-shell")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            # No network but loopback here: Chromium's background services would only fail.
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield launched
        launched.close()


@pytest.mark.parametrize(
    ("page_path", "expected"),
    [
        # The golden record's columns with their descriptions.
        ("/assets/identity/golden_customers", ["email_observed_at", "the golden"]),
        # Counts and coverage on its latest materialization.
        ("/assets/identity/golden_customers?view=events", ["field_coverage"]),
        # The landing files upstream of raw.
        ("/assets/raw/orders?view=lineage&lineageScope=neighbors", ["landing"]),
        # cdp run's runs on the timeline, by job.
        ("/overview/activity/timeline", ["daily_graph"]),
        # Freshness evaluated, not "Not evaluated".
        ("/assets/star/dim_customer", ["Passing"]),
    ],
)
def test_the_pages_render_in_a_real_browser(
    ui: Ui, browser: Any, page_path: str, expected: list[str]
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(ui.url + page_path)
        skip = page.get_by_role("button", name="Skip")  # Dagster's newsletter dialog
        for text in expected:
            locator = page.get_by_text(text).first
            deadline = time.monotonic() + 60
            while not locator.is_visible():
                if skip.is_visible():
                    skip.click()
                assert time.monotonic() < deadline, f"{page_path} never showed {text!r}"
                time.sleep(0.5)
    finally:
        page.screenshot(path=str(ui.root / f"{page_path.strip('/').replace('/', '_')}.png"))
        page.close()


def _read_if_still_there(path: Path) -> bytes:
    # SQLite's -wal and -shm files come and go while the daemon writes: one listed a moment ago
    # may be gone (its pages are then in the database file, which is read too).
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _entry(entries: list[dict[str, Any]], label: str) -> dict[str, Any]:
    found = [entry for entry in entries if entry["label"] == label]
    assert found, f"no {label!r} among {[entry['label'] for entry in entries]}"
    return found[0]


def test_dagsters_own_storage_holds_no_address_phone_or_name(ui: Ui) -> None:
    """The event log, run storage and captured logs are out of reach of an erasure: the
    platform writes counts, hashes and file names there, never a person's identifiers."""
    import duckdb

    with duckdb.connect(ui.env["CDP_DUCKDB_PATH"], read_only=True) as db:
        people = db.execute(
            """select email, phone, first_name || ' ' || last_name from cleaned.crm_contacts
            union all
            select email, phone, first_name || ' ' || last_name from cleaned.shop_customers"""
        ).fetchall()
    identifiers = {value for row in people for value in row if value and len(value) >= 8}
    assert len(identifiers) > 100
    stored = [path for path in Path(ui.env["DAGSTER_HOME"]).rglob("*") if path.is_file()]
    assert any(path.suffix == ".db" for path in stored)
    leaks = {
        (str(path.relative_to(ui.env["DAGSTER_HOME"])), value)
        for path in stored
        for content in [_read_if_still_there(path)]
        for value in identifiers
        if value.encode() in content
    }
    assert not leaks, sorted(leaks)[:10]
