"""k-means personas of the day's buyers: a thin model around platform_assets' pure core."""

from datetime import UTC, datetime

from platform_assets.transform.personas import CENTROIDS_TABLE, assign_personas, run_as_of_date


def model(dbt, session):
    dbt.config(materialized="incremental")
    window = session.execute("select max(as_of) from ops.dbt_partition").fetchone()[0]
    as_of_date = run_as_of_date(dbt.config.get("as_of_var"), window, datetime.now(UTC))
    features = dbt.ref("customer_features").filter(f"as_of_date = DATE '{as_of_date}'").pl()
    # The layer's own earlier output: k-means starts from the previous day's centroids, so
    # each persona keeps its name (delete the table to choose k again).
    known = session.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
        CENTROIDS_TABLE.split("."),
    ).fetchone()[0]
    previous = (
        session.execute(
            f"select * from {CENTROIDS_TABLE} where as_of_date = (select max(as_of_date)"
            f" from {CENTROIDS_TABLE} where as_of_date < ?)",
            [as_of_date],
        ).pl()
        if known
        else None
    )
    # A relation of this session, not an Arrow table: dbt then writes it over this session,
    # whose default database is the warehouse (an encrypted one included), rather than a
    # fresh cursor's in-memory default.
    rows = assign_personas(features, as_of_date, previous_centroids=previous).members.to_arrow()
    return session.from_arrow(rows)
