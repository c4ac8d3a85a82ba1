"""The whole graph, landing file to audience file, on a small generated dataset.

Three people with known histories are landed beside the generated ones, and the test asserts
what a marketer would check: who is in which segment as of the end of the last day, and who is
exported. Partition 2026-11-03 is evaluated as of 2026-11-04 00:00 UTC.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from platform_assets.cli import main as cli_main
from platform_assets.definitions import defs
from platform_assets.generator import GeneratorConfig, generate
from platform_assets.identity.assets import MODEL_KEY
from resources import ArtifactStore, ExportDirectory, GroundTruth, LandingZone, Warehouse

DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]
LAST_DAY = DAYS[-1]
ASSETS = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
DOMAIN = "knownpeople.org"

PEOPLE = {
    # Added a product to her cart 10 hours before the as-of time and did not buy.
    "cara": {"first_name": "Carolina", "last_name": "Quartermaine", "dob": "1984-03-07"},
    # Bought 3 days and 12 hours before the as-of time.
    "bob": {"first_name": "Bartholomew", "last_name": "Oyelaran", "dob": "1979-11-21"},
    # Bought, then withdrew her marketing consent.
    "wendy": {"first_name": "Wilhelmina", "last_name": "Zabrowska", "dob": "1991-06-30"},
}


def _email(person: str) -> str:
    return f"{person}.known@{DOMAIN}"


def _csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _land(landing: Path, source: str, day: str, name: str, text: str) -> None:
    folder = landing / source / day
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def _land_known_people(landing: Path, skus: list[str]) -> None:
    shop = [
        {
            "customer_id": f"KNOWN-{person.upper()}",
            "first_name": fields["first_name"],
            "last_name": fields["last_name"],
            "email": _email(person),
            "phone": "",
            "date_of_birth": fields["dob"],
            "street_address": "1 Known Street",
            "city": "Leeds",
            "postcode": "LS1 4AP",
            "region": "",
            "country": "GB",
            "created_at": "2026-10-01T09:00:00Z",
            "updated_at": "2026-10-01T09:00:00Z",
        }
        for person, fields in PEOPLE.items()
    ]
    _land(landing, "shop_customers", DAYS[0], "known-people.csv", _csv(shop))
    consent = [
        {
            "subject_email": _email(person),
            "purpose": "email_marketing",
            "status": "granted",
            "recorded_at": "2026-10-01T09:00:00Z",
            "source": "signup",
        }
        for person in PEOPLE
    ]
    _land(landing, "consent", DAYS[0], "known-people.csv", _csv(consent))
    withdrawn = [{**consent[2], "status": "withdrawn", "recorded_at": "2026-11-02T09:00:00Z"}]
    _land(landing, "consent", DAYS[1], "known-people.csv", _csv(withdrawn))

    def order(person: str, at: str, sku: str) -> dict[str, object]:
        return {
            "order_id": f"ORD-KNOWN-{person.upper()}",
            "line_number": 1,
            "customer_id": f"KNOWN-{person.upper()}",
            "ordered_at": at,
            "status": "paid",
            "sku": sku,
            "quantity": 1,
            "unit_price": "25.00",
            "currency": "GBP",
        }

    _land(
        landing,
        "orders",
        DAYS[0],
        "known-people.csv",
        _csv([order("bob", "2026-11-01T12:00:00Z", skus[0])]),
    )
    _land(
        landing,
        "orders",
        DAYS[1],
        "known-people.csv",
        _csv([order("wendy", "2026-11-02T10:00:00Z", skus[1])]),
    )
    cart = {
        "event_id": "evt-known-cara-cart",
        "occurred_at": "2026-11-03T14:00:00Z",
        "anonymous_id": "anon-known-cara",
        "user_id": "KNOWN-CARA",
        "email": None,
        "event_type": "add_to_cart",
        "url": f"https://shop.example.com/p/{skus[2].lower()}",
        "sku": skus[2],
        "quantity": 1,
        "price": "19.99",
        "utm_source": None,
        "utm_campaign": None,
        "device_type": "mobile",
    }
    _land(landing, "web_events", LAST_DAY, "known-people.jsonl", json.dumps(cart) + "\n")


@dataclass
class Graph:
    warehouse: Warehouse
    exports: ExportDirectory
    customer_of: dict[str, str]
    # Per day, the checks Dagster expected from the run and those that reported a result.
    checks_expected: dict[str, set[dg.AssetCheckKey]]
    checks_reported: dict[str, set[dg.AssetCheckKey]]
    resources: dict[str, object]


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    root = tmp_path_factory.mktemp("whole")
    landing, truth = root / "landing", root / "truth"
    generate(
        GeneratorConfig(
            landing_dir=landing,
            truth_dir=truth,
            people=250,
            days=len(DAYS),
            start_date=date.fromisoformat(DAYS[0]),
            seed=3,
            progress=False,
        )
    )
    skus = (
        pl.read_parquet(next((landing / "products" / DAYS[0]).glob("*.parquet")))["sku"]
        .sort()
        .to_list()
    )
    _land_known_people(landing, skus)
    warehouse = Warehouse(database=str(root / "warehouse.duckdb"))
    exports = ExportDirectory(root=str(root / "exports"))
    resources = {
        **(defs.resources or {}),
        "warehouse": warehouse,
        "landing_zone": LandingZone(root=str(landing)),
        "ground_truth": GroundTruth(root=str(truth)),
        "artifacts": ArtifactStore(root=str(root / "artifacts")),
        "export_directory": exports,
    }
    ingest = dg.AssetSelection.groups("raw", "cleaned")
    with pytest.MonkeyPatch.context() as env:
        # dbt opens the file named by CDP_DUCKDB_PATH, which must be the warehouse's.
        env.setenv("CDP_DUCKDB_PATH", str(warehouse.path))
        for day in DAYS:
            dg.materialize(ASSETS, partition_key=day, selection=ingest, resources=resources)
        dg.materialize(ASSETS, selection=dg.AssetSelection.keys(MODEL_KEY), resources=resources)
        rest = dg.AssetSelection.all() - ingest - dg.AssetSelection.keys(MODEL_KEY)
        rest_keys = rest.resolve(defs.resolve_asset_graph())
        expected = {check for a in ASSETS for check in a.check_keys if check.asset_key in rest_keys}
        checks_expected, checks_reported = {}, {}
        for day in DAYS:
            result = dg.materialize(ASSETS, partition_key=day, selection=rest, resources=resources)
            checks_expected[day] = expected
            checks_reported[day] = {
                evaluation.asset_check_key for evaluation in result.get_asset_check_evaluations()
            }
    with duckdb.connect(str(warehouse.path), read_only=True) as connection:
        customer_of = dict(
            connection.execute(
                "select source_record_id, customer_id from identity.customer_records"
                " where valid_to is null and source_record_id like 'KNOWN-%'"
            ).fetchall()
        )
    return Graph(warehouse, exports, customer_of, checks_expected, checks_reported, resources)


def _query(graph: Graph, sql: str, *parameters: object) -> list[tuple]:
    with duckdb.connect(str(graph.warehouse.path), read_only=True) as connection:
        return connection.execute(sql, list(parameters)).fetchall()


def _members(graph: Graph, segment: str) -> set[str]:
    return {
        row[0]
        for row in _query(
            graph,
            "select customer_id from segments.segment_membership"
            " where segment = ? and as_of_date = ?",
            segment,
            date.fromisoformat(LAST_DAY),
        )
    }


def test_a_cart_added_ten_hours_before_the_as_of_time_without_an_order_is_abandoned(
    graph: Graph,
) -> None:
    assert graph.customer_of["KNOWN-CARA"] in _members(graph, "cart_abandoners_24h")
    assert graph.customer_of["KNOWN-CARA"] not in _members(graph, "recent_purchasers_7d")


def test_a_purchase_three_days_ago_makes_a_recent_purchaser(graph: Graph) -> None:
    recent = _members(graph, "recent_purchasers_7d")
    assert {graph.customer_of["KNOWN-BOB"], graph.customer_of["KNOWN-WENDY"]} <= recent
    assert graph.customer_of["KNOWN-BOB"] not in _members(graph, "cart_abandoners_24h")


def test_a_person_who_withdrew_consent_is_in_no_export(graph: Graph) -> None:
    wendy = graph.customer_of["KNOWN-WENDY"]
    for table in ("people", "audience_memberships"):
        rows = _query(graph, f"select count(*) from exports.{table} where customer_id = ?", wendy)
        assert rows == [(0,)], table
    files = list((graph.exports.path / LAST_DAY).glob("*.csv"))
    assert files
    for path in files:
        assert _email("wendy") not in path.read_text()
    # ...while the others, who consented, are exported with their tokens.
    exported = _query(
        graph,
        "select customer_id, email, first_name from exports.people where as_of_date = ?",
        date.fromisoformat(LAST_DAY),
    )
    by_customer = {row[0]: row for row in exported}
    assert by_customer[graph.customer_of["KNOWN-BOB"]][1:] == (_email("bob"), "Bartholomew")
    recent_file = (graph.exports.path / LAST_DAY / "recent_purchasers_7d.csv").read_text()
    assert _email("bob") in recent_file


def test_recommendations_never_repeat_a_product_the_person_already_bought(graph: Graph) -> None:
    repeats = _query(
        graph,
        """
        with owned as (
            select distinct c.customer_id, o.sku
            from cleaned.orders o
            join identity.customer_records c
                on c.source = 'shop_customers' and c.source_record_id = o.customer_id
                and c.valid_to is null
        ),
        recommended as (
            unpivot exports.people
            on recommended_product_1_sku, recommended_product_2_sku, recommended_product_3_sku
            into name slot value sku
        )
        select count(*) from recommended join owned using (customer_id, sku)
        """,
    )
    assert repeats == [(0,)]
    recommended = _query(graph, "select count(recommended_product_1_sku) from exports.people")
    assert recommended[0][0] > 0


def test_every_check_of_the_graph_reports_a_result_every_day(graph: Graph) -> None:
    # Identity, dbt (personas included) and exports in one run per day: dbt runs once, and
    # every check the run planned reports, the facts' relationship tests to dimensions too.
    for day in DAYS:
        missing = graph.checks_expected[day] - graph.checks_reported[day]
        assert not missing, (day, sorted(check.to_user_string() for check in missing))
    assert any("ref_dim_date" in check.name for check in graph.checks_reported[LAST_DAY])


def test_a_subject_export_holds_the_persons_rows_of_every_layer_and_nobody_elses(
    graph: Graph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(graph.warehouse.path))
    document_path = tmp_path / "wendy.json"
    # the address as the person writes it to the data protection officer
    assert cli_main(["export-subject", "--email", " Wendy.Known@KnownPeople.org", "--output",
                     str(document_path)]) == 0  # fmt: skip
    document = json.loads(document_path.read_text())
    assert document["customer_ids"] == [graph.customer_of["KNOWN-WENDY"]]
    tables = document["tables"]
    # every source that holds her, in raw and cleaned; her identity, segments and exports
    assert {"raw.shop_customers", "cleaned.shop_customers", "raw.orders", "cleaned.orders"} < set(
        tables
    )
    assert {"raw.consent", "cleaned.consent", "identity.golden_customers"} < set(tables)
    assert {row["status"] for row in tables["cleaned.consent"]} == {"granted", "withdrawn"}
    assert [row["order_id"] for row in tables["cleaned.orders"]] == ["ORD-KNOWN-WENDY"]
    assert tables["identity.golden_customers"][0]["first_name"] == "Wilhelmina"
    assert "segments.segment_membership" in tables
    # nobody else's: no other known person, no other address anywhere in the document
    text = json.dumps(document)
    assert "Carolina" not in text and "Bartholomew" not in text
    addresses = set(re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", text))
    assert addresses == {_email("wendy")}
    audit = _query(
        graph,
        "select subject, row_count from ops.audit_log where action = 'subject_exported'",
    )
    assert audit == [(graph.customer_of["KNOWN-WENDY"], sum(len(rows) for rows in tables.values()))]
    assert cli_main(["export-subject", "--email", "nobody@nowhere.example"]) == 1


def test_an_identity_preview_reports_what_would_change_and_writes_nothing(
    graph: Graph, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(graph.warehouse.path))
    mapping = "select record_key, customer_id from identity.customer_records where valid_to is null"
    before = sorted(_query(graph, mapping))
    runs = _query(graph, "select count(*) from identity.runs")
    capsys.readouterr()
    assert cli_main(["identity", "preview", "--model", "latest", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # The same model on the same records: (almost) nobody moves, and it says so.
    assert report["customers_before"] == len({customer for _, customer in before})
    assert report["kept_share"] >= 0.99
    segments = {row["segment"]: row for row in report["audiences"]}
    assert segments["cart_abandoners_24h"]["members"] >= 1
    assert all(row["would_leave"] <= row["members"] for row in segments.values())
    assert sorted(_query(graph, mapping)) == before
    assert _query(graph, "select count(*) from identity.runs") == runs


def test_days_of_python_models_leave_no_working_tables_behind(graph: Graph) -> None:
    # personas and persona_centroids are incremental Python models, rebuilt every day
    leftovers = _query(
        graph, "select table_name from duckdb_tables() where contains(table_name, '__dbt_tmp')"
    )
    assert leftovers == []
    assert _query(graph, "select count(distinct as_of_date) from segments.personas") == [
        (len(DAYS),)
    ]


def test_rerunning_an_old_day_keeps_the_later_days_campaign_performance(graph: Graph) -> None:
    performance = dg.AssetKey(["segments", "segment_performance"])
    totals = (
        "select count(*), sum(sends), sum(opens), max(evaluated_at)"
        " from segments.segment_performance"
    )
    before = _query(graph, totals)
    assert before[0][0] > 0 and before[0][1] > 0
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CDP_DUCKDB_PATH", str(graph.warehouse.path))
        result = dg.materialize(
            ASSETS, partition_key=DAYS[0], selection=[performance], resources=graph.resources
        )
    assert result.success
    assert _query(graph, totals) == before


def test_every_customer_is_in_at_most_one_engagement_tier(graph: Graph) -> None:
    tiers = _query(
        graph,
        "select segment, count(*) from segments.segment_membership"
        " where segment like 'engagement_%' and as_of_date = ? group by segment",
        date.fromisoformat(LAST_DAY),
    )
    assert {segment for segment, _ in tiers} >= {"engagement_high", "engagement_none"}
    in_several = _query(
        graph,
        "select customer_id from segments.segment_membership"
        " where segment like 'engagement_%' and as_of_date = ?"
        " group by customer_id having count(*) > 1",
        date.fromisoformat(LAST_DAY),
    )
    assert in_several == []


def _exports_of(graph: Graph, day: str) -> dict[str, object]:
    """What the email platform receives for `day`: the three tables' rows and every file."""
    tables = {
        table: sorted(
            _query(
                graph,
                f"select * from exports.{table} where as_of_date = ?",
                date.fromisoformat(day),
            )
        )
        for table in ("audiences", "people", "audience_memberships")
    }
    folder = graph.exports.path / day
    files = {path.name: path.read_text() for path in sorted(folder.glob("*.csv"))}
    # the manifest names the run that wrote the files: the rest of it must not change
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest.pop("run_id")
    return {"tables": tables, "files": files, "manifest": manifest}


def test_rebuilding_an_early_day_through_the_whole_graph_gives_the_same_exports(
    graph: Graph,
) -> None:
    # Last in this module: it rewrites the warehouse. Rebuilding day 1 rewinds identity to it,
    # so later days' facts name customers the rewound graph does not know yet; the dbt tests
    # judge the rows the run wrote, and the later days are rebuilt after it, as `cdp run` does.
    before = {day: _exports_of(graph, day) for day in DAYS}
    assert before[DAYS[0]]["files"] and before[LAST_DAY]["files"]
    everything = dg.AssetSelection.all() - dg.AssetSelection.keys(MODEL_KEY)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CDP_DUCKDB_PATH", str(graph.warehouse.path))
        first = dg.materialize(
            ASSETS, partition_key=DAYS[0], selection=everything, resources=graph.resources
        )
        assert first.success
        failed = [e for e in first.get_asset_check_evaluations() if not e.passed]
        assert not [e for e in failed if e.severity == dg.AssetCheckSeverity.ERROR]
        assert _exports_of(graph, DAYS[0]) == before[DAYS[0]]
        for day in DAYS[1:]:
            later = dg.materialize(
                ASSETS, partition_key=day, selection=everything, resources=graph.resources
            )
            assert later.success, day
    assert {day: _exports_of(graph, day) for day in DAYS} == before


def _everything_naming(graph: Graph, values: list[str]) -> list[str]:
    """Every table column and file under the test's folder that holds one of the values: the
    test's own scan, beside the one `cdp erase` makes."""
    root = graph.warehouse.path.parent
    found = []
    with duckdb.connect(str(graph.warehouse.path), read_only=True) as connection:
        columns = connection.execute(
            "select schema_name, table_name, column_name from duckdb_columns()"
            " where data_type in ('VARCHAR', 'JSON') and schema_name <> 'ops'"
        ).fetchall()
        for schema, table, column in columns:
            for value in values:
                (count,) = connection.execute(
                    f'select count(*) from {schema}.{table} where contains(lower("{column}"), ?)',
                    [value.lower()],
                ).fetchone() or (0,)
                if count:
                    found.append(f"{schema}.{table}.{column}: {value}")
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix != ".duckdb" and not path.name.endswith(".lock"):
            content = path.read_bytes()
            if path.name.endswith(".gz") or content[:2] == b"\x1f\x8b":
                content = gzip.decompress(content)
            found += [f"{path}: {v}" for v in values if v.lower().encode() in content.lower()]
    return found


def test_an_erased_person_is_gone_from_every_table_and_file_and_a_redelivery_keeps_them_out(
    graph: Graph, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After the rebuild above, on the same warehouse. Cara abandoned a cart on the last day: she
    # is in the segments and an audience file, through her shop record, her consent and a web
    # event tied to her only by visitor and user ids.
    root = graph.warehouse.path.parent
    for name, value in {
        "CDP_DUCKDB_PATH": graph.warehouse.path,
        "CDP_LANDING_DIR": root / "landing",
        "CDP_EXPORT_DIR": graph.exports.path,
        "CDP_ARTIFACT_DIR": root / "artifacts",
    }.items():
        monkeypatch.setenv(name, str(value))
    cara = graph.customer_of["KNOWN-CARA"]
    identifiers = [_email("cara"), cara, "KNOWN-CARA", "anon-known-cara"]
    assert _members(graph, "cart_abandoners_24h") >= {cara}
    redelivered = (root / "landing" / "shop_customers" / DAYS[0] / "known-people.csv").read_bytes()

    # Interrupted half-way: the warehouse transaction done, the second landing file not.
    calls = []
    original = LandingZone.replace_file

    def failing(self: LandingZone, landing_file: object, content: bytes) -> None:
        calls.append(landing_file)
        if len(calls) == 2:
            raise OSError("disk unplugged")
        original(self, landing_file, content)  # type: ignore[arg-type]

    monkeypatch.setattr(LandingZone, "replace_file", failing)
    with pytest.raises(OSError, match="disk unplugged"):
        cli_main(["erase", "--email", _email("cara").upper()])
    assert _query(graph, "select count(*) from identity.golden_customers where customer_id = ?",
                  cara) == [(0,)]  # fmt: skip
    assert any("landing" in line for line in _everything_naming(graph, identifiers))
    monkeypatch.setattr(LandingZone, "replace_file", original)

    # Run again: it finds the erasure through its tombstones and finishes it.
    assert cli_main(["erase", "--email", _email("cara")]) == 0
    assert _everything_naming(graph, identifiers) == []
    (audit,) = _query(graph, "select subject, details from ops.audit_log where action = 'erasure'")
    details = json.loads(audit[1])
    assert details["complete"] and details["run_again"] and details["remaining"] == 0
    assert not any(value.lower() in audit[1].lower() for value in identifiers)
    tombstones = _query(graph, "select kind from ops.erasure_tombstones")
    assert {"email", "customer_id", "id:shop_customers", "visitor", "user"} <= {
        kind for (kind,) in tombstones
    }
    manifest = json.loads((graph.exports.path / LAST_DAY / "manifest.json").read_text())
    assert manifest["erased_after_export"]["cart_abandoners_24h.csv"] == 1

    # The same file lands again, and the last day runs through the whole graph: she stays out.
    _land(root / "landing", "shop_customers", LAST_DAY, "again.csv", redelivered.decode())
    everything = dg.AssetSelection.all() - dg.AssetSelection.keys(MODEL_KEY)
    result = dg.materialize(
        ASSETS, partition_key=LAST_DAY, selection=everything, resources=graph.resources
    )
    assert result.success
    erased_rows = [
        event.materialization.metadata["rows_erased"].value
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey(["raw", "shop_customers"])
    ]
    assert erased_rows == [1]
    assert _everything_naming(graph, identifiers) == []
    assert cara not in _members(graph, "cart_abandoners_24h")
    # the other known people of that file are loaded as before
    assert _query(graph, "select count(*) from raw.shop_customers where _source_file like ?",
                  "%again.csv") == [(2,)]  # fmt: skip
    assert cli_main(["erase", "--customer-id", "cus_nobody"]) == 1
