"""One partition of the identity graph: the previous graph plus one window of new records.

`resolve_partition` reads the current graph and the window's records, decides everything in
memory (pure functions of `records`, `model` and `graph`), then writes every table in one
transaction. A daily run therefore costs what the day's records cost: only the records that
are new or changed are scored, and only the clusters they touch are re-clustered.

A full rebuild is the same function run once over an empty graph with every record in the
window; a test holds the two to the same clustering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb
import polars as pl

from platform_assets.checks import create_table_sql
from platform_assets.identity import graph, model, records, settings
from platform_assets.identity.golden import CORRECTIONS_TABLE, GOLDEN_SQL, golden_sql
from platform_assets.identity.schemas import SCHEMAS
from resources import WarehouseSession

SCHEMA = "identity"

# The tables of the contract (docs/identity-graph.md) are created from their pandera schemas,
# the ones their `schema` checks validate against; the run log and the issued ids are the
# graph's own bookkeeping. golden_customers is created from its query (ensure_tables).
CONTRACT_TABLES = ("person_records", "edges", "customer_records", "identity_events", "review_queue")
TABLES_DDL = "\n".join(
    [
        f"create schema if not exists {SCHEMA};",
        *(create_table_sql(f"{SCHEMA}.{table}", SCHEMAS[table]) for table in CONTRACT_TABLES),
        f"""
create table if not exists {SCHEMA}.issued_customer_ids (
    customer_id varchar not null, issued_partition date not null, issued_at timestamptz not null,
    record_key varchar
);
alter table {SCHEMA}.issued_customer_ids add column if not exists record_key varchar;
create table if not exists {SCHEMA}.runs (
    partition_date date not null, window_after date, model_version varchar not null,
    records_scored bigint, comparisons_scored bigint, recorded_at timestamptz not null
);
""",
    ]
)

VERSIONED_TABLES = ("person_records", "edges", "customer_records")


def ensure_tables(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute(TABLES_DDL)
    connection.execute(
        f"create table if not exists {SCHEMA}.golden_customers as "
        + GOLDEN_SQL.replace("$customer_filter", "false").replace("$p", "current_date")
    )


@dataclass
class PartitionResult:
    partition: date
    window_after: date | None
    records_in_window: int = 0
    new_records: int = 0
    changed_records: int = 0
    corrections: int = 0  # customers whose correction landed in the window
    edges_added: dict[str, int] = field(default_factory=dict)
    edges_retired: int = 0
    comparisons_scored: int = 0
    customers_touched: int = 0
    events: dict[str, int] = field(default_factory=dict)
    suspicious_clusters: int = 0
    edges_cut_by_guards: int = 0
    rewound_from: date | None = None
    review_by_kind: dict[str, int] = field(default_factory=dict)
    review_suggested: dict[str, int] = field(default_factory=dict)


def rewind(connection: duckdb.DuckDBPyConnection, partition: date) -> bool:
    """Bring the graph back to the end of the day before `partition`. True if anything moved."""
    later = connection.execute(
        f"select count(*) from {SCHEMA}.runs where partition_date >= $p", {"p": partition}
    ).fetchall()[0][0]
    if not later:
        return False
    for table in VERSIONED_TABLES:
        connection.execute(f"delete from {SCHEMA}.{table} where valid_from >= $p", {"p": partition})
        connection.execute(
            f"update {SCHEMA}.{table} set valid_to = null where valid_to >= $p", {"p": partition}
        )
    connection.execute(
        f"delete from {SCHEMA}.identity_events where partition_date >= $p", {"p": partition}
    )
    connection.execute(f"delete from {SCHEMA}.runs where partition_date >= $p", {"p": partition})
    connection.execute(f"delete from {SCHEMA}.golden_customers")
    connection.execute(
        f"insert into {SCHEMA}.golden_customers "
        + golden_sql(_has_corrections(connection)).replace("$customer_filter", "true"),
        {"p": partition - timedelta(days=1)},
    )
    return True


def _has_corrections(connection: duckdb.DuckDBPyConnection) -> bool:
    schema, table = CORRECTIONS_TABLE.split(".")
    found = connection.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?"
        " and database_name = current_database()",
        [schema, table],
    ).fetchall()
    return bool(found[0][0])


def _corrected_customers(
    connection: duckdb.DuckDBPyConnection, after: date | None, until: date
) -> pl.Series:
    """Customers with a correction landed after `after`, up to `until`."""
    if not _has_corrections(connection):
        return pl.Series("customer_id", [], dtype=pl.Utf8)
    return connection.execute(
        f"select distinct customer_id from {CORRECTIONS_TABLE}"
        " where _partition_date <= $until and ($after is null or _partition_date > $after)",
        {"after": after, "until": until},
    ).pl()["customer_id"]


def _current(connection: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    return connection.execute(f"select * from {SCHEMA}.{table} where valid_to is null").pl()


def _window_records(
    connection: duckdb.DuckDBPyConnection, after: date | None, until: date
) -> pl.DataFrame:
    return connection.execute(records.RECORDS_SQL, {"after": after, "until": until}).pl()


def _profiles(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per distinct identifying profile, represented by its smallest record key."""
    return (
        frame.with_columns(model.profile_id().alias("profile"))
        .sort("record_key")
        .group_by("profile", maintain_order=True)
        .agg(
            pl.col("record_key").first().alias("representative"),
            pl.col("record_key").alias("members"),
            *[pl.col(c).first() for c in settings.IDENTIFYING_FIELDS],
        )
    )


def splink_edges(
    model_json: str, scored_records: pl.DataFrame, existing_records: pl.DataFrame
) -> tuple[pl.DataFrame, int]:
    """Splink edges between scrubbed records: the scored ones against each other and the rest.

    Returns edges on record keys and the number of scored pairs that reached the prediction
    floor (the pairs Splink blocked are counted by `model.comparison_count`).
    """
    new = _profiles(scored_records.filter(records.has_person_fields()))
    existing = _profiles(existing_records.filter(records.has_person_fields()))
    if new.is_empty():
        return pl.DataFrame(schema=records.EDGE_SCHEMA), 0
    new_input = model.splink_input(
        model.with_twins(new.rename({"representative": "unique_id"}), new["members"].list.len())
    )
    existing_input = model.splink_input(existing.rename({"representative": "unique_id"}))
    scored = model.score_pairs(model_json, new_input, existing_input)

    twin_pairs = scored.filter(
        (pl.col("unique_id_l") + model.TWIN_SUFFIX == pl.col("unique_id_r"))
        | (pl.col("unique_id_r") + model.TWIN_SUFFIX == pl.col("unique_id_l"))
    )
    # Identical records link to their profile's representative at the identical pair's score.
    identical = (
        twin_pairs.with_columns(pl.min_horizontal("unique_id_l", "unique_id_r").alias("rep"))
        .join(new.select(pl.col("representative").alias("rep"), "members"), on="rep")
        .explode("members")
        .filter(pl.col("members") != pl.col("rep"))
        .select(
            pl.col("rep").alias("a"),
            pl.col("members").alias("b"),
            "match_probability",
            "match_weight",
        )
    )
    between = scored.filter(
        ~pl.col("unique_id_l").str.ends_with(model.TWIN_SUFFIX)
        & ~pl.col("unique_id_r").str.ends_with(model.TWIN_SUFFIX)
    ).select(
        pl.col("unique_id_l").alias("a"),
        pl.col("unique_id_r").alias("b"),
        "match_probability",
        "match_weight",
    )
    edges = (
        pl.concat([between, identical])
        .filter(pl.col("a") != pl.col("b"))
        .select(
            pl.min_horizontal("a", "b").alias("left_record_key"),
            pl.max_horizontal("a", "b").alias("right_record_key"),
            pl.lit("splink").alias("edge_type"),
            "match_probability",
            "match_weight",
        )
        .sort("match_probability", descending=True)
        .unique(["left_record_key", "right_record_key"], keep="first")
        .cast(records.EDGE_SCHEMA)
    )
    return edges, scored.height


def _login_edges(
    logins: list[tuple[str, str]], changed: pl.DataFrame, current: pl.DataFrame
) -> pl.DataFrame:
    """A visitor's anonymous id to the account it logged into; an account to its shop record."""
    rows = [(anonymous, user, "web_login") for anonymous, user in logins]
    keys = set(current["record_key"])
    for key in changed.filter(pl.col("source").is_in(["web_events", "shop_customers"]))[
        "record_key"
    ]:
        if key.startswith("web_events:user:"):
            shop = "shop_customers:" + key.removeprefix("web_events:user:")
            if shop in keys:
                rows.append((key, shop, "shop_account"))
        elif key.startswith("shop_customers:"):
            user = "web_events:user:" + key.removeprefix("shop_customers:")
            if user in keys:
                rows.append((user, key, "shop_account"))
    return records.ordered_edges(rows)


def _overrides(connection: duckdb.DuckDBPyConnection, until: date) -> pl.DataFrame:
    """The steward's latest decision on each pair, whichever way round it was written."""
    if not WarehouseSession(connection).table_exists("cleaned.identity_overrides"):
        return pl.DataFrame(
            schema={"left_record_key": pl.Utf8, "right_record_key": pl.Utf8, "rule": pl.Utf8}
        )
    return connection.execute(
        """
        select least(left_record_key, right_record_key) as left_record_key,
            greatest(left_record_key, right_record_key) as right_record_key, rule
        from cleaned.identity_overrides
        where _partition_date <= $until
        qualify row_number() over (
            partition by least(left_record_key, right_record_key),
                greatest(left_record_key, right_record_key)
            order by _partition_date desc, _source_file desc, _row_number desc
        ) = 1
        """,
        {"until": until},
    ).pl()


def resolve_partition(
    connection: duckdb.DuckDBPyConnection,
    partition: date,
    model_json: str,
    model_version: str,
    recorded_at: datetime,
    *,
    rescore_all: bool = False,
) -> PartitionResult:
    """Apply one partition to the graph held in `connection`'s `identity` schema.

    `rescore_all` scores and re-clusters every current record, not only the new and changed
    ones: what a retrained model needs. Customers keep their ids wherever their cluster
    still exists (`graph.assign_customer_ids`).
    """
    ensure_tables(connection)
    connection.execute("begin transaction")
    try:
        result = _resolve(
            connection, partition, model_json, model_version, recorded_at, rescore_all
        )
        connection.execute("commit")
    except BaseException:
        connection.execute("rollback")
        raise
    return result


def latest_partition(connection: duckdb.DuckDBPyConnection) -> date | None:
    """The last partition the graph was built for (None before the first)."""
    ensure_tables(connection)
    found: date | None = connection.execute(
        f"select max(partition_date) from {SCHEMA}.runs"
    ).fetchall()[0][0]
    return found


def _last_built(connection: duckdb.DuckDBPyConnection, what: str) -> date:
    partition = latest_partition(connection)
    if partition is None:
        raise ValueError(f"the identity graph has not been built yet: nothing to {what}")
    return partition


def rebuild(
    connection: duckdb.DuckDBPyConnection,
    model_json: str,
    model_version: str,
    recorded_at: datetime,
) -> PartitionResult:
    """Re-resolve every record with this model, as of the last partition built."""
    partition = _last_built(connection, "rebuild")
    return resolve_partition(
        connection, partition, model_json, model_version, recorded_at, rescore_all=True
    )


@dataclass(frozen=True)
class Preview:
    partition: date
    changes: graph.GraphChanges
    # segment, members now, members whose customer id would go, customers who would gain a
    # member's records (estimated from the id mapping: the segment rules run on the next build)
    audiences: pl.DataFrame


def preview(
    connection: duckdb.DuckDBPyConnection,
    model_json: str,
    model_version: str,
    recorded_at: datetime,
) -> Preview:
    """What `rebuild` with this model would change, computed in a transaction rolled back: the
    graph is left exactly as it was."""
    partition = _last_built(connection, "preview")
    before = _current(connection, "customer_records").select("record_key", "customer_id")
    connection.execute("begin transaction")
    try:
        _resolve(connection, partition, model_json, model_version, recorded_at, True)
        after = _current(connection, "customer_records").select("record_key", "customer_id")
    finally:
        connection.execute("rollback")
    return Preview(
        partition, graph.graph_changes(before, after), _audience_changes(connection, before, after)
    )


def _audience_changes(
    connection: duckdb.DuckDBPyConnection, before: pl.DataFrame, after: pl.DataFrame
) -> pl.DataFrame:
    schema = {"segment": pl.Utf8, "members": pl.UInt32, "would_leave": pl.UInt32}
    if not WarehouseSession(connection).table_exists("segments.segment_membership"):
        return pl.DataFrame(schema={**schema, "would_enter": pl.UInt32})
    members = connection.execute(
        "select distinct segment, customer_id from segments.segment_membership"
        " where as_of_date = (select max(as_of_date) from segments.segment_membership)"
    ).pl()
    mapping = before.join(after, on="record_key", suffix="_after")
    surviving = after["customer_id"].unique().implode()
    # A member leaves when its id is gone (merged into another, or its records all moved);
    # a customer enters when it would hold a member's records without being a member itself.
    inherited = (
        members.join(mapping, on="customer_id")
        .select("segment", pl.col("customer_id_after").alias("customer_id"))
        .unique()
        .join(members, on=["segment", "customer_id"], how="anti")
        .group_by("segment")
        .agg(pl.len().alias("would_enter"))
    )
    return (
        members.group_by("segment")
        .agg(
            pl.len().alias("members"),
            (~pl.col("customer_id").is_in(surviving)).sum().alias("would_leave"),
        )
        .join(inherited, on="segment", how="left")
        .with_columns(pl.col("would_enter").fill_null(0))
        .cast({"members": pl.UInt32, "would_leave": pl.UInt32, "would_enter": pl.UInt32})
        .sort("segment")
    )


@dataclass(frozen=True)
class GraphState:
    """What one partition reads: the graph as it stands (after any rewind) and the window's
    inputs. `plan_partition` decides from this alone."""

    partition: date
    window_after: date | None  # the last partition built before this one
    window: pl.DataFrame  # the person records landed in the window (records.RECORDS_SQL)
    person_records: pl.DataFrame  # current versions
    edges: pl.DataFrame  # current edges
    customers: pl.DataFrame  # current record -> customer assignments
    overrides: pl.DataFrame  # the steward's latest decision on each pair
    logins: list[tuple[str, str]]  # (anonymous record, account record) logged in the window
    next_customer_number: int  # the number the next new customer id takes
    reissuable: dict[str, str]  # record key -> an id a rewound run minted for it
    corrected: pl.Series  # customers whose correction landed in the window


@dataclass(frozen=True)
class PartitionPlan:
    """Every change one partition makes to the graph, as data: `write_plan` applies it."""

    changed: pl.DataFrame  # new record versions (PERSON_COLUMNS and record_hash)
    retired: pl.DataFrame  # edges that close
    added: pl.DataFrame  # edges that open (EDGE_SCHEMA)
    reassigned: pl.DataFrame  # record_key, customer_id: assignments that open
    issued: pl.DataFrame  # customer_id, record_key: ids minted
    events: pl.DataFrame  # identity events (merges, splits, new customers)
    golden_customers: pl.Series  # customers whose golden record is recomputed
    review_queue: pl.DataFrame
    records_scored: int
    comparisons_scored: int
    result: PartitionResult


def read_state(connection: duckdb.DuckDBPyConnection, partition: date) -> GraphState:
    """The graph and the window's inputs, read in the partition's transaction."""
    after = connection.execute(f"select max(partition_date) from {SCHEMA}.runs").fetchall()[0][0]
    next_number = connection.execute(
        f"select coalesce(max(cast(substr(customer_id, {len(graph.CUSTOMER_ID_PREFIX) + 1}) "
        f"as bigint)), 0) + 1 from {SCHEMA}.issued_customer_ids"
    ).fetchall()[0][0]
    # Ids a rewound run of this day or a later one minted, for the record each went to: a
    # replay hands them to the same clusters again (a rewind never deletes an issued id).
    reissuable = connection.execute(
        f"""select record_key, min(customer_id) from {SCHEMA}.issued_customer_ids
        where issued_partition >= $p and record_key is not null
            and customer_id not in (
                select customer_id from {SCHEMA}.customer_records where valid_to is null)
        group by record_key""",
        {"p": partition},
    ).fetchall()
    logins = connection.execute(records.LOGINS_SQL, {"after": after, "until": partition}).fetchall()
    return GraphState(
        partition=partition,
        window_after=after,
        window=_window_records(connection, after, partition),
        person_records=_current(connection, "person_records"),
        edges=_current(connection, "edges"),
        customers=_current(connection, "customer_records"),
        overrides=_overrides(connection, partition),
        logins=[(anonymous, user) for anonymous, user in logins],
        next_customer_number=next_number,
        reissuable=dict(reissuable),
        corrected=_corrected_customers(connection, after, partition),
    )


def plan_partition(state: GraphState, model_json: str, rescore_all: bool = False) -> PartitionPlan:
    """Every change the window makes to the graph, decided in memory (Splink scores in its own
    in-memory DuckDB). Only new and changed records are scored and only the customers the
    changes touch are re-clustered, unless `rescore_all`."""
    result = PartitionResult(state.partition, state.window_after)

    # 1. Records: a new version only when what the record says has changed.
    window, current = state.window, state.person_records
    result.records_in_window = window.height
    changed = window.join(
        current.select("record_key", "record_hash"), on=["record_key", "record_hash"], how="anti"
    )
    previous_versions = current.filter(pl.col("record_key").is_in(changed["record_key"].implode()))
    result.changed_records = previous_versions.height
    result.new_records = changed.height - previous_versions.height
    now = pl.concat(
        [
            current.filter(~pl.col("record_key").is_in(changed["record_key"].implode())).select(
                records.PERSON_COLUMNS
            ),
            changed.select(records.PERSON_COLUMNS),
        ]
    )
    scrubbed = records.scrub_junk(now)

    # 2. Which records need their edges recomputed: the changed ones, and those that shared
    # a profile with a changed record's old version (they were linked through it).
    # Only records Splink compares share profiles; an empty profile links nobody.
    previous_scrubbed = records.scrub_junk(previous_versions.select(records.PERSON_COLUMNS))
    old_profiles = previous_scrubbed.filter(records.has_person_fields()).select(
        model.profile_id().alias("profile")
    )
    sharing = scrubbed.with_columns(model.profile_id().alias("profile")).filter(
        pl.col("profile").is_in(old_profiles["profile"].implode())
    )
    rescored_keys = pl.concat([changed["record_key"], sharing["record_key"]]).unique()
    if rescore_all:
        rescored_keys = scrubbed["record_key"]

    # 3. Edges. Email edges are recomputed for every address a rescored record has or had.
    emails = pl.concat(
        [
            scrubbed.filter(pl.col("record_key").is_in(rescored_keys.implode()))["email"],
            previous_scrubbed["email"],
        ]
    ).drop_nulls()
    email_group = scrubbed.filter(pl.col("email").is_in(emails.unique().implode()))
    email_group_keys = email_group["record_key"]
    fresh_email = records.email_edges(email_group)

    rescored = scrubbed.filter(pl.col("record_key").is_in(rescored_keys.implode()))
    others = scrubbed.filter(~pl.col("record_key").is_in(rescored_keys.implode()))
    fresh_splink, comparisons = splink_edges(model_json, rescored, others)
    result.comparisons_scored = comparisons
    fresh_logins = _login_edges(state.logins, changed, now)

    overrides = state.overrides
    fresh_always = records.ordered_edges(
        [(a, b, "always_link") for a, b, r in overrides.iter_rows() if r == "always_link"]
    )
    never_link = overrides.filter(pl.col("rule") == "never_link")

    active = state.edges
    in_rescored = pl.col("left_record_key").is_in(rescored_keys.implode()) | pl.col(
        "right_record_key"
    ).is_in(rescored_keys.implode())
    in_email_group = pl.col("left_record_key").is_in(email_group_keys.implode())
    # Edges an input of this run decides: retire the ones it no longer finds.
    decided = active.filter(
        (pl.col("edge_type").is_in(["same_email", "email_anchor"]) & in_email_group)
        | ((pl.col("edge_type") == "splink") & in_rescored)
        | (pl.col("edge_type") == "always_link")
    )
    fresh = pl.concat([fresh_email, fresh_splink, fresh_always])
    # A record that is gone from the current set keeps no edges.
    retired = decided.join(
        fresh, on=["left_record_key", "right_record_key", "edge_type"], how="anti"
    )
    added = (
        pl.concat([fresh, fresh_logins])
        .join(active, on=["left_record_key", "right_record_key", "edge_type"], how="anti")
        .unique(["left_record_key", "right_record_key", "edge_type"])
    )
    result.edges_retired = retired.height
    result.edges_added = dict(added.group_by("edge_type").len().iter_rows())
    edges_now = pl.concat(
        [
            active.join(
                retired, on=["left_record_key", "right_record_key", "edge_type"], how="anti"
            ).select(list(records.EDGE_SCHEMA)),
            added.select(list(records.EDGE_SCHEMA)),
        ]
    )

    # 4. Re-cluster only the customers the changes touch.
    customers = state.customers
    touched_keys = pl.concat(
        [
            changed["record_key"],
            rescored_keys,
            added["left_record_key"],
            added["right_record_key"],
            retired["left_record_key"],
            retired["right_record_key"],
            never_link["left_record_key"],
            never_link["right_record_key"],
        ]
    ).unique()
    touched_customers = customers.filter(pl.col("record_key").is_in(touched_keys.implode()))[
        "customer_id"
    ].unique()
    nodes = pl.concat(
        [
            touched_keys.filter(touched_keys.is_in(now["record_key"].implode())),
            customers.filter(pl.col("customer_id").is_in(touched_customers.implode()))[
                "record_key"
            ],
        ]
    ).unique()
    result.customers_touched = touched_customers.len()
    node_edges = edges_now.filter(
        pl.col("left_record_key").is_in(nodes.implode())
        & pl.col("right_record_key").is_in(nodes.implode())
    )
    attributes = scrubbed.filter(pl.col("record_key").is_in(nodes.implode())).select(
        "record_key", "email", "date_of_birth"
    )
    clustering = graph.cluster(nodes, node_edges, attributes, never_link)
    result.suspicious_clusters = clustering.flagged.height
    result.edges_cut_by_guards = clustering.cut_edges

    # 5. Stable ids.
    with_previous = clustering.assignment.join(
        customers.select("record_key", pl.col("customer_id").alias("previous_customer_id")),
        on="record_key",
        how="left",
    )
    ids = graph.assign_customer_ids(with_previous, state.next_customer_number, state.reissuable)
    result.events = dict(ids.events.group_by("event_type").len().iter_rows())
    reassigned = ids.customers.join(
        customers.select("record_key", "customer_id"), on=["record_key", "customer_id"], how="anti"
    )
    # A correction landed in the window changes its customer's golden record by itself.
    result.corrections = len(state.corrected)
    golden_customers = pl.concat(
        [touched_customers, ids.customers["customer_id"], state.corrected]
    ).unique()

    # 6. The review queue, as the graph will stand.
    customers_now = customers.select("record_key", "customer_id").update(
        reassigned.select("record_key", "customer_id"), on="record_key", how="full"
    )
    queue = review_queue(model_json, scrubbed, edges_now, customers_now, overrides, state.partition)
    result.review_by_kind = dict(queue.group_by("kind").len().iter_rows())
    result.review_suggested = dict(queue.group_by("suggested_decision").len().iter_rows())
    return PartitionPlan(
        changed=changed.select(*records.PERSON_COLUMNS, "record_hash"),
        retired=retired,
        added=added.select(list(records.EDGE_SCHEMA)),
        reassigned=reassigned,
        issued=pl.DataFrame(
            {"customer_id": ids.issued, "record_key": ids.issued_to},
            schema={"customer_id": pl.Utf8, "record_key": pl.Utf8},
        ),
        events=ids.events,
        golden_customers=golden_customers,
        review_queue=queue,
        records_scored=rescored.height,
        comparisons_scored=comparisons,
        result=result,
    )


def write_plan(
    connection: duckdb.DuckDBPyConnection,
    state: GraphState,
    plan: PartitionPlan,
    model_version: str,
    recorded_at: datetime,
) -> None:
    """Apply a plan, in the order the tables reference each other (in the caller's
    transaction)."""
    p = {"p": state.partition}
    registered = {
        "changed_records": plan.changed,
        "retired_edges": plan.retired,
        "added_edges": plan.added,
        "reassigned": plan.reassigned,
        "issued": plan.issued,
        "events": plan.events,
        "touched_ids": pl.DataFrame({"customer_id": plan.golden_customers}),
        "review": plan.review_queue,
    }
    for name, frame in registered.items():
        connection.register(name, frame.to_arrow())
    try:
        connection.execute(
            f"update {SCHEMA}.person_records set valid_to = $p where valid_to is null "
            "and record_key in (select record_key from changed_records)",
            p,
        )
        connection.execute(
            f"insert into {SCHEMA}.person_records select *, $p, null from changed_records", p
        )
        connection.execute(
            f"""update {SCHEMA}.edges e set valid_to = $p
            from retired_edges r
            where e.valid_to is null and e.left_record_key = r.left_record_key
                and e.right_record_key = r.right_record_key and e.edge_type = r.edge_type""",
            p,
        )
        connection.execute(f"insert into {SCHEMA}.edges select *, $p, null from added_edges", p)
        connection.execute(
            f"update {SCHEMA}.customer_records set valid_to = $p where valid_to is null "
            "and record_key in (select record_key from reassigned)",
            p,
        )
        connection.execute(
            f"""insert into {SCHEMA}.customer_records
            select split_part(r.record_key, ':', 1),
                substr(r.record_key, strpos(r.record_key, ':') + 1), r.record_key, r.customer_id,
                $p, null
            from reassigned r""",
            p,
        )
        connection.execute(
            f"insert into {SCHEMA}.issued_customer_ids"
            " select customer_id, $p, $at, record_key from issued",
            {"p": state.partition, "at": recorded_at},
        )
        connection.execute(
            f"""insert into {SCHEMA}.identity_events
            select event_type, customer_id, other_customer_id, record_count, reason, $version,
                $p, $at
            from events""",
            {"p": state.partition, "at": recorded_at, "version": model_version},
        )
        connection.execute(
            f"delete from {SCHEMA}.golden_customers "
            "where customer_id in (select customer_id from touched_ids)"
        )
        connection.execute(
            f"insert into {SCHEMA}.golden_customers "
            + golden_sql(_has_corrections(connection)).replace(
                "$customer_filter", "customer_id in (select customer_id from touched_ids)"
            ),
            p,
        )
        connection.execute(f"delete from {SCHEMA}.review_queue")
        connection.execute(f"insert into {SCHEMA}.review_queue by name select * from review")
        connection.execute(
            f"insert into {SCHEMA}.runs values ($p, $after, $version, $records, $comparisons, $at)",
            {
                "p": state.partition,
                "after": state.window_after,
                "version": model_version,
                "records": plan.records_scored,
                "comparisons": plan.comparisons_scored,
                "at": recorded_at,
            },
        )
    finally:
        for name in registered:
            connection.unregister(name)


def _resolve(
    connection: duckdb.DuckDBPyConnection,
    partition: date,
    model_json: str,
    model_version: str,
    recorded_at: datetime,
    rescore_all: bool = False,
) -> PartitionResult:
    """Rewind, read, plan, write: one partition in the caller's transaction."""
    rewound = rewind(connection, partition)
    state = read_state(connection, partition)
    plan = plan_partition(state, model_json, rescore_all)
    write_plan(connection, state, plan, model_version, recorded_at)
    plan.result.rewound_from = partition if rewound else None
    return plan.result


def review_queue(
    model_json: str,
    scrubbed: pl.DataFrame,
    edges: pl.DataFrame,
    customers: pl.DataFrame,
    overrides: pl.DataFrame,
    partition: date,
) -> pl.DataFrame:
    """The pairs a steward should look at, as the graph now stands.

    Splink pairs between two different customers that scored in the review band (uncertain), or
    above the threshold but cut by an over-merge guard or a never-link chain (cut_by_guard),
    each with both records side by side, Splink's waterfall and a suggested decision. A pair a
    steward already decided (an override, either way round) is not asked again. `edges` and
    `customers` (`record_key, customer_id`) are the current ones.
    """
    # Each record with its customer and the fields shown, once per side of a pair.
    people = customers.join(
        scrubbed.select(
            "record_key", *[pl.col(f).cast(pl.Utf8) for f in settings.IDENTIFYING_FIELDS]
        ),
        on="record_key",
    )
    sides = {side: people.select(pl.all().name.prefix(f"{side}_")) for side in ("left", "right")}
    pairs = (
        edges.filter(
            (pl.col("edge_type") == "splink")
            & (pl.col("match_probability") >= settings.REVIEW_FLOOR)
        )
        .select("left_record_key", "right_record_key", "match_probability", "match_weight")
        .join(
            overrides.select("left_record_key", "right_record_key"),
            on=["left_record_key", "right_record_key"],
            how="anti",
        )
        .join(sides["left"], on="left_record_key")
        .join(sides["right"], on="right_record_key")
        .filter(pl.col("left_customer_id") != pl.col("right_customer_id"))
        .sort(
            ["match_probability", "left_record_key", "right_record_key"],
            descending=[True, False, False],
        )
    )
    splink_rows = {
        side: model.splink_input(
            scrubbed.join(
                pairs.select(pl.col(f"{side}_record_key").alias("record_key")),
                on="record_key",
                how="right",
                maintain_order="right",
            ).rename({"record_key": "unique_id"})
        )
        for side in ("left", "right")
    }
    # Term frequencies as the pairs were scored with: from every current profile, which costs
    # a pass over them, so only when something is queued.
    profiles = (
        model.splink_input(
            _profiles(scrubbed.filter(records.has_person_fields())).rename(
                {"representative": "unique_id"}
            )
        )
        if pairs.height
        else pl.DataFrame()
    )
    explained = model.explain_pairs(model_json, splink_rows["left"], splink_rows["right"], profiles)
    # A pair without a waterfall counts as contradicted: the suggestion fails closed.
    likely = (pl.col("match_probability") >= settings.REVIEW_SUGGEST_LINK) & (
        pl.col("strongest_against").fill_null(float("-inf")) >= settings.REVIEW_CONTRADICTION
    )
    return (
        pairs.with_row_index("pair")
        .with_columns(pl.col("pair").cast(pl.Int64))
        .join(explained.select("pair", "contributions", "strongest_against"), on="pair", how="left")
        .with_columns(
            pl.lit(partition).alias("partition_date"),
            pl.when(pl.col("match_probability") >= settings.MATCH_THRESHOLD)
            .then(pl.lit("cut_by_guard"))
            .otherwise(pl.lit("uncertain"))
            .alias("kind"),
            pl.when(likely)
            .then(pl.lit("always_link"))
            .otherwise(pl.lit("never_link"))
            .alias("suggested_decision"),
            pl.when(likely)
            .then(
                pl.lit(
                    f"likely one person (>= {settings.REVIEW_SUGGEST_LINK}) and no field weighs"
                    f" against it by more than {-settings.REVIEW_CONTRADICTION:g} bits"
                )
            )
            .otherwise(
                pl.lit(
                    f"below {settings.REVIEW_SUGGEST_LINK}, or a field weighs against it by"
                    f" more than {-settings.REVIEW_CONTRADICTION:g} bits"
                )
            )
            .alias("reason"),
        )
        .drop("pair", "strongest_against")
    )


def training_profiles(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every distinct person profile landed so far, in Splink's shape: what the model learns on."""
    frame = connection.execute(records.RECORDS_SQL, {"after": None, "until": date.max}).pl()
    person = records.scrub_junk(frame).filter(records.has_person_fields())
    profiles = _profiles(person).rename({"representative": "unique_id"})
    return model.splink_input(profiles)


def null_rates(profiles: pl.DataFrame) -> dict[str, float]:
    """Share of missing values per compared field: the shape the model was trained on."""
    if profiles.is_empty():
        return {}
    return {
        column: round(profiles[column].null_count() / profiles.height, 4)
        for column in profiles.columns
        if column != "unique_id"
    }


MODELS_DDL = f"""
create schema if not exists {SCHEMA};
create table if not exists {SCHEMA}.splink_models (
    model_version varchar not null, trained_at timestamptz not null, settings_json varchar not null,
    training_profiles bigint not null, null_rates json not null
)
"""
