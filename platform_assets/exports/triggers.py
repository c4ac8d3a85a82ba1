"""Triggered emails: who gets which step of which trigger, when, and who is held out.

Pure functions over frames; `trigger_assets.py` reads the warehouse and delivers. The ledger
`exports.trigger_sends` holds one row per step per entry, keyed by `send_key` (trigger, step,
customer, entry day): a step is decided once, delivered once, and a re-run finds its row and
leaves it as it is. A row moves through these statuses:

    scheduled -> pending -> delivered | written | failed (retried: pending again)
              -> held_out                     (the holdout: recorded, never sent)
              -> skipped (reason: cooldown, consent, unless, expired, campaign_quiet_period,
                          frequency_cap)

Each step is scheduled when the one before it went out (or was held out) and decided once due.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import Any

import polars as pl
import yaml

TRIGGERS_FILE = Path(__file__).with_name("triggers.yml")

SCHEDULED, PENDING, DELIVERED, WRITTEN, FAILED = (
    "scheduled",
    "pending",
    "delivered",
    "written",
    "failed",
)
HELD_OUT, SKIPPED = "held_out", "skipped"
# A step counts as sent (for the frequency cap, the next step, the lift) once it left the
# platform, or is on its way: a failed delivery is retried until it expires.
SENT_STATUSES = (PENDING, DELIVERED, WRITTEN, FAILED)
STATUSES = (SCHEDULED, *SENT_STATUSES, HELD_OUT, SKIPPED)
SKIP_REASONS = (
    "cooldown",
    "consent",
    "unless",
    "expired",
    "campaign_quiet_period",
    "frequency_cap",
)

SEND_COLUMNS: dict[str, pl.DataType] = {
    "send_key": pl.String(),
    "trigger": pl.String(),
    "step": pl.String(),
    "step_number": pl.Int64(),
    "variant": pl.String(),
    "customer_id": pl.String(),
    "entry_date": pl.Date(),
    "entry_at": pl.Datetime("us", "UTC"),
    "scheduled_at": pl.Datetime("us", "UTC"),
    "as_of_date": pl.Date(),
    "decided_at": pl.Datetime("us", "UTC"),
    "status": pl.String(),
    "reason": pl.String(),
    "sent_at": pl.Datetime("us", "UTC"),
    "attempts": pl.Int64(),
    "email": pl.String(),
    "first_name": pl.String(),
    "tokens": pl.String(),
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str | int | None) -> timedelta:
    """`30m`, `48h`, `7d` (a bare 0 is no time at all)."""
    if text in (None, 0, "0"):
        return timedelta()
    found = _DURATION.match(str(text))
    if not found:
        raise ValueError(f"{text!r} is not a duration like 30m, 48h or 7d")
    return timedelta(**{_UNITS[found.group(2)]: float(found.group(1))})


@dataclass(frozen=True)
class Step:
    name: str
    after: timedelta  # from the step before (the first step: the trigger's delay)
    unless_sql: str | None = None
    unless_segment: str | None = None
    tokens: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Trigger:
    name: str
    description: str
    on_enter: str
    cooldown: timedelta
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class TriggerSettings:
    triggers: tuple[Trigger, ...]
    frequency_cap: timedelta
    campaign_quiet: timedelta
    holdout_share: float
    max_send_delay: timedelta
    conversion_window: timedelta
    send_hour_window: timedelta
    default_send_hour: int

    def trigger(self, name: str) -> Trigger | None:
        """The trigger by name; None once it was removed from the file."""
        return next((t for t in self.triggers if t.name == name), None)


def load_triggers(path: Path = TRIGGERS_FILE, holdout_share: str | None = None) -> TriggerSettings:
    """The triggers file, checked; CDP_HOLDOUT_SHARE (or `holdout_share`) overrides the share."""
    document = yaml.safe_load(path.read_text())
    settings = document.get("settings") or {}
    triggers = []
    for entry in document.get("triggers") or []:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", str(entry.get("name", ""))):
            raise ValueError(f"trigger name {entry.get('name')!r}: lower-case letters, _ only")
        steps = []
        for number, raw in enumerate(entry.get("steps") or [], start=1):
            unless = raw.get("unless") or {}
            if set(unless) - {"sql", "segment"}:
                raise ValueError(f"{entry['name']}.{raw.get('name')}: unless takes sql or segment")
            steps.append(
                Step(
                    name=str(raw["name"]),
                    after=parse_duration(entry.get("delay") if number == 1 else raw.get("after")),
                    unless_sql=unless.get("sql"),
                    unless_segment=unless.get("segment"),
                    tokens=dict(raw.get("tokens") or {}),
                    variants={
                        str(k): dict(v or {}) for k, v in (raw.get("variants") or {}).items()
                    },
                )
            )
        if not steps:
            raise ValueError(f"trigger {entry['name']} has no steps")
        triggers.append(
            Trigger(
                name=entry["name"],
                description=str(entry.get("description", "")),
                on_enter=str(entry["on_enter"]),
                cooldown=parse_duration(entry.get("cooldown")),
                steps=tuple(steps),
            )
        )
    names = [t.name for t in triggers]
    if len(set(names)) != len(names):
        raise ValueError(f"trigger names repeat: {names}")
    share_text = holdout_share if holdout_share is not None else os.environ.get("CDP_HOLDOUT_SHARE")
    share = float(share_text) if share_text else float(settings.get("holdout_share", 0.1))
    if not 0 <= share < 1:
        raise ValueError(f"holdout share {share} is not in [0, 1)")
    return TriggerSettings(
        triggers=tuple(triggers),
        frequency_cap=timedelta(hours=float(settings.get("frequency_cap_hours", 24))),
        campaign_quiet=timedelta(hours=float(settings.get("campaign_quiet_hours", 0))),
        holdout_share=share,
        max_send_delay=timedelta(hours=float(settings.get("max_send_delay_hours", 24))),
        conversion_window=timedelta(days=float(settings.get("conversion_window_days", 7))),
        send_hour_window=timedelta(days=float(settings.get("send_hour_window_days", 90))),
        default_send_hour=int(settings.get("default_send_hour", 10)),
    )


def _unit_hash(*parts: str) -> float:
    """A number in [0, 1) fixed by the parts: the same person lands in the same group always."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_holdout(customer_id: str, trigger: str, share: float) -> bool:
    return _unit_hash("holdout", trigger, customer_id) < share


def variant_for(customer_id: str, trigger: str, step: Step) -> str | None:
    if not step.variants:
        return None
    names = sorted(step.variants)
    return names[int(_unit_hash("variant", trigger, step.name, customer_id) * len(names))]


def send_key(trigger: str, step: str, customer_id: str, entry_date: date) -> str:
    """Idempotent: the same step of the same entry is the same key on every run."""
    text = f"{trigger}\x1f{step}\x1f{customer_id}\x1f{entry_date.isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def empty_sends() -> pl.DataFrame:
    return pl.DataFrame(schema=SEND_COLUMNS)


def _row(
    trigger: Trigger,
    number: int,
    customer_id: str,
    entry_date: date,
    entry_at: datetime,
    scheduled_at: datetime,
    day: date,
    moment: datetime,
    status: str = SCHEDULED,
    reason: str | None = None,
) -> dict[str, Any]:
    step = trigger.steps[number - 1]
    return {
        "send_key": send_key(trigger.name, step.name, customer_id, entry_date),
        "trigger": trigger.name,
        "step": step.name,
        "step_number": number,
        "variant": None,
        "customer_id": customer_id,
        "entry_date": entry_date,
        "entry_at": entry_at,
        "scheduled_at": scheduled_at,
        "as_of_date": day,
        "decided_at": moment if status != SCHEDULED else None,
        "status": status,
        "reason": reason,
        "sent_at": None,
        "attempts": 0,
        "email": None,
        "first_name": None,
        "tokens": None,
    }


def schedule_entries(
    settings: TriggerSettings,
    entered: pl.DataFrame,
    ledger: pl.DataFrame,
    day: date,
    moment: datetime,
) -> pl.DataFrame:
    """First steps for the day's segment entries (customer_id, segment) not in the ledger yet.

    The entry moment is the evaluation that first saw it (`moment`); an entry within a
    trigger's cooldown of an earlier one is recorded as skipped, so the sequence does not start
    twice.
    """
    known = set(ledger["send_key"].to_list())
    first_steps = ledger.filter(
        (pl.col("step_number") == 1) & (pl.col("reason").fill_null("") != "cooldown")
    )
    rows = []
    for trigger in settings.triggers:
        members = entered.filter(pl.col("segment") == trigger.on_enter)["customer_id"].unique()
        earlier = first_steps.filter(
            (pl.col("trigger") == trigger.name)
            & (pl.col("entry_date") < day)
            & (pl.col("entry_date") > day - trigger.cooldown)
        )
        cooling = set(earlier["customer_id"].to_list())
        for customer_id in sorted(members.to_list()):
            if send_key(trigger.name, trigger.steps[0].name, customer_id, day) in known:
                continue
            if customer_id in cooling:
                rows.append(
                    _row(
                        trigger,
                        1,
                        customer_id,
                        day,
                        moment,
                        moment,
                        day,
                        moment,
                        SKIPPED,
                        "cooldown",
                    )
                )
                continue
            scheduled = moment + trigger.steps[0].after
            rows.append(_row(trigger, 1, customer_id, day, moment, scheduled, day, moment))
    return pl.DataFrame(rows, schema=SEND_COLUMNS) if rows else empty_sends()


def schedule_next_steps(
    settings: TriggerSettings, ledger: pl.DataFrame, day: date, moment: datetime
) -> pl.DataFrame:
    """The next step of every sequence whose last step went out or was held out."""
    known = set(ledger["send_key"].to_list())
    rows = []
    moved = ledger.filter(pl.col("status").is_in([*SENT_STATUSES, HELD_OUT]))
    for sent in moved.iter_rows(named=True):
        trigger = settings.trigger(sent["trigger"])
        if trigger is None or sent["step_number"] >= len(trigger.steps):
            continue
        number = sent["step_number"] + 1
        step = trigger.steps[number - 1]
        key = send_key(trigger.name, step.name, sent["customer_id"], sent["entry_date"])
        if key in known:
            continue
        rows.append(
            _row(
                trigger,
                number,
                sent["customer_id"],
                sent["entry_date"],
                sent["entry_at"],
                sent["scheduled_at"] + step.after,
                day,
                moment,
            )
        )
    return pl.DataFrame(rows, schema=SEND_COLUMNS) if rows else empty_sends()


@dataclass(frozen=True)
class DecisionInputs:
    """What deciding the due steps reads, all as of the run's moment."""

    may_send: set[str]  # customers exports.consent_state lets be emailed today
    unless_hits: set[str]  # send keys whose `unless` holds
    last_campaign_sent_at: dict[str, datetime]  # customer -> latest campaign email sent
    contacts: dict[str, tuple[str | None, str | None]]  # customer -> (email, first name)
    tokens: dict[str, dict[str, Any]]  # customer -> personalization tokens


def due_rows(ledger: pl.DataFrame, moment: datetime, retry_failed: bool) -> pl.DataFrame:
    """Scheduled steps due by `moment` and, on a run's first pass, failed deliveries."""
    due = (pl.col("status") == SCHEDULED) & (pl.col("scheduled_at") <= moment)
    if retry_failed:
        due = due | (pl.col("status") == FAILED)
    return ledger.filter(due).sort("scheduled_at", "trigger", "step_number", "customer_id")


def decide_due(
    settings: TriggerSettings,
    ledger: pl.DataFrame,
    due: pl.DataFrame,
    inputs: DecisionInputs,
    moment: datetime,
    now: datetime,
) -> pl.DataFrame:
    """Decide the due steps (`due_rows`); a failed delivery passes the gates again.

    In send-time order, each passes, or is skipped for the first reason that holds: consent
    (the one consent source, checked again at send time), `unless`, expired (due longer ago
    than max_send_delay), the campaign quiet period, the frequency cap across every trigger.
    Then the holdout share of each trigger's entrants is held out. Returns the changed rows.
    """
    # The latest send to each person that counts against the cap, updated as we go.
    counted = ledger.filter(
        pl.col("status").is_in(SENT_STATUSES) & ~pl.col("send_key").is_in(due["send_key"])
    )
    last_send: dict[str, datetime] = {}
    for customer_id, latest in (
        counted.group_by("customer_id").agg(pl.max("scheduled_at")).iter_rows()
    ):
        last_send[customer_id] = latest
    changed = []
    for row in due.iter_rows(named=True):
        trigger = settings.trigger(row["trigger"])
        customer_id = row["customer_id"]
        at: datetime = row["scheduled_at"]
        reason = None
        if trigger is None:
            reason = "unless"  # the trigger was removed from the file: nothing more goes out
        elif customer_id not in inputs.may_send:
            reason = "consent"
        elif row["send_key"] in inputs.unless_hits:
            reason = "unless"
        elif now - at > settings.max_send_delay:
            reason = "expired"
        elif (
            campaign := inputs.last_campaign_sent_at.get(customer_id)
        ) is not None and at - settings.campaign_quiet <= campaign <= max(at, moment):
            reason = "campaign_quiet_period"
        elif row["status"] == SCHEDULED and (
            (previous := last_send.get(customer_id)) is not None
            and abs(at - previous) < settings.frequency_cap
        ):
            reason = "frequency_cap"
        email, first_name = inputs.contacts.get(customer_id, (None, None))
        updated = {**row, "decided_at": moment, "email": email, "first_name": first_name}
        if reason is not None:
            changed.append({**updated, "status": SKIPPED, "reason": reason})
            continue
        assert trigger is not None
        step = trigger.steps[row["step_number"] - 1]
        if in_holdout(customer_id, trigger.name, settings.holdout_share):
            changed.append({**updated, "status": HELD_OUT, "reason": None})
            continue
        variant = variant_for(customer_id, trigger.name, step)
        tokens = {
            **inputs.tokens.get(customer_id, {}),
            **step.tokens,
            **(step.variants.get(variant, {}) if variant else {}),
        }
        last_send[customer_id] = at
        changed.append(
            {
                **updated,
                "status": PENDING,
                "reason": None,
                "variant": variant,
                "tokens": json.dumps(tokens, sort_keys=True, default=str),
            }
        )
    return pl.DataFrame(changed, schema=SEND_COLUMNS) if changed else empty_sends()


def delivery_payload(rows: pl.DataFrame) -> list[dict[str, Any]]:
    """The sends as the email platform receives them (webhook body or JSONL lines)."""
    return [
        {
            "send_key": row["send_key"],
            "trigger": row["trigger"],
            "step": row["step"],
            "variant": row["variant"],
            "customer_id": row["customer_id"],
            "email": row["email"],
            "first_name": row["first_name"],
            "scheduled_at": row["scheduled_at"].isoformat(),
            "tokens": json.loads(row["tokens"] or "{}"),
        }
        for row in rows.sort("scheduled_at", "send_key").iter_rows(named=True)
    ]


def after_delivery(
    pending: pl.DataFrame, acknowledged: set[str], status: str, moment: datetime, failure: str
) -> pl.DataFrame:
    """Pending rows once delivery was tried: `status` when acknowledged, else failed."""
    return pending.with_columns(
        pl.col("attempts") + 1,
        pl.when(pl.col("send_key").is_in(list(acknowledged)))
        .then(pl.lit(status))
        .otherwise(pl.lit(FAILED))
        .alias("status"),
        pl.when(pl.col("send_key").is_in(list(acknowledged)))
        .then(pl.lit(moment, dtype=pl.Datetime("us", "UTC")))
        .otherwise(pl.col("sent_at"))
        .alias("sent_at"),
        pl.when(pl.col("send_key").is_in(list(acknowledged)))
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.lit(failure))
        .alias("reason"),
    )


def merge(ledger: pl.DataFrame, changed: pl.DataFrame) -> pl.DataFrame:
    """The ledger with `changed` rows replacing the rows of their keys."""
    if changed.is_empty():
        return ledger
    return pl.concat(
        [
            ledger.filter(~pl.col("send_key").is_in(changed["send_key"])),
            changed.select(ledger.columns),
        ],
        how="vertical",
    )


# --- measured lift ---------------------------------------------------------------------------

Z_95 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class Lift:
    treated: int
    treated_converted: int
    held_out: int
    held_out_converted: int

    @property
    def treated_rate(self) -> float | None:
        return self.treated_converted / self.treated if self.treated else None

    @property
    def held_out_rate(self) -> float | None:
        return self.held_out_converted / self.held_out if self.held_out else None

    def difference(self) -> tuple[float, float, float] | None:
        """Treated rate minus held-out rate, with its 95 % interval (two-proportion, Wald):
        None without both groups."""
        p1, p0 = self.treated_rate, self.held_out_rate
        if p1 is None or p0 is None:
            return None
        error = math.sqrt(p1 * (1 - p1) / self.treated + p0 * (1 - p0) / self.held_out)
        lift = p1 - p0
        return lift, lift - Z_95 * error, lift + Z_95 * error

    def z_test_p_value(self) -> float | None:
        """Two-sided p-value of the pooled two-proportion z-test."""
        if not self.treated or not self.held_out:
            return None
        pooled = (self.treated_converted + self.held_out_converted) / (self.treated + self.held_out)
        error = math.sqrt(pooled * (1 - pooled) * (1 / self.treated + 1 / self.held_out))
        if error == 0:
            return 1.0
        z = ((self.treated_rate or 0) - (self.held_out_rate or 0)) / error
        return 2 * (1 - NormalDist().cdf(abs(z)))
