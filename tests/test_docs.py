"""The documented contracts are kept true by tests."""

import json
import re
from pathlib import Path

from platform_assets.contract import (
    EMAIL_EVENT_TYPES,
    ENUMS,
    ORDER_STATUSES,
    SOURCES,
    TICKET_CHANNELS,
    TICKET_PRIORITIES,
    TICKET_STATUSES,
    WEB_EVENT_TYPES,
)
from platform_assets.identity.assets import PERSON_SOURCES
from platform_assets.transform.project import manifest_path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


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


def test_dbt_accepted_values_are_the_contracts_enumerations() -> None:
    """An enumeration the contract widens (a new order status) must widen the dbt tests too."""
    expected = {
        ("stg_cleaned__order_lines", "status"): ORDER_STATUSES,
        ("fct_order_lines", "status"): ORDER_STATUSES,
        # An order whose lines disagree is `mixed`.
        ("fct_orders", "status"): (*ORDER_STATUSES, "mixed"),
        ("stg_cleaned__web_events", "event_type"): WEB_EVENT_TYPES,
        ("fct_web_events", "event_type"): WEB_EVENT_TYPES,
        ("fct_cart_events", "cart_action"): tuple(
            t
            for t in WEB_EVENT_TYPES
            if t in ("add_to_cart", "remove_from_cart", "checkout_started")
        ),
        ("stg_cleaned__email_events", "event_type"): EMAIL_EVENT_TYPES,
        ("fct_email_events", "event_type"): EMAIL_EVENT_TYPES,
        ("stg_cleaned__support_tickets", "status"): TICKET_STATUSES,
        ("fct_support_tickets", "status"): TICKET_STATUSES,
        ("fct_support_tickets", "channel"): TICKET_CHANNELS,
        ("fct_support_tickets", "priority"): TICKET_PRIORITIES,
        ("stg_identity__customer_records", "record_source"): PERSON_SOURCES,
        # The platform's own vocabularies, documented in docs/star-schema-and-segments.md.
        ("customer_features", "lifecycle_stage"): ("new", "active", "dormant", "churned"),
        ("segment_history", "event_type"): ("entered", "exited"),
        ("stg_identity__golden_customers", "age_band"): (
            *("under 18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"),
        ),
    }
    manifest = json.loads(manifest_path().read_text())
    nodes = manifest["nodes"]
    found = {
        (nodes[node["attached_node"]]["name"], node["column_name"]): tuple(
            node["test_metadata"]["kwargs"]["values"]
        )
        for node in nodes.values()
        if node["resource_type"] == "test"
        and (node.get("test_metadata") or {}).get("name") == "accepted_values"
    }
    assert {key: set(values) for key, values in found.items()} == {
        key: set(values) for key, values in expected.items()
    }


def test_every_setting_is_in_the_readme_and_the_env_example_and_nowhere_else() -> None:
    import re

    from resources.configuration import SETTINGS

    names = {setting.name for setting in SETTINGS}
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| variable | default | meaning |") :]
    table = table[: table.index("\n\n")]
    assert set(re.findall(r"^\| `([A-Z_]+)`", table, re.MULTILINE)) == names
    example = (ROOT / ".env.example").read_text()
    assert set(re.findall(r"^# ([A-Z_]+)=", example, re.MULTILINE)) == names
    # Every CDP_ variable the code reads is a documented setting.
    code = "".join(
        path.read_text()
        for folder in ("platform_assets", "resources", "sensors")
        for path in (ROOT / folder).rglob("*.py")
    )
    read = set(re.findall(r"\"(CDP_[A-Z_]+)\"", code))
    assert read <= names, read - names
