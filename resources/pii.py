"""The salt of the hashed identifiers (CDP_PII_SALT), and setting it on a DuckDB connection.

Light on purpose: the raw layer and the erasure read the salt in every run, and importing dbt's
adapters (resources/dbt_pii.py, the dbt plugin) costs a second or more of start-up.
"""

from __future__ import annotations

import os
from typing import Any

SALT_VARIABLE = "cdp_pii_salt"


class MissingSalt(RuntimeError):
    pass


def pii_salt() -> str:
    salt = os.environ.get("CDP_PII_SALT", "")
    if not salt:
        raise MissingSalt(
            "CDP_PII_SALT is not set: the marts hash email addresses with it. Set a long random"
            " secret and keep it stable (every hash changes with it); `make demo` sets a demo"
            " salt that is not for real data."
        )
    return salt


def set_salt(connection: Any) -> None:
    # A prepared parameter: the value is never part of a statement's text.
    connection.execute(f"set variable {SALT_VARIABLE} = $salt", {"salt": pii_salt()})
