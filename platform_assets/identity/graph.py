"""Clusters and stable customer ids: pure functions over small frames, no database.

Clusters are connected components of the trusted edges. Two guards keep one bad edge from
gluing strangers together: a never-link override is honoured by cutting the weakest edges
between its two records, and a suspicious cluster (too large, too many emails or birth dates)
keeps only its strongest Splink edges. Customer ids are then carried over from the previous
graph so that a person keeps their id for as long as they exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from platform_assets.identity import settings

CUSTOMER_ID_PREFIX = "cus_"
CUSTOMER_ID_DIGITS = 12


def format_customer_id(number: int) -> str:
    return f"{CUSTOMER_ID_PREFIX}{number:0{CUSTOMER_ID_DIGITS}d}"


def customer_id_number(customer_id: str) -> int:
    return int(customer_id.removeprefix(CUSTOMER_ID_PREFIX))


def components(nodes: pl.Series, edges: pl.DataFrame) -> pl.DataFrame:
    """Connected components: `record_key, component` (the component's smallest record key)."""
    keys = nodes.unique().sort()
    index = pl.DataFrame({"record_key": keys, "i": np.arange(keys.len(), dtype=np.int64)})
    pairs = (
        edges.select("left_record_key", "right_record_key")
        .join(index, left_on="left_record_key", right_on="record_key")
        .join(index, left_on="right_record_key", right_on="record_key", suffix="_r")
    )
    n = keys.len()
    matrix = coo_matrix(
        (np.ones(pairs.height, dtype=np.int8), (pairs["i"].to_numpy(), pairs["i_r"].to_numpy())),
        shape=(n, n),
    )
    _, labels = connected_components(matrix, directed=False)
    labelled = pl.DataFrame({"record_key": keys, "label": labels})
    return labelled.with_columns(
        pl.col("record_key").min().over("label").alias("component")
    ).select("record_key", "component")


@dataclass(frozen=True)
class Clustering:
    assignment: pl.DataFrame  # record_key, component
    flagged: pl.DataFrame  # component, records, emails, birth_dates, reason
    cut_edges: int  # edges not trusted because of a guard or a never-link override


def _cluster_profile(assignment: pl.DataFrame, attributes: pl.DataFrame) -> pl.DataFrame:
    return (
        assignment.join(attributes, on="record_key", how="left")
        .group_by("component")
        .agg(
            pl.len().alias("records"),
            pl.col("email").drop_nulls().n_unique().alias("emails"),
            pl.col("date_of_birth").drop_nulls().n_unique().alias("birth_dates"),
        )
    )


def suspicious_clusters(assignment: pl.DataFrame, attributes: pl.DataFrame) -> pl.DataFrame:
    """Clusters breaking a size guard, with the guard they break."""
    profile = _cluster_profile(assignment, attributes)
    reason = (
        pl.when(pl.col("records") > settings.MAX_CLUSTER_SIZE)
        .then(pl.lit(f"more than {settings.MAX_CLUSTER_SIZE} records"))
        .when(pl.col("emails") > settings.MAX_DISTINCT_EMAILS)
        .then(pl.lit(f"more than {settings.MAX_DISTINCT_EMAILS} emails"))
        .when(pl.col("birth_dates") > settings.MAX_DISTINCT_BIRTH_DATES)
        .then(pl.lit(f"more than {settings.MAX_DISTINCT_BIRTH_DATES} birth dates"))
    )
    return profile.with_columns(reason.alias("reason")).filter(pl.col("reason").is_not_null())


def cluster(
    nodes: pl.Series,
    edges: pl.DataFrame,
    attributes: pl.DataFrame,
    never_link: pl.DataFrame,
) -> Clustering:
    """Cluster records on trusted edges, honouring never-link pairs and the size guards.

    `edges` has `left_record_key, right_record_key, edge_type, match_probability`;
    `attributes` has `record_key, email, date_of_birth`; `never_link` has
    `left_record_key, right_record_key`.
    """
    trusted = edges.filter(pl.col("match_probability") >= settings.MATCH_THRESHOLD)
    cut = 0

    # A never-link pair is split by dropping the weakest non-override edges of its cluster
    # until the two records fall apart. Direct edges between them go first.
    forbidden = never_link.filter(
        pl.col("left_record_key").is_in(nodes.implode())
        & pl.col("right_record_key").is_in(nodes.implode())
    )
    if forbidden.height:
        pair_keys = pl.concat_str(["left_record_key", "right_record_key"], separator="|")
        banned = set(forbidden.select(pair_keys).to_series()) | set(
            forbidden.select(
                pl.concat_str(["right_record_key", "left_record_key"], separator="|")
            ).to_series()
        )
        before = trusted.height
        trusted = trusted.filter(~pair_keys.is_in(list(banned)))
        cut += before - trusted.height
        for left, right in forbidden.select("left_record_key", "right_record_key").iter_rows():
            while True:
                assignment = components(nodes, trusted)
                lookup = dict(assignment.iter_rows())
                if lookup.get(left) != lookup.get(right):
                    break
                component = lookup[left]
                members = assignment.filter(pl.col("component") == component)["record_key"]
                inside = trusted.filter(
                    pl.col("left_record_key").is_in(members.implode())
                    & (pl.col("edge_type") != "always_link")
                )
                if inside.is_empty():
                    break  # only always-link edges join them: the steward's orders conflict
                weakest = inside.sort("match_probability", "left_record_key").row(0, named=True)
                trusted = trusted.filter(
                    ~(
                        (pl.col("left_record_key") == weakest["left_record_key"])
                        & (pl.col("right_record_key") == weakest["right_record_key"])
                    )
                )
                cut += 1

    assignment = components(nodes, trusted)
    flagged = suspicious_clusters(assignment, attributes)
    if flagged.height:
        # In a suspicious cluster only near-certain Splink edges are trusted.
        suspicious = assignment.filter(pl.col("component").is_in(flagged["component"].implode()))[
            "record_key"
        ]
        weak = (
            (pl.col("edge_type") == "splink")
            & (pl.col("match_probability") < settings.STRICT_THRESHOLD)
            & pl.col("left_record_key").is_in(suspicious.implode())
        )
        cut += trusted.filter(weak).height
        trusted = trusted.filter(~weak)
        assignment = components(nodes, trusted)
    return Clustering(assignment=assignment, flagged=flagged, cut_edges=cut)


@dataclass(frozen=True)
class IdAssignment:
    customers: pl.DataFrame  # record_key, customer_id
    events: pl.DataFrame  # event_type, customer_id, other_customer_id, record_count, reason
    issued: list[str]  # ids minted by this assignment
    # The smallest record key of the cluster each minted id went to: a replay of the same day
    # gives that cluster the same id again.
    issued_to: list[str] = field(default_factory=list)


def assign_customer_ids(
    clusters: pl.DataFrame, next_number: int, reissuable: dict[str, str] | None = None
) -> IdAssignment:
    """Carry customer ids from the previous graph onto new clusters.

    `clusters` has `record_key, component, previous_customer_id` (null for a new record) and
    holds every record of every previous customer it mentions. Each previous id is claimed by
    the cluster holding most of its records (ties: the cluster with the smallest record key).
    A cluster keeps the oldest id it claims and folds the others into it (`merge`); a cluster
    that claims none gets a fresh id, recorded as a `split` if its records had an id before,
    else as `new`. Ids are numbered in issue order, so the oldest is the smallest.

    `reissuable` maps a record key to the id a rewound run of this day minted for the cluster
    it was the smallest record of: re-running an old day gives the same people the same ids
    instead of minting new ones (an id still never passes to anyone else's records).
    """
    claims = (
        clusters.filter(pl.col("previous_customer_id").is_not_null())
        .group_by("previous_customer_id", "component")
        .agg(pl.len().alias("held"))
        .sort(["previous_customer_id", "held", "component"], descending=[False, True, False])
        .unique("previous_customer_id", keep="first", maintain_order=True)
    )
    sizes = clusters.group_by("component").agg(pl.len().alias("record_count"))
    events: list[dict[str, object]] = []
    kept: dict[str, str] = {}
    for component, ids in (
        claims.group_by("component")
        .agg(pl.col("previous_customer_id"))
        .sort("component")
        .iter_rows()
    ):
        ordered = sorted(ids, key=customer_id_number)
        kept[component] = ordered[0]
        for absorbed in ordered[1:]:
            events.append(
                {
                    "event_type": "merge",
                    "customer_id": ordered[0],
                    "other_customer_id": absorbed,
                    "reason": "new edges joined the two customers' records",
                }
            )

    issued: list[str] = []
    issued_to: list[str] = []
    reissuable = reissuable or {}
    first_record = dict(clusters.group_by("component").agg(pl.col("record_key").min()).iter_rows())
    previous_by_component = (
        clusters.filter(pl.col("previous_customer_id").is_not_null())
        .group_by("component")
        .agg(pl.col("previous_customer_id").unique().sort())
    )
    previous_ids = dict(previous_by_component.iter_rows())
    for component in sizes.sort("component")["component"]:
        if component in kept:
            continue
        replayed = reissuable.get(first_record[component])
        if replayed is not None and replayed not in kept.values():
            customer_id = replayed
        else:
            customer_id = format_customer_id(next_number + len(issued))
            issued.append(customer_id)
            issued_to.append(first_record[component])
        kept[component] = customer_id
        origins = previous_ids.get(component) or []
        for origin in origins:
            events.append(
                {
                    "event_type": "split",
                    "customer_id": customer_id,
                    "other_customer_id": origin,
                    "reason": "records no longer linked to the rest of their customer",
                }
            )
        if not origins:
            events.append(
                {
                    "event_type": "new",
                    "customer_id": customer_id,
                    "other_customer_id": None,
                    "reason": "records linked to no existing customer",
                }
            )

    customer_of = pl.DataFrame(
        {"component": list(kept), "customer_id": list(kept.values())},
        schema={"component": pl.Utf8, "customer_id": pl.Utf8},
    )
    customers = clusters.join(customer_of, on="component").select("record_key", "customer_id")
    counts = customers.group_by("customer_id").agg(pl.len().alias("record_count"))
    event_schema = {
        "event_type": pl.Utf8,
        "customer_id": pl.Utf8,
        "other_customer_id": pl.Utf8,
        "reason": pl.Utf8,
    }
    event_frame = pl.DataFrame(events, schema=event_schema).join(
        counts, on="customer_id", how="left"
    )
    return IdAssignment(customers=customers, events=event_frame, issued=issued, issued_to=issued_to)


@dataclass(frozen=True)
class GraphChanges:
    """How one record-to-customer mapping differs from another (before -> after)."""

    customers_before: int
    customers_after: int
    kept_id: int  # customers before whose id still names the cluster holding most of them
    merges: int  # customers after holding records of more than one customer before
    splits: int  # customers before whose records went to more than one customer after
    records_moved: int  # records whose customer id changes

    @property
    def kept_share(self) -> float:
        return self.kept_id / self.customers_before if self.customers_before else 1.0


def graph_changes(before: pl.DataFrame, after: pl.DataFrame) -> GraphChanges:
    """Compare two `record_key, customer_id` mappings over the records both hold."""
    both = before.join(after, on="record_key", suffix="_after")
    held = both.group_by("customer_id", "customer_id_after").agg(pl.len().alias("records"))
    majority = held.sort(
        ["customer_id", "records", "customer_id_after"], descending=[False, True, False]
    ).unique("customer_id", keep="first")
    return GraphChanges(
        customers_before=before["customer_id"].n_unique(),
        customers_after=after["customer_id"].n_unique(),
        kept_id=majority.filter(pl.col("customer_id") == pl.col("customer_id_after")).height,
        merges=held.group_by("customer_id_after").len().filter(pl.col("len") > 1).height,
        splits=held.group_by("customer_id").len().filter(pl.col("len") > 1).height,
        records_moved=both.filter(pl.col("customer_id") != pl.col("customer_id_after")).height,
    )
