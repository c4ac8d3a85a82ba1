"""Start a Dagster command as a real process for a test, and stop all it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]


def dagster_home(tmp_path: Path, monitoring_seconds: int | None = None) -> Path:
    """A fresh instance folder with the shipped dagster.yaml, its storage created.

    Created here, before any process starts: a daemon and a test opening a new instance at the
    same moment both create the SQLite schedule storage, and its migration table ends up with
    two heads, which every later open refuses. `monitoring_seconds` shortens run monitoring's
    poll and its freeing of a dead run's slots (30 s each as shipped), for a test that waits
    on them.
    """
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    settings = (ROOT / "dagster_home" / "dagster.yaml").read_text()
    if monitoring_seconds is not None:
        for name in ("poll_interval_seconds", "free_slots_after_run_end_seconds"):
            shipped = f"{name}: 30"
            assert shipped in settings, f"dagster.yaml no longer has {shipped}"
            settings = settings.replace(shipped, f"{name}: {monitoring_seconds}")
    (home / "dagster.yaml").write_text(settings)
    # The shipped dagster.yaml reads DAGSTER_HOME.
    with (
        mock.patch.dict(os.environ, {"DAGSTER_HOME": str(home)}),
        dg.DagsterInstance.from_config(str(home)),
    ):
        pass
    return home


def free_port() -> int:
    """A loopback port nothing listens on now, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


def materialized_partitions(instance: dg.DagsterInstance, key: list[str]) -> set[str]:
    return instance.get_materialized_partitions(dg.AssetKey(key))


def why_failed(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    messages = [
        str(record.dagster_event.step_failure_data.error.message)  # type: ignore[union-attr]
        for record in failures
        if record.dagster_event and record.dagster_event.step_failure_data
    ]
    return f"run {run.run_id} ({sorted(run.asset_selection or [])}) failed: {messages}"
