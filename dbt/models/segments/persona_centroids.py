"""Each persona of the day described by its centroid: a thin model around the pure core."""

from datetime import UTC, datetime

from platform_assets.transform.personas import describe_personas, run_as_of_date


def model(dbt, session):
    dbt.config(materialized="incremental")
    window = session.execute("select max(as_of) from ops.dbt_partition").fetchone()[0]
    as_of_date = run_as_of_date(dbt.config.get("as_of_var"), window, datetime.now(UTC))
    day = f"as_of_date = DATE '{as_of_date}'"
    features = dbt.ref("customer_features").filter(day).pl()
    members = dbt.ref("personas").filter(day).pl()
    # A relation of this session, not an Arrow table: dbt then writes it over this session,
    # whose default database is the warehouse (an encrypted one included), rather than a
    # fresh cursor's in-memory default.
    rows = describe_personas(features, members, as_of_date).to_arrow()
    return session.from_arrow(rows)
