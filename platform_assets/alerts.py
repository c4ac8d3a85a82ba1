"""What deserves a person's attention: alerts and their resolutions, from a run's events.

Pure functions over Dagster's own records (check evaluations, run failures, freshness states);
`resources.alerts.AlertSink` stores them in `ops.alerts` and posts them to a webhook. The same
code serves runs launched by the daemon (the alert sensors) and by `cdp run`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import dagster as dg

# Warning checks that still page someone: the rest are for the UI.
ALERTING_WARNING_CHECKS = {"volume": "volume_anomaly", "no_vanished_files": "vanished_file"}

MESSAGE_LIMIT = 2000


@dataclass(frozen=True)
class Alert:
    severity: str  # "error" | "warning"
    kind: str  # run_failed | check_failed | volume_anomaly | vanished_file | freshness
    asset: str | None
    partition: str | None
    check: str | None
    message: str
    run_id: str | None = None
    # For a failed run: every asset it selected, so a later run of them all resolves it.
    selection: tuple[str, ...] = field(default=())

    @property
    def key(self) -> tuple[str, str | None, str | None, str | None]:
        return (self.kind, self.asset, self.partition, self.check)

    @property
    def text(self) -> str:
        """One line a chat channel shows as is."""
        where = " ".join(part for part in (self.asset, self.partition, self.check) if part)
        run = f" (run {self.run_id[:8]})" if self.run_id else ""
        return f"[{self.severity}] {self.kind}: {where}: {self.message}{run}"


@dataclass(frozen=True)
class Resolution:
    """A check passing again, a run of the same assets succeeding, an asset fresh again."""

    kind: str
    asset: str | None
    partition: str | None
    check: str | None
    run_id: str | None = None
    # A run resolves the failed runs whose whole selection it covered.
    selection: tuple[str, ...] = field(default=())

    @property
    def key(self) -> tuple[str, str | None, str | None, str | None]:
        return (self.kind, self.asset, self.partition, self.check)


def _clip(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def from_check(
    evaluation: dg.AssetCheckEvaluation, partition: str | None, run_id: str | None
) -> Alert | Resolution | None:
    """An error check that failed, or an alerting warning check; its resolution once it passes."""
    name = evaluation.check_name
    error = evaluation.severity == dg.AssetCheckSeverity.ERROR
    if not error and name not in ALERTING_WARNING_CHECKS:
        return None
    kind = "check_failed" if error else ALERTING_WARNING_CHECKS[name]
    asset = evaluation.asset_key.to_user_string()
    if evaluation.passed:
        return Resolution(kind, asset, partition, name, run_id)
    return Alert(
        severity="error" if error else "warning",
        kind=kind,
        asset=asset,
        partition=partition,
        check=name,
        message=_clip(evaluation.description or "failed"),
        run_id=run_id,
    )


def selection_label(selection: Sequence[str]) -> str:
    if len(selection) <= 3:
        return ", ".join(selection)
    layers = sorted({key.split("/")[0] for key in selection})
    return f"{len(selection)} assets in {', '.join(layers)}"


def from_run(
    run_id: str,
    partition: str | None,
    selection: Iterable[dg.AssetKey],
    succeeded: bool,
    errors: Sequence[str],
    checks: Iterable[dg.AssetCheckEvaluation],
) -> list[Alert | Resolution]:
    """Every alert and resolution one finished run gives."""
    keys = tuple(sorted(key.to_user_string() for key in selection))
    found: list[Alert | Resolution] = []
    for evaluation in checks:
        item = from_check(evaluation, partition, run_id)
        if item is not None:
            found.append(item)
    if succeeded:
        found.append(Resolution("run_failed", None, partition, None, run_id, keys))
    else:
        found.append(
            Alert(
                severity="error",
                kind="run_failed",
                asset=selection_label(keys),
                partition=partition,
                check=None,
                message=_clip("; ".join(errors) or "the run failed without an error message"),
                run_id=run_id,
                selection=keys,
            )
        )
    return found


def step_errors(events: Iterable[dg.DagsterEvent]) -> list[str]:
    """The error messages of a run's failed steps (or of the run itself)."""
    messages = []
    for event in events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            messages.append(f"{event.step_key}: {event.step_failure_data.error.message.strip()}")
        elif event.event_type == dg.DagsterEventType.RUN_FAILURE and event.message:
            messages.append(event.message)
    return messages


def from_freshness(states: dict[str, str], previous: dict[str, str]) -> list[Alert | Resolution]:
    """An asset that turned FAIL raises an alert; one back to PASS resolves it."""
    found: list[Alert | Resolution] = []
    for asset, state in sorted(states.items()):
        if state == "FAIL" and previous.get(asset) != "FAIL":
            found.append(
                Alert(
                    severity="error",
                    kind="freshness",
                    asset=asset,
                    partition=None,
                    check=None,
                    message="not updated within its freshness policy's fail window",
                )
            )
        elif state == "PASS" and previous.get(asset) == "FAIL":
            found.append(Resolution("freshness", asset, None, None))
    return found
