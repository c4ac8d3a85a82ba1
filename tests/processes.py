"""Start a Dagster command as a real process for a test, and stop all it started."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]


def dagster_home(tmp_path: Path) -> Path:
    """A fresh instance folder with the shipped dagster.yaml, its storage created.

    Created here, before any process starts: a daemon and a test opening a new instance at the
    same moment both create the SQLite schedule storage, and its migration table ends up with
    two heads, which every later open refuses.
    """
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    before = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)  # the shipped dagster.yaml reads it
    try:
        with dg.DagsterInstance.from_config(str(home)):
            pass
    finally:
        if before is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = before
    return home


def _reset_signals() -> None:
    # A process started in the background inherits SIGINT/SIGTERM as ignored; Dagster's
    # processes would then never stop.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def dagster_process(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """Run `<venv>/bin/<command>` from the project root in its own process group."""
    executable = Path(sys.executable).parent / command[0]
    process = subprocess.Popen(
        [str(executable), *command[1:]],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the code servers and runs it starts stop with it
        preexec_fn=_reset_signals,
    )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
