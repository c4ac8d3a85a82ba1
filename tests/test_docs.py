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
