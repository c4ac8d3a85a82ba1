"""Where a resource's files live: its configured path, else an environment variable, else a
default, always made absolute (dbt runs from inside `dbt/` and must see the same files)."""

from __future__ import annotations

import os
from pathlib import Path


def resolve_path(configured: str | None, variable: str, default: str) -> Path:
    raw = configured or os.environ.get(variable) or default
    return Path(raw).expanduser().resolve()
