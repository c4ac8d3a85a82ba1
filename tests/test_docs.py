"""The documented contracts are kept true by tests."""

import re
from pathlib import Path

from platform_assets.contract import ENUMS, SOURCES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _contract_table() -> list[list[str]]:
    text = (DOCS / "landing-contract.md").read_text()
    table = text.split("<!-- contract-table:start -->")[1].split("<!-- contract-table:end -->")[0]
    rows = [line for line in table.strip().splitlines()[2:]]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_documented_sources_columns_and_keys_match_the_contract() -> None:
    documented = {}
    for source, description, columns, key in _contract_table():
        names = [c.strip().strip("*") for c in columns.split(",")]
        required = [c.strip().strip("*") for c in columns.split(",") if c.strip().startswith("**")]
        documented[source.strip("`")] = (
            description,
            names,
            required,
            [k.strip() for k in key.split(",")],
        )
    assert documented == {
        name: (c.description, list(c.columns), list(c.required), list(c.key))
        for name, c in SOURCES.items()
    }


def test_documented_enumerations_match_the_contract() -> None:
    text = (DOCS / "landing-contract.md").read_text()
    documented = {
        tuple(v.strip() for v in values.split(","))
        for values in re.findall(r"^\| `\w+\.\w+` \| ([a-z_, ]+) \|$", text, flags=re.MULTILINE)
    }
    assert documented == set(ENUMS.values())


def _identity_tables() -> dict[str, list[str]]:
    """Columns per table as `docs/identity-graph.md` documents them."""
    text = (DOCS / "identity-graph.md").read_text()
    section = text.split("<!-- identity-tables:start -->")[1].split("<!-- identity-tables:end -->")[
        0
    ]
    tables: dict[str, list[str]] = {}
    for block in section.split("### ")[1:]:
        name = block.split("`")[1].split(".")[1]
        columns: list[str] = []
        for line in block.splitlines():
            if line.startswith("| `"):
                cell = line.split("|")[1]
                columns += re.findall(r"`(\w+)`", cell)
        tables[name] = columns
    return tables


def test_documented_identity_tables_match_the_tables_the_graph_writes(tmp_path: Path) -> None:
    import duckdb

    from platform_assets.identity.resolve import ensure_tables
    from platform_assets.identity.settings import GOLDEN_FIELDS

    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_tables(connection)
    for table, documented in _identity_tables().items():
        actual = [row[0] for row in connection.execute(f"describe identity.{table}").fetchall()]
        if table == "golden_customers":
            # Documented once for all fields: `<field>`, `<field>_source`, `<field>_observed_at`.
            documented = [
                c
                for c in documented
                if c not in ("field_source", "field_observed_at") and c not in GOLDEN_FIELDS
            ]
            actual = [
                c
                for c in actual
                if c not in GOLDEN_FIELDS
                and not c.endswith(("_source", "_observed_at"))
                or c in ("first_seen_at", "last_seen_at", "sources")
            ]
        assert documented == actual, table
