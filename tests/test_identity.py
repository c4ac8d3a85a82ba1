"""The identity graph: pure rules first, then real Splink on a real DuckDB file, then assets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from platform_assets.definitions import defs
from platform_assets.generator import GeneratorConfig, generate
from platform_assets.identity import graph, model, records, resolve
from platform_assets.identity.accuracy import pairwise_accuracy
from platform_assets.identity.settings import IDENTIFYING_FIELDS
from resources import ArtifactStore, GroundTruth, LandingZone, Warehouse
from tests.conftest import check_results

# --- pure rules ------------------------------------------------------------------------------


def _person(key: str, **fields: object) -> dict[str, object]:
    source = key.split(":", 1)[0]
    base: dict[str, object] = {c: None for c in records.PERSON_COLUMNS}
    base.update(record_key=key, source=source, source_record_id=key.split(":", 1)[1])
    base["observed_at"] = datetime(2026, 11, 1, tzinfo=UTC)
    base.update(fields)
    return base


def _frame(*rows: dict[str, object]) -> pl.DataFrame:
    return pl.DataFrame(
        list(rows),
        schema={
            **{c: pl.Utf8 for c in records.PERSON_COLUMNS},
            "date_of_birth": pl.Date,
            "observed_at": pl.Datetime("us", "UTC"),
        },
    )


def _pairs(edges: pl.DataFrame) -> set[tuple[str, str, str]]:
    return set(edges.select("left_record_key", "right_record_key", "edge_type").iter_rows())


def test_a_shared_family_inbox_does_not_merge_two_people_on_the_email_alone() -> None:
    family = "the.moores@example.org"
    edges = records.email_edges(
        _frame(
            _person(
                "crm_contacts:1",
                first_name="Kristina",
                email=family,
                date_of_birth=date(1975, 1, 2),
            ),
            _person(
                "shop_customers:9", first_name="Mark", email=family, date_of_birth=date(1973, 6, 18)
            ),
            _person("shop_customers:10", first_name="Mark", email=family),
            _person("email_events:" + family, email=family),
        )
    )
    pairs = _pairs(edges)
    assert ("crm_contacts:1", "shop_customers:9", "same_email") not in pairs
    assert ("crm_contacts:1", "shop_customers:10", "same_email") not in pairs
    # Same first name at the same address is the same person.
    assert ("shop_customers:10", "shop_customers:9", "same_email") in pairs
    # The bare address attaches to one anchor only (the CRM record: most trusted source).
    assert {(a, b) for a, b, t in pairs if t == "email_anchor"} == {
        ("crm_contacts:1", "email_events:" + family)
    }


def test_initials_nicknames_confirmed_by_phone_and_swapped_names_still_link_on_email() -> None:
    edges = records.email_edges(
        _frame(
            _person("crm_contacts:1", first_name="Gregory", last_name="Thomson", email="g@x.io"),
            _person("support_tickets:7", first_name="G.", last_name="Thomson", email="g@x.io"),
            _person("crm_contacts:2", first_name="James", email="j@x.io", phone="+447700900123"),
            _person("shop_customers:3", first_name="Jim", email="j@x.io", phone="+447700900123"),
            _person("crm_contacts:4", first_name="Wilcox", last_name="Paige", email="p@x.io"),
            _person("shop_customers:5", first_name="Paige", last_name="Wilcox", email="p@x.io"),
        )
    )
    assert len(edges) == 3 and set(edges["edge_type"]) == {"same_email"}


def test_junk_identifiers_are_scrubbed_before_they_can_link_anyone() -> None:
    scrubbed = records.scrub_junk(
        _frame(
            _person("crm_contacts:1", first_name="Ann", email="test@test.com", phone="+440000000"),
            _person("crm_contacts:2", first_name="n/a", email="noreply@shop.com"),
            _person("crm_contacts:3", first_name="Bob", email="bob@real.org"),
        )
    )
    assert scrubbed["email"].to_list() == [None, None, "bob@real.org"]
    assert scrubbed["phone"].to_list() == [None, None, None]
    assert scrubbed["first_name"].to_list() == ["Ann", None, "Bob"]
    assert records.email_edges(scrubbed).is_empty()


def _clusters(rows: list[tuple[str, str, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema=["record_key", "component", "previous_customer_id"], orient="row"
    )


def test_merging_keeps_the_oldest_id_and_records_the_other_as_merged() -> None:
    old, young = graph.format_customer_id(3), graph.format_customer_id(8)
    assigned = graph.assign_customer_ids(
        _clusters([("a", "a", young), ("b", "a", young), ("c", "a", old), ("d", "a", None)]),
        next_number=20,
    )
    assert set(assigned.customers["customer_id"]) == {old}
    assert assigned.issued == []
    merge = assigned.events.row(0, named=True)
    assert (merge["event_type"], merge["customer_id"], merge["other_customer_id"]) == (
        "merge",
        old,
        young,
    )
    assert merge["record_count"] == 4


def test_a_split_leaves_the_id_with_the_larger_part_and_mints_a_new_one() -> None:
    original = graph.format_customer_id(5)
    assigned = graph.assign_customer_ids(
        _clusters([("a", "a", original), ("b", "a", original), ("c", "c", original)]),
        next_number=6,
    )
    by_record = dict(assigned.customers.iter_rows())
    assert by_record["a"] == by_record["b"] == original
    assert by_record["c"] == graph.format_customer_id(6) == assigned.issued[0]
    split = assigned.events.row(0, named=True)
    assert (split["event_type"], split["other_customer_id"]) == ("split", original)


def test_ids_are_never_reused_even_when_an_old_cluster_disappears() -> None:
    first = graph.assign_customer_ids(_clusters([("a", "a", None), ("b", "b", None)]), 1)
    previous = dict(first.customers.iter_rows())
    merged = graph.assign_customer_ids(
        _clusters([("a", "a", previous["a"]), ("b", "a", previous["b"]), ("c", "c", None)]),
        next_number=3,
    )
    assert merged.issued == [graph.format_customer_id(3)]
    assert merged.issued[0] not in previous.values()


def _edges(*pairs: tuple[str, str, float]) -> pl.DataFrame:
    return pl.DataFrame(
        [(a, b, "splink", p) for a, b, p in pairs],
        schema=["left_record_key", "right_record_key", "edge_type", "match_probability"],
        orient="row",
    )


def _attributes(keys: list[str], emails: list[str | None] | None = None) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "record_key": keys,
            "email": emails or [None] * len(keys),
            "date_of_birth": [None] * len(keys),
        },
        schema={"record_key": pl.Utf8, "email": pl.Utf8, "date_of_birth": pl.Date},
    )


def test_never_link_cuts_the_weakest_edge_between_the_pair() -> None:
    keys = ["a", "b", "c"]
    clustering = graph.cluster(
        pl.Series(keys),
        _edges(("a", "b", 0.999), ("b", "c", 0.96)),
        _attributes(keys),
        pl.DataFrame({"left_record_key": ["a"], "right_record_key": ["c"]}),
    )
    assigned = dict(clustering.assignment.iter_rows())
    assert assigned["a"] == assigned["b"] != assigned["c"]
    assert clustering.cut_edges == 1


def test_a_cluster_with_too_many_emails_keeps_only_its_near_certain_edges() -> None:
    keys = [f"r{i}" for i in range(8)]
    chain = [(keys[i], keys[i + 1], 0.97) for i in range(7)]
    clustering = graph.cluster(
        pl.Series(keys),
        _edges(*chain, ("r0", "r1", 0.9999)),
        _attributes(keys, [f"{k}@x.org" for k in keys]),
        pl.DataFrame(schema={"left_record_key": pl.Utf8, "right_record_key": pl.Utf8}),
    )
    assert clustering.flagged.height == 1
    assert clustering.assignment["component"].n_unique() == 7  # only r0-r1 survive together


def test_pairwise_accuracy_counts_pairs_under_one_cluster() -> None:
    predicted = pl.DataFrame({"record_key": list("abcd"), "cluster": ["1", "1", "1", "2"]})
    truth = pl.DataFrame({"record_key": list("abcd"), "cluster": ["x", "x", "y", "y"]})
    measured = pairwise_accuracy(predicted, truth)
    assert (measured.predicted_pairs, measured.true_pairs, measured.true_positive_pairs) == (
        3,
        2,
        1,
    )
    assert measured.precision == pytest.approx(1 / 3) and measured.recall == pytest.approx(0.5)


# --- real Splink on a generated warehouse ------------------------------------------------------

DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(4)]


@dataclass
class Built:
    root: Path
    landing: Path
    truth: Path
    warehouse: Warehouse
    model_json: str
    model_version: str


def _resources(built: Built, warehouse: Warehouse | None = None) -> dict[str, object]:
    # Every resource the one Definitions binds, with this test's files in place of the defaults.
    return {
        **(defs.resources or {}),
        "warehouse": warehouse or built.warehouse,
        "landing_zone": LandingZone(root=str(built.landing)),
        "artifacts": ArtifactStore(root=str(built.root / "artifacts")),
        "ground_truth": GroundTruth(root=str(built.truth)),
    }


ASSETS = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """400 generated people over four days, through raw and cleaned, and a trained model."""
    root = tmp_path_factory.mktemp("identity")
    landing, truth = root / "landing", root / "truth"
    generate(
        GeneratorConfig(
            landing_dir=landing,
            truth_dir=truth,
            people=400,
            days=len(DAYS),
            start_date=DAYS[0],
            seed=11,
            progress=False,
        )
    )
    warehouse = Warehouse(database=str(root / "warehouse.duckdb"))
    built = Built(root, landing, truth, warehouse, "", "")
    for day in DAYS:
        dg.materialize(
            ASSETS,
            partition_key=day.isoformat(),
            selection=dg.AssetSelection.groups("raw", "cleaned"),
            resources=_resources(built),
        )
    result = dg.materialize(
        ASSETS,
        selection=dg.AssetSelection.keys(dg.AssetKey(["identity", "splink_model"])),
        resources=_resources(built),
    )
    metadata = result.asset_materializations_for_node("identity__splink_model")[0].metadata
    built.model_version = metadata["model_version"].value
    with warehouse.connection() as connection:
        built.model_json = connection.execute(
            "select settings_json from identity.splink_models"
        ).fetchall()[0][0]
    for chart in ("match_weights_chart", "m_u_parameters_chart"):
        assert Path(metadata[chart].value).read_text().lstrip().startswith("<")
    # Splink's dashboards show the sampled records themselves.
    for dashboard in ("comparison_viewer_chart", "cluster_studio_chart"):
        html = Path(metadata[dashboard].value).read_text()
        assert html.lstrip().startswith("<") and "crm_contacts:" in html
    return built


def _copy(built: Built, name: str) -> duckdb.DuckDBPyConnection:
    target = built.root / f"{name}.duckdb"
    target.write_bytes(Path(built.warehouse.path).read_bytes())
    connection = duckdb.connect(str(target))
    connection.execute("set TimeZone = 'UTC'")
    return connection


def _current_clusters(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return connection.execute(
        "select record_key, customer_id as cluster from identity.customer_records"
        " where valid_to is null"
    ).pl()


def test_incremental_days_and_a_full_rebuild_agree(built: Built) -> None:
    now = datetime.now(UTC)
    incremental = _copy(built, "incremental")
    results = [
        resolve.resolve_partition(incremental, day, built.model_json, "v", now) for day in DAYS
    ]
    full = _copy(built, "full")
    resolve.resolve_partition(full, DAYS[-1], built.model_json, "v", now)

    agreement = pairwise_accuracy(_current_clusters(incremental), _current_clusters(full))
    assert agreement.records == _current_clusters(full).height > 1000
    assert agreement.f1 >= 0.99
    # Later days score only their own records, not the whole history again.
    assert results[-1].records_in_window < results[0].records_in_window / 2
    assert all(r.comparisons_scored > 0 for r in results)


def test_rematerializing_an_old_day_rewinds_and_replays_to_the_same_graph(built: Built) -> None:
    now = datetime.now(UTC)
    connection = _copy(built, "rewind")
    for day in DAYS:
        resolve.resolve_partition(connection, day, built.model_json, "v", now)
    before = _current_clusters(connection)
    events_before = connection.execute("select count(*) from identity.identity_events").fetchall()
    replayed = resolve.resolve_partition(connection, DAYS[1], built.model_json, "v", now)
    assert replayed.rewound_from == DAYS[1]
    for day in DAYS[2:]:
        resolve.resolve_partition(connection, day, built.model_json, "v", now)
    assert pairwise_accuracy(_current_clusters(connection), before).f1 == 1.0
    assert connection.execute("select count(*) from identity.identity_events").fetchall() == (
        events_before
    )
    # Ids issued before the rewind are never handed out again.
    issued = connection.execute(
        "select count(*), count(distinct customer_id) from identity.issued_customer_ids"
    ).fetchall()[0]
    assert issued[0] == issued[1]


def test_graph_changes_count_kept_ids_merges_splits_and_moved_records() -> None:
    before = pl.DataFrame(
        {
            "record_key": ["a", "b", "c", "d", "e", "f"],
            "customer_id": ["1", "1", "1", "2", "3", "3"],
        }
    )
    # 1 loses c to a new customer 4 (a split; 1 keeps its id), 2 is merged into 3.
    after = pl.DataFrame(
        {
            "record_key": ["a", "b", "c", "d", "e", "f"],
            "customer_id": ["1", "1", "4", "3", "3", "3"],
        }
    )
    changes = graph.graph_changes(before, after)
    assert (changes.customers_before, changes.customers_after) == (3, 3)
    assert (changes.kept_id, changes.merges, changes.splits, changes.records_moved) == (2, 1, 1, 2)
    assert changes.kept_share == pytest.approx(2 / 3)


def test_a_retrain_re_resolves_every_record_and_customers_keep_their_ids(built: Built) -> None:
    now = datetime.now(UTC)
    connection = _copy(built, "retrain")
    for day in DAYS:
        last_day = resolve.resolve_partition(connection, day, built.model_json, "v1", now)
    before = _current_clusters(connection).rename({"cluster": "customer_id"})
    runs = connection.execute("select count(*) from identity.runs").fetchall()
    # Retrained on part of the records, the model's parameters differ from the first one's.
    profiles = resolve.training_profiles(connection)
    retrained = model.train_model(profiles.sample(fraction=0.7, seed=3))
    assert retrained.version != built.model_version

    preview = resolve.preview(connection, retrained.settings_json, retrained.version, now)
    # The preview wrote nothing.
    assert _current_clusters(connection).rename({"cluster": "customer_id"}).equals(before)
    assert connection.execute("select count(*) from identity.runs").fetchall() == runs

    rebuilt = resolve.rebuild(connection, retrained.settings_json, retrained.version, now)
    after = _current_clusters(connection).rename({"cluster": "customer_id"})
    changes = graph.graph_changes(before, after)
    assert changes == preview.changes
    # Every record was scored again, not only the last day's.
    assert (
        rebuilt.records_in_window > 0 and rebuilt.comparisons_scored > last_day.comparisons_scored
    )
    assert changes.kept_share >= 0.99, changes
    issued = connection.execute(
        "select count(*), count(distinct customer_id) from identity.issued_customer_ids"
    ).fetchall()[0]
    assert issued[0] == issued[1]


def test_graph_assets_materialize_with_passing_checks_and_readable_metadata(
    built: Built, tmp_path: Path
) -> None:
    warehouse = Warehouse(database=str(tmp_path / "assets.duckdb"))
    Path(warehouse.path).write_bytes(Path(built.warehouse.path).read_bytes())
    for day in DAYS[:2]:
        result = dg.materialize(
            ASSETS,
            partition_key=day.isoformat(),
            selection=dg.AssetSelection.groups("identity")
            - dg.AssetSelection.keys(dg.AssetKey(["identity", "splink_model"])),
            resources=_resources(built, warehouse),
        )
        checks = check_results(result)
        failed = {key: c.description for key, c in checks.items() if not c.passed}
        assert not failed
    assert checks[("identity/customer_records", "accuracy")].metadata["f1"].value >= 0.9
    materialized = {
        event.asset_key.to_user_string(): event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    assert set(materialized) == {
        "identity/person_records",
        "identity/edges",
        "identity/customer_records",
        "identity/identity_events",
        "identity/golden_customers",
        "identity/review_queue",
    }
    assert "by_kind" in materialized["identity/review_queue"]
    assert materialized["identity/customer_records"]["customers"].value > 100
    assert "splink" in materialized["identity/edges"]["edges_by_type"].value
    with warehouse.connection() as connection:
        golden = connection.execute(
            "select count(*), count(distinct customer_id), count(email_source)"
            " from identity.golden_customers"
        ).fetchall()[0]
    assert golden[0] == golden[1] > 100 and golden[2] > 0


# --- bad input -------------------------------------------------------------------------------


def _cleaned_warehouse(connection: duckdb.DuckDBPyConnection, crm_rows: list[dict]) -> None:
    """Empty cleaned tables of every person source, with these CRM rows."""
    from platform_assets.cleaned.schemas import MODELS, cleaned_columns

    connection.execute("create schema cleaned")
    for source in ("crm_contacts", "shop_customers", "support_tickets", "email_events"):
        schema = MODELS[source].to_schema()
        columns = cleaned_columns(source)
        empty = pl.DataFrame(schema={c: schema.columns[c].dtype.type for c in columns})
        frame = (
            pl.concat([empty, pl.DataFrame(crm_rows)], how="diagonal_relaxed").select(columns)
            if source == "crm_contacts"
            else empty
        )
        connection.register("frame", frame.to_arrow())
        connection.execute(f"create table cleaned.{source} as select * from frame")
        connection.unregister("frame")
    schema = MODELS["web_events"].to_schema()
    empty = pl.DataFrame(
        schema={c: schema.columns[c].dtype.type for c in cleaned_columns("web_events")}
    )
    connection.register("frame", empty.to_arrow())
    connection.execute("create table cleaned.web_events as select * from frame")


def _crm(contact_id: str, **fields: object) -> dict[str, object]:
    return {
        "contact_id": contact_id,
        "updated_at": datetime(2026, 10, 1, tzinfo=UTC),
        "_partition_date": DAYS[0],
        "_source_file": "crm_contacts/x.csv",
        "_row_number": int(contact_id.strip("c") or 0),
        **fields,
    }


def test_records_with_nothing_identifying_get_their_own_customer_and_join_no_one(
    built: Built, tmp_path: Path
) -> None:
    connection = duckdb.connect(str(tmp_path / "empty.duckdb"))
    _cleaned_warehouse(connection, [_crm(f"c{i}") for i in range(1, 6)])
    result = resolve.resolve_partition(
        connection, DAYS[0], built.model_json, "v", datetime.now(UTC)
    )
    assert result.comparisons_scored == 0
    customers = _current_clusters(connection)
    assert customers.height == 5 and customers["cluster"].n_unique() == 5


def test_identical_records_repeated_many_times_cost_one_comparison(
    built: Built, tmp_path: Path
) -> None:
    same = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.org",
        "date_of_birth": date(1990, 12, 10),
        "phone": "+447700900001",
    }
    connection = duckdb.connect(str(tmp_path / "repeated.duckdb"))
    _cleaned_warehouse(connection, [_crm(f"c{i}", **same) for i in range(1, 2001)])
    result = resolve.resolve_partition(
        connection, DAYS[0], built.model_json, "v", datetime.now(UTC)
    )
    assert result.comparisons_scored <= 2  # the profile against its twin, not 2,000,000 pairs
    customers = _current_clusters(connection)
    assert customers.height == 2000 and customers["cluster"].n_unique() == 1


def test_overrides_split_and_join_records_and_malformed_rows_are_quarantined(
    built: Built, tmp_path: Path
) -> None:
    warehouse = Warehouse(database=str(tmp_path / "overrides.duckdb"))
    Path(warehouse.path).write_bytes(Path(built.warehouse.path).read_bytes())
    with warehouse.connection() as connection:
        resolve.resolve_partition(connection, DAYS[0], built.model_json, "v", datetime.now(UTC))
        together = connection.execute(
            """select min(record_key), max(record_key) from identity.customer_records
            where valid_to is null
                and (record_key like 'crm_contacts:%' or record_key like 'shop_customers:%')
            group by customer_id having count(*) = 2 limit 1"""
        ).fetchall()[0]
        apart = connection.execute(
            """select record_key from identity.customer_records
            where valid_to is null and record_key like 'crm_contacts:%' limit 2"""
        ).fetchall()
    lines = [
        "left_record_key,right_record_key,rule,reason",
        f"{together[0]},{together[1]},never_link,steward: two people",
        f"{apart[0][0]},{apart[1][0]},always_link,steward: same person",
        "crm_contacts:1,not-a-key,never_link,typo",
        f"{together[0]},{together[0]},always_link,same record",
        f"{together[0]},{apart[0][0]},merge_please,unknown rule",
    ]
    day = DAYS[1].isoformat()
    path = built.landing.parent / "override-landing" / "identity_overrides" / day
    path.mkdir(parents=True)
    (path / "overrides.csv").write_text("\n".join(lines) + "\n")
    resources = _resources(built, warehouse) | {
        "landing_zone": LandingZone(root=str(path.parent.parent))
    }
    dg.materialize(
        ASSETS,
        partition_key=day,
        selection=dg.AssetSelection.keys(
            dg.AssetKey(["raw", "identity_overrides"]),
            dg.AssetKey(["cleaned", "identity_overrides"]),
        ),
        resources=resources,
    )
    with warehouse.connection() as connection:
        quarantined = connection.execute(
            "select failed_rules from cleaned.identity_overrides_quarantine order by 1"
        ).fetchall()
        assert len(quarantined) == 3
        reasons = " ".join(r[0] for r in quarantined)
        assert "record_key_malformed" in reasons and "pairs_record_with_itself" in reasons
        resolve.resolve_partition(connection, DAYS[1], built.model_json, "v", datetime.now(UTC))
        mapping = dict(
            connection.execute(
                "select record_key, customer_id from identity.customer_records"
                " where valid_to is null"
            ).fetchall()
        )
    assert mapping[together[0]] != mapping[together[1]]
    assert mapping[apart[0][0]] == mapping[apart[1][0]]


def test_the_model_asset_fails_clearly_without_person_records(built: Built, tmp_path: Path) -> None:
    warehouse = Warehouse(database=str(tmp_path / "nobody.duckdb"))
    with warehouse.connection() as connection:
        _cleaned_warehouse(connection, [])
    result = dg.materialize(
        ASSETS,
        selection=dg.AssetSelection.keys(dg.AssetKey(["identity", "splink_model"])),
        resources=_resources(built, warehouse),
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "Not enough person records" in failure.step_failure_data.error.message


def test_drift_sensor_skips_a_fresh_model_and_asks_a_retrain_once_the_records_grew(
    built: Built,
) -> None:
    from sensors import identity_model_drift_sensor

    instance = dg.DagsterInstance.ephemeral()
    fresh = identity_model_drift_sensor(
        dg.build_sensor_context(instance=instance, resources={"warehouse": built.warehouse})
    )
    assert isinstance(fresh, dg.SkipReason) and built.model_version in str(fresh.skip_message)

    # The same records against a model that saw a fifth of them: growth past the threshold.
    drifted = _copy(built, "drifted")
    drifted.execute("update identity.splink_models set training_profiles = training_profiles // 5")
    drifted.close()
    warehouse = Warehouse(database=str(built.root / "drifted.duckdb"))
    result = identity_model_drift_sensor(
        dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
    )
    assert isinstance(result, dg.SensorResult)
    assert [r.run_key for r in result.run_requests or []] == [f"retrain-{built.model_version}"]


def test_a_correction_is_the_golden_records_most_trusted_source_and_is_audited(
    built: Built, tmp_path: Path
) -> None:
    warehouse = Warehouse(database=str(tmp_path / "corrections.duckdb"))
    Path(warehouse.path).write_bytes(Path(built.warehouse.path).read_bytes())
    graph_keys = dg.AssetSelection.groups("identity") - dg.AssetSelection.keys(
        dg.AssetKey(["identity", "splink_model"])
    )
    dg.materialize(
        ASSETS, partition_key=DAYS[0].isoformat(), selection=graph_keys,
        resources=_resources(built, warehouse),
    )  # fmt: skip
    with warehouse.connection() as connection:
        customer, first_name = connection.execute(
            "select customer_id, first_name from identity.golden_customers"
            " where first_name is not null and email is not null order by customer_id limit 1"
        ).fetchall()[0]
    day = DAYS[1].isoformat()
    lines = [
        "customer_id,field,value,reason,requested_at",
        f"{customer},first_name,Corrected,my name is misspelt,{day}T08:00:00Z",
        f"{customer},first_name,Older,an earlier request,{day}T07:00:00Z",
        f"{customer},email,Right.Address@Example.org,moved address,{day}T08:00:00Z",
        f"{customer},phone,not a phone,typo,{day}T08:00:00Z",
        f"{customer},date_of_birth,1990-02-30,no such day,{day}T08:00:00Z",
        f"{customer},shoe_size,44,not a field,{day}T08:00:00Z",
        f"cus_999999999999,city,Leeds,unknown person,{day}T08:00:00Z",
    ]
    path = built.landing.parent / "correction-landing" / "profile_corrections" / day
    path.mkdir(parents=True)
    (path / "corrections.csv").write_text("\n".join(lines) + "\n")
    resources = _resources(built, warehouse) | {
        "landing_zone": LandingZone(root=str(path.parent.parent))
    }
    dg.materialize(
        ASSETS,
        partition_key=day,
        selection=dg.AssetSelection.keys(
            dg.AssetKey(["raw", "profile_corrections"]),
            dg.AssetKey(["cleaned", "profile_corrections"]),
        ),
        resources=resources,
    )
    result = dg.materialize(ASSETS, partition_key=day, selection=graph_keys, resources=resources)
    with warehouse.connection() as connection:
        quarantined = connection.execute(
            "select failed_rules from cleaned.profile_corrections_quarantine order by 1"
        ).fetchall()
        golden = connection.execute(
            "select first_name, first_name_source, email, email_source, record_count"
            " from identity.golden_customers where customer_id = ?",
            [customer],
        ).fetchall()[0]
        audit = connection.execute(
            "select action, subject, details->>'field' from ops.audit_log"
            " where action like 'correction%' order by all"
        ).fetchall()
    # the bad phone, the impossible date and the unknown field are quarantined with reasons
    assert len(quarantined) == 3 and "value_unfit_for_field" in str(quarantined)
    # the latest request per field wins over every source; the record count is the records'
    assert golden[0] == "Corrected" and golden[0] != first_name
    assert golden[1] == f"profile_corrections:{customer}:first_name"
    assert golden[2] == "right.address@example.org"
    assert golden[3] == f"profile_corrections:{customer}:email"
    assert golden[4] >= 1
    golden_metadata = result.asset_materializations_for_node("identity_graph")
    assert any(m.metadata.get("customers_corrected") for m in golden_metadata)
    # audited per request, the field and never the value
    assert audit == [
        ("correction_applied", customer, "email"),
        ("correction_applied", customer, "first_name"),
        ("correction_applied", customer, "first_name"),
        ("correction_unknown", "cus_999999999999", "city"),
    ]


def test_the_review_queue_shows_uncertain_pairs_with_their_waterfall_until_a_steward_decides(
    built: Built, tmp_path: Path
) -> None:
    import json

    born = date(1975, 3, 14)
    margaret = {
        "first_name": "Margaret",
        "last_name": "Thornton",
        "city": "Leeds",
        "postcode": "LS1 4AB",
        "street_address": "12 Park Row",
    }
    # One person written several ways, and relatives and namesakes who share some of it.
    people = [
        {**margaret, "date_of_birth": born, "email": "m.thornton@example.org"},
        {
            "first_name": "Peter",
            "last_name": "Thornton",
            **{k: margaret[k] for k in margaret if k not in ("first_name", "last_name")},
        },
        {
            "first_name": "Margaret",
            "last_name": "Thornton",
            "date_of_birth": date(1982, 7, 1),
            "city": "York",
        },
        {"first_name": "Margarita", "last_name": "Thornton", "date_of_birth": born, "city": "York"},
        {"first_name": "Margaret", "last_name": "Thompson", "date_of_birth": born},
        {
            "first_name": "Margaret",
            "last_name": "Thornton",
            "date_of_birth": date(1976, 3, 14),
            "city": "Leeds",
        },
        {"first_name": "Maria", "last_name": "Thornton", "postcode": "LS1 4AB"},
        {"first_name": "Margret", "last_name": "Thornton", "city": "Leeds", "postcode": "LS1 4AB"},
        {"first_name": "Margaret", "last_name": "Thornton", "date_of_birth": date(1975, 4, 14)},
        {"first_name": "Maggie", "last_name": "Thornton", "postcode": "LS1 4AB"},
    ]
    connection = duckdb.connect(str(tmp_path / "review.duckdb"))
    _cleaned_warehouse(connection, [_crm(f"c{i}", **person) for i, person in enumerate(people, 1)])
    resolve.resolve_partition(connection, DAYS[0], built.model_json, "v", datetime.now(UTC))

    queue = connection.execute("select * from identity.review_queue").pl()
    assert queue.height > 0
    assert (queue["left_customer_id"] != queue["right_customer_id"]).all()
    uncertain = queue.filter(pl.col("kind") == "uncertain")
    assert uncertain["match_probability"].is_between(0.5, 0.95, closed="left").all()
    assert set(queue["suggested_decision"]) <= {"always_link", "never_link"}
    assert queue["left_first_name"].is_not_null().all()
    # Splink's waterfall: the prior and every comparison, adding up to the pair's match weight.
    for row in queue.iter_rows(named=True):
        steps = json.loads(row["contributions"])
        assert steps[0]["comparison"] == "prior"
        assert {step["comparison"] for step in steps} >= {"first_name_last_name", "email", "city"}
        total = sum(step["match_weight"] for step in steps if step["match_weight"] is not None)
        assert total == pytest.approx(row["match_weight"], abs=0.05)

    # A pair a steward decided is not asked again.
    first = queue.row(0, named=True)
    decided = pl.DataFrame(
        {
            "left_record_key": [first["left_record_key"]],
            "right_record_key": [first["right_record_key"]],
            "rule": ["never_link"],
        }
    )
    current = connection.execute(
        "select * from identity.person_records where valid_to is null"
    ).pl()
    edges = connection.execute("select * from identity.edges where valid_to is null").pl()
    customers = connection.execute(
        "select record_key, customer_id from identity.customer_records where valid_to is null"
    ).pl()
    again = resolve.review_queue(
        built.model_json, records.scrub_junk(current), edges, customers, decided, DAYS[0]
    )
    asked = set(zip(again["left_record_key"], again["right_record_key"], strict=True))
    assert len(asked) == queue.height - 1
    assert (first["left_record_key"], first["right_record_key"]) not in asked


def _first_level(levels: list, pair: dict[str, str | None]) -> str:
    """The label of the first comparison level whose SQL holds for the pair (Splink's order)."""
    with duckdb.connect() as db:
        db.execute(
            "create table p as select " + ", ".join(f"?::varchar as {column}" for column in pair),
            list(pair.values()),
        )
        for level in levels:
            if level.is_null_level:
                continue
            if level.sql_condition.strip().upper() == "ELSE":
                return level.label_for_charts
            if db.execute(f"select ({level.sql_condition}) from p").fetchone()[0]:
                return level.label_for_charts
    raise AssertionError("no level holds")


def test_names_in_each_others_columns_meet_in_a_block_and_score_their_own_level() -> None:
    settings = model.splink_settings()
    levels = settings.comparisons[0].get_comparison("duckdb").comparison_levels

    def names(left: tuple[str, str], right: tuple[str, str]) -> dict[str, str | None]:
        return {
            "first_name_l": left[0], "last_name_l": left[1], "full_name_l": " ".join(left),
            "first_name_r": right[0], "last_name_r": right[1], "full_name_r": " ".join(right),
        }  # fmt: skip

    swapped_with_typo = names(("Louis", "Zierholz"), ("Zierhlz", "Louis"))
    assert _first_level(levels, swapped_with_typo).startswith("Swapped, Jaro-Winkler")
    one_crossed = names(("Madison", "Noyce"), ("Noyce", "Liam"))
    assert _first_level(levels, one_crossed) == "One name in the other's other column"
    # A plain typo and two strangers keep Splink's own levels.
    assert "0.92" in _first_level(levels, names(("Louis", "Zierholz"), ("Louis", "Zierhloz")))
    assert (
        _first_level(levels, names(("Ann", "Berry"), ("Tom", "Clark"))) == "All other comparisons"
    )

    # The swapped-with-typos pair shares no field exactly but its birth date: a block that
    # crosses the initials finds it, whichever record Splink puts on the left.
    louis = {"first_name": "Louis", "last_name": "Zierholz", "date_of_birth": "1966-10-15",
             "postcode": "5520"}  # fmt: skip
    zierhlz = {"first_name": "Zierhlz", "last_name": "Louis", "date_of_birth": "1966-10-15",
               "postcode": "5250"}  # fmt: skip
    assert _rules_pairing(louis, zierhlz), "no blocking rule pairs louis with zierhlz"
    assert _rules_pairing(zierhlz, louis), "no blocking rule pairs zierhlz with louis"


def test_a_slipped_birth_year_and_one_close_name_score_their_own_levels() -> None:
    """A year one or ten apart with the day close, and a single close name, are levels of their
    own: Splink's else level is left to pairs that really differ."""
    comparisons = model.splink_settings().comparisons
    names = comparisons[0].get_comparison("duckdb").comparison_levels
    births = comparisons[1].get_comparison("duckdb").comparison_levels

    def born(left: str, right: str) -> dict[str, str | None]:
        return {"date_of_birth_l": left, "date_of_birth_r": right}

    assert _first_level(births, born("1974-10-05", "1984-10-03")).startswith("Year 1 or 10")
    assert _first_level(births, born("1993-03-01", "1994-03-04")).startswith("Year 1 or 10")
    assert _first_level(births, born("1974-10-05", "1984-03-03")) == "All other comparisons"
    assert _first_level(births, born("1974-10-05", "1982-10-05")) == "All other comparisons"

    def pair(left: tuple[str | None, str | None], right: tuple[str | None, str | None]) -> dict:
        full = [" ".join(p for p in side if p) for side in (left, right)]
        return {
            "first_name_l": left[0], "last_name_l": left[1], "full_name_l": full[0],
            "first_name_r": right[0], "last_name_r": right[1], "full_name_r": full[1],
        }  # fmt: skip

    assert _first_level(names, pair((None, "pricie"), ("isla", "price"))) == (
        "Jaro-Winkler distance of last_name >= 0.88"
    )
    assert _first_level(names, pair(("elizabeth", None), ("elizaeth", "wright"))).startswith(
        "First name Jaro-Winkler >= 0.88"
    )
    # A close first name with two different last names is a household's, not one person's.
    assert (
        _first_level(names, pair(("jayden", "markellos"), ("jade", "markakis")))
        == "All other comparisons"
    )


def _profile(unique_id: str, first: str, last: str, born: str, **fields: str) -> dict[str, object]:
    """A profile in Splink's shape (`model.splink_input`)."""
    return {
        "unique_id": unique_id, "first_name": first, "last_name": last,
        "full_name": f"{first} {last}", "email": fields.get("email"), "phone": fields.get("phone"),
        "date_of_birth": born, "street_address": fields.get("street", "12 mill lane"),
        "city": fields.get("city", "leeds"), "postcode": fields.get("postcode", "LS11AA"),
    }  # fmt: skip


def test_a_pair_without_emails_is_scored_and_a_contradicted_pair_is_never_one_person(
    built: Built,
) -> None:
    profiles = pl.DataFrame(
        [
            # One person: a first-name typo and a birth-date typo, no email on either record.
            _profile("a1", "aiden", "sonnet", "1980-03-01"),
            _profile("a2", "abbie", "sonnet", "1980-03-10"),
            # Two people: the surname and the town agree; the first names and the birth dates
            # (seventeen years apart) do not, and no postcode or phone joins them.
            _profile("b1", "henry", "simmons", "2002-09-15", postcode="LS29ZZ"),
            _profile("b2", "clara", "simmons", "2019-01-31", postcode="LS61QB"),
            # Two people: one birth date and one town, every name and the address different.
            _profile("c1", "lucas", "cook", "1991-05-06", postcode="LS29ZZ", street="4 park road"),
            _profile("c2", "isaac", "james", "1991-05-06", postcode="LS61QB", street="9 oak hill"),
        ],
        schema_overrides={"email": pl.Utf8, "phone": pl.Utf8},
    ).pipe(model.splink_input)
    scored = model.score_pairs(built.model_json, profiles, profiles.clear(), floor=0.0)
    pairs = {tuple(sorted(pair)) for pair in scored.select("unique_id_l", "unique_id_r").rows()}
    # A missing email is no shared inbox: the pair is scored (it was dropped, once, because
    # `email_l = email_r` is null there).
    assert ("a1", "a2") in pairs
    assert ("b1", "b2") not in pairs
    assert ("c1", "c2") not in pairs

    with duckdb.connect() as db:
        contradicted = records.contradicted_sql("{}_l", "{}_r")

        def judged(left: tuple[object, ...], right: tuple[object, ...]) -> bool:
            names = ("first_name", "last_name", "date_of_birth", "phone", "postcode")
            columns = [f"? as {n}_l" for n in names] + [f"? as {n}_r" for n in names]
            return bool(
                db.execute(
                    f"select coalesce({contradicted}, false) from (select {', '.join(columns)})",
                    [*left, *right],
                ).fetchone()[0]
            )

        henry = ("henry", "day", "2002-09-15", None, "LS29ZZ")
        assert judged(henry, ("clara", "day", "2019-01-31", None, "LS61QB"))
        # one typo (ten years), within a year, a shared phone or postcode, a
        # similar first name, an initial, a missing date: not a contradiction
        for other in [
            ("clara", "day", "2002-09-16", None, "LS61QB"),
            ("clara", "day", "2012-09-15", None, "LS61QB"),
            ("clara", "day", "2003-06-01", None, "LS61QB"),
            ("clara", "day", "2019-01-31", None, "LS29ZZ"),
            ("clara", "day", "2019-01-31", None, "LS29ZY"),  # the postcode with a typo
            ("henri", "day", "2019-01-31", None, "LS61QB"),
            ("h.", "day", "2019-01-31", None, "LS61QB"),
            ("clara", "day", None, None, "LS61QB"),
        ]:
            assert not judged(henry, other), other
        assert not judged(
            ("henry", "day", "2002-09-15", "0113", None),
            ("clara", "day", "2019-01-31", "0113", None),
        )


def test_records_with_two_different_names_and_nothing_else_in_common_are_strangers() -> None:
    columns = ("first_name", "last_name", "email", "phone", "street_address", "postcode")
    strangers = records.strangers_sql("{}_l", "{}_r")

    def judged(left: tuple[object, ...], right: tuple[object, ...]) -> bool:
        names = [f"? as {c}_l" for c in columns] + [f"? as {c}_r" for c in columns]
        with duckdb.connect() as db:
            return bool(
                db.execute(
                    f"select coalesce({strangers}, false) from (select {', '.join(names)})",
                    [*left, *right],
                ).fetchone()[0]
            )

    lucas = ("lucas", "cook", None, None, "4 park road", "LS29ZZ")
    assert judged(lucas, ("isaac", "james", None, None, "9 oak hill", "LS61QB"))
    # a similar or missing name, names in each other's columns, or anything of the address or
    # the contact details in common: the model judges the pair
    for other in [
        ("isaac", "cooke", None, None, "9 oak hill", "LS61QB"),
        ("lukas", "james", None, None, "9 oak hill", "LS61QB"),
        ("isaac", None, None, None, "9 oak hill", "LS61QB"),
        ("cook", "james", None, None, "9 oak hill", "LS61QB"),
        ("isaac", "lucas", None, None, "9 oak hill", "LS61QB"),
        ("isaac", "james", None, None, "9 oak hill", "LS29ZY"),
        ("isaac", "james", None, None, "4 park raod", "LS61QB"),
    ]:
        assert not judged(lucas, other), other
    assert not judged(
        ("lucas", "cook", "lc@example.org", None, None, None),
        ("isaac", "james", "lc@example.org", None, None, None),
    )
    assert not judged(
        ("lucas", "cook", None, "+441130000001", None, None),
        ("isaac", "james", None, "+441130000001", None, None),
    )


def test_a_street_a_town_and_a_postcode_each_mistyped_still_meet_in_a_block() -> None:
    # FEBRL 4's records of one person that no rule paired: every field with an exact value in
    # common in a rule had a typo. (first, last, born, street, city, postcode)
    pairs = [
        # the house number and the surname's first letters
        (
            ("oliver", "webb", "1922-04-09", "10 melrose drive", "south perth", "3078"),
            ("hamish", "web", "1920-04-09", "10 melrose rdive", "south erth", "3074"),
        ),
        # the street's name at the postcode, the house number mistyped
        (
            ("harrison", "mason", None, "132 kingstown street", "hobartville", "2234"),
            ("wheatley", "harrison", None, "352 kingstown street", "hobarville", "2234"),
        ),
        # the birth date and the town's first letters
        (
            ("tristan", "shepherdson", "1917-01-29", "33 benson crescent", "brighton", "4356"),
            ("mikhayla", "clacke", "1917-01-29", "33 benson drescent", "brigton", "3456"),
        ),
    ]
    fields = ("first_name", "last_name", "date_of_birth", "street_address", "city", "postcode")
    for left, right in pairs:
        pairing = _rules_pairing(
            dict(zip(fields, left, strict=True)), dict(zip(fields, right, strict=True))
        )
        assert pairing, f"no blocking rule pairs {left} with {right}"


def test_soundex_codes_names_as_american_soundex_does() -> None:
    names = pl.Series(
        "last_name", ["Robert", "Rupert", "Ashcraft", "Tymczak", "Pfister", "Honeyman", "hrvey"]
    )
    codes = model.soundex(names)
    assert codes.name == "last_name_soundex"
    assert codes.to_list() == ["R163", "R163", "A261", "T522", "P236", "H555", "H610"]
    assert model.soundex(pl.Series(["Acuña", "-", None])).to_list() == ["A250", None, None]


def test_names_mistyped_beside_a_birth_year_or_town_off_still_meet_in_a_block() -> None:
    # Records of one person, after fake_1000's, that no rule paired before the Soundex and the
    # crossed-name-with-birthday rules: every field a rule fixed had a typo or was missing.
    # (first, last, born, city)
    pairs = [
        # the town with the last name's sound: it is mistyped, the first name missing
        (
            ("ellis", "harvey", "2004-02-19", "peterborough"),
            (None, "hrvey", "2005-02-17", "peterborough"),
        ),
        # one name in the other's other column with the birthday, the year ten off
        (("logan", "sergufon", "2023-11-14", "london"), ("ferguson", "logan", "2013-11-14", None)),
        # both names' sounds with the town's first letter
        (
            ("lydia", "brookks", "2016-02-13", "liverpool"),
            ("lyida", "brooks", "2026-02-10", "livrpool"),
        ),
    ]
    fields = ("first_name", "last_name", "date_of_birth", "city")
    for left, right in pairs:
        pairing = _rules_pairing(
            dict(zip(fields, left, strict=True)), dict(zip(fields, right, strict=True))
        )
        assert pairing, f"no blocking rule pairs {left} with {right}"


def _rules_pairing(left: Mapping[str, str | None], right: Mapping[str, str | None]) -> list[str]:
    """The prediction blocking rules under which two records meet (the fields not given are
    missing), in Splink's shape (`model.splink_input`: some rules read derived columns)."""
    fields = dict.fromkeys(IDENTIFYING_FIELDS)
    raw = pl.DataFrame(
        [{**fields, **left}, {**fields, **right}], schema=dict.fromkeys(fields, pl.Utf8)
    ).with_columns(pl.Series("unique_id", ["1", "2"]))
    rules = [
        rule.get_blocking_rule("duckdb").blocking_rule_sql
        for rule in model.splink_settings().blocking_rules_to_generate_predictions
    ]
    with duckdb.connect() as db:
        db.register("records", model.splink_input(raw).to_arrow())
        return [
            rule
            for rule in rules
            if db.execute(
                "select count(*) from records l, records r where l.unique_id = '1'"
                f" and r.unique_id = '2' and ({rule})"
            ).fetchone()[0]
        ]
