"""Triggered emails' rules as pure functions: scheduling, gates, holdouts and the lift."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import yaml

from platform_assets.exports.trigger_assets import performance_rows, pick_send_hours
from platform_assets.exports.triggers import (
    DecisionInputs,
    Lift,
    after_delivery,
    decide_due,
    due_rows,
    in_holdout,
    load_triggers,
    merge,
    parse_duration,
    schedule_entries,
    schedule_next_steps,
    send_key,
)

ROOT = Path(__file__).resolve().parents[1]
DAY = date(2026, 11, 2)
EVENING = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)


def settings(share: str = "0"):
    return load_triggers(holdout_share=share)


def _inputs(
    may_send: set[str],
    unless: set[str] | None = None,
    campaigns: dict[str, datetime] | None = None,
) -> DecisionInputs:
    return DecisionInputs(
        may_send=may_send,
        unless_hits=unless or set(),
        last_campaign_sent_at=campaigns or {},
        contacts={c: (f"{c}@example.com", "Ann") for c in may_send},
        tokens={c: {"best_send_hour": 9} for c in may_send},
    )


def _entered(*pairs: tuple[str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"customer_id": c, "segment": s} for c, s in pairs],
        schema={"customer_id": pl.String, "segment": pl.String},
    )


def _run(config, ledger, entered, day, moment, inputs, now=None):
    """One run of the day as the asset does it, with every send acknowledged."""
    ledger = merge(ledger, schedule_entries(config, entered, ledger, day, moment))
    for attempt in range(3):
        due = due_rows(ledger, moment, retry_failed=attempt == 0)
        if due.is_empty():
            break
        ledger = merge(ledger, decide_due(config, ledger, due, inputs, moment, now or moment))
        pending = ledger.filter(pl.col("status") == "pending")
        ledger = merge(
            ledger,
            after_delivery(pending, set(pending["send_key"]), "delivered", moment, ""),
        )
        ledger = merge(ledger, schedule_next_steps(config, ledger, day, moment))
    return ledger


def _empty():
    from platform_assets.exports.triggers import empty_sends

    return empty_sends()


def test_the_shipped_triggers_load_and_name_segments_that_exist() -> None:
    config = settings()
    names = {t.name for t in config.triggers}
    assert {"cart_recovery", "browse_recovery"} <= names
    document = yaml.safe_load((ROOT / "dbt/models/segments/segment_membership.yml").read_text())
    segments = {s["name"] for s in document["models"][0]["config"]["meta"]["segments"]}
    for trigger in config.triggers:
        assert trigger.on_enter in segments
        for step in trigger.steps:
            assert step.unless_segment is None or step.unless_segment in segments
    cart = config.trigger("cart_recovery")
    assert [s.name for s in cart.steps] == ["reminder", "offer"]
    assert cart.steps[1].after == timedelta(hours=48)
    assert config.frequency_cap == timedelta(hours=24)


def test_durations_and_the_holdout_override(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("0") == timedelta()
    with pytest.raises(ValueError):
        parse_duration("two days")
    monkeypatch.setenv("CDP_HOLDOUT_SHARE", "0.25")
    assert load_triggers().holdout_share == 0.25
    monkeypatch.setenv("CDP_HOLDOUT_SHARE", "1.5")
    with pytest.raises(ValueError):
        load_triggers()


def test_a_cart_abandoner_gets_a_reminder_then_an_offer_48_hours_later_and_a_buyer_none() -> None:
    config = settings()
    people = {"ann", "bob"}
    ledger = _run(
        config,
        _empty(),
        _entered(("ann", "cart_abandoners_24h"), ("bob", "cart_abandoners_24h")),
        DAY,
        EVENING,
        _inputs(people),
    )
    sent = ledger.filter(pl.col("status") == "delivered")
    assert sorted(sent["customer_id"]) == ["ann", "bob"]
    assert set(sent["step"]) == {"reminder"}
    # The offers are scheduled two days on, not sent.
    scheduled = ledger.filter(pl.col("status") == "scheduled")
    assert set(scheduled["step"]) == {"offer"}
    assert set(scheduled["scheduled_at"]) == {EVENING + timedelta(hours=48)}
    # A day later nothing is due yet.
    later = _run(
        config,
        ledger,
        _entered(),
        DAY + timedelta(days=1),
        EVENING + timedelta(days=1),
        _inputs(people),
    )
    assert later.filter(pl.col("status") == "delivered").height == 2
    # Two days later: Bob ordered since (his `unless` holds), Ann did not.
    bob_offer = send_key("cart_recovery", "offer", "bob", DAY)
    moment = EVENING + timedelta(days=2)
    final = _run(
        config, later, _entered(), DAY + timedelta(days=2), moment, _inputs(people, {bob_offer})
    )
    offers = final.filter(pl.col("step") == "offer").sort("customer_id")
    assert offers["status"].to_list() == ["delivered", "skipped"]
    assert offers["reason"].to_list() == [None, "unless"]
    ann_offer = offers.row(0, named=True)
    assert ann_offer["variant"] in {"ten_percent", "free_shipping"}
    assert '"offer_code"' in ann_offer["tokens"]
    # A re-run of the same day changes nothing and sends nothing new.
    again = _run(
        config, final, _entered(), DAY + timedelta(days=2), moment, _inputs(people, {bob_offer})
    )
    assert again.sort("send_key").equals(final.sort("send_key"))


def test_without_consent_at_send_time_nothing_goes_out() -> None:
    config = settings()
    ledger = _run(
        config, _empty(), _entered(("wanda", "cart_abandoners_24h")), DAY, EVENING, _inputs(set())
    )
    [row] = ledger.rows(named=True)
    assert (row["status"], row["reason"]) == ("skipped", "consent")


def test_the_frequency_cap_holds_across_two_triggers() -> None:
    config = settings()
    # Browsing on day one (nudge due two hours after the evaluation), a cart on day two.
    first = _run(
        config, _empty(), _entered(("fay", "browse_abandoners")), DAY, EVENING, _inputs({"fay"})
    )
    assert first["status"].to_list() == ["scheduled"]
    second = _run(
        config,
        first,
        _entered(("fay", "cart_abandoners_24h")),
        DAY + timedelta(days=1),
        EVENING + timedelta(days=1),
        _inputs({"fay"}),
    )
    by_trigger = dict(second.select("trigger", "status").iter_rows())
    assert by_trigger == {"browse_recovery": "delivered", "cart_recovery": "skipped"}
    assert second.filter(pl.col("trigger") == "cart_recovery")["reason"].to_list() == [
        "frequency_cap"
    ]


def test_a_campaign_send_holds_back_a_triggered_email_for_the_quiet_period() -> None:
    config = settings()
    ledger = _run(
        config,
        _empty(),
        _entered(("cam", "cart_abandoners_24h")),
        DAY,
        EVENING,
        _inputs({"cam"}, campaigns={"cam": EVENING - timedelta(hours=1)}),
    )
    assert ledger.filter(pl.col("step") == "reminder")["reason"].to_list() == [
        "campaign_quiet_period"
    ]


def test_the_cooldown_stops_a_second_sequence_within_a_week() -> None:
    config = settings()
    first = _run(
        config, _empty(), _entered(("cy", "cart_abandoners_24h")), DAY, EVENING, _inputs({"cy"})
    )
    again = _run(
        config,
        first,
        _entered(("cy", "cart_abandoners_24h")),
        DAY + timedelta(days=3),
        EVENING + timedelta(days=3),
        _inputs({"cy"}),
    )
    reminders = again.filter(pl.col("step") == "reminder").sort("entry_date")
    assert reminders["status"].to_list() == ["delivered", "skipped"]
    assert reminders["reason"].to_list() == [None, "cooldown"]


def test_a_step_decided_long_after_it_was_due_has_expired() -> None:
    # A backfill of an old day: the reminder would reach someone about a cart of last month.
    config = settings()
    ledger = _run(
        config,
        _empty(),
        _entered(("old", "cart_abandoners_24h")),
        DAY,
        EVENING,
        _inputs({"old"}),
        now=EVENING + timedelta(days=30),
    )
    assert ledger["reason"].to_list() == ["expired"]


def test_the_holdout_is_deterministic_recorded_and_never_sent() -> None:
    people = [f"cus_{n:012d}" for n in range(2000)]
    held = [p for p in people if in_holdout(p, "cart_recovery", 0.1)]
    assert 150 <= len(held) <= 250  # about a tenth
    assert held == [p for p in people if in_holdout(p, "cart_recovery", 0.1)]
    # Another trigger draws its own holdout.
    assert held != [p for p in people if in_holdout(p, "browse_recovery", 0.1)]
    config = settings("0.1")
    sample = people[:200]
    ledger = _run(
        config,
        _empty(),
        _entered(*((p, "cart_abandoners_24h") for p in sample)),
        DAY,
        EVENING,
        _inputs(set(sample)),
    )
    reminders = ledger.filter(pl.col("step") == "reminder")
    assert set(reminders.filter(pl.col("status") == "held_out")["customer_id"]) == {
        p for p in sample if in_holdout(p, "cart_recovery", 0.1)
    }
    assert reminders.filter(pl.col("status") == "held_out")["sent_at"].null_count() == len(
        [p for p in sample if in_holdout(p, "cart_recovery", 0.1)]
    )
    # Held-out entrants stay held out at the follow-up too.
    offers = ledger.filter(pl.col("step") == "offer")
    assert offers.height == len(sample)


def test_a_failed_delivery_is_retried_on_the_next_run_and_never_twice() -> None:
    config = settings()
    ledger = merge(
        _empty(),
        schedule_entries(config, _entered(("ed", "cart_abandoners_24h")), _empty(), DAY, EVENING),
    )
    due = due_rows(ledger, EVENING, retry_failed=True)
    ledger = merge(ledger, decide_due(config, ledger, due, _inputs({"ed"}), EVENING, EVENING))
    pending = ledger.filter(pl.col("status") == "pending")
    failed = after_delivery(pending, set(), "delivered", EVENING, "failed: HTTP 500")
    ledger = merge(ledger, failed)
    assert ledger.filter(pl.col("step") == "reminder")["status"].to_list() == ["failed"]
    # The same run does not retry it; the next run does, once.
    assert due_rows(ledger, EVENING, retry_failed=False).is_empty()
    retry = due_rows(ledger, EVENING + timedelta(minutes=5), retry_failed=True)
    assert retry["step"].to_list() == ["reminder"]
    decided = decide_due(config, ledger, retry, _inputs({"ed"}), EVENING, EVENING)
    assert decided["status"].to_list() == ["pending"]
    assert decided["attempts"].to_list() == [1]


def test_best_send_hour_is_the_most_common_open_hour_with_a_fallback() -> None:
    opens = pl.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", None],
            "hour": [7, 19, 20, 21, 20],
            "opens": [3, 1, 2, 2, 5],
        }
    )
    hours, fallback = pick_send_hours(opens, default=10)
    assert hours == {"a": 7, "b": 20}  # b's tie goes to the earlier hour
    assert fallback == 20
    assert pick_send_hours(opens.head(0), default=10) == ({}, 10)


def test_the_lift_on_a_hand_made_case() -> None:
    # 100 sent, 30 ordered; 100 held out, 20 ordered.
    lift = Lift(treated=100, treated_converted=30, held_out=100, held_out_converted=20)
    difference = lift.difference()
    assert difference is not None
    error = math.sqrt(0.3 * 0.7 / 100 + 0.2 * 0.8 / 100)
    assert difference[0] == pytest.approx(0.10)
    assert difference[1] == pytest.approx(0.10 - 1.959964 * error, abs=1e-6)
    assert difference[2] == pytest.approx(0.10 + 1.959964 * error, abs=1e-6)
    # Pooled z = 0.1 / sqrt(0.25 * 0.75 * 0.02) = 1.633; two-sided p = 0.1025.
    assert lift.z_test_p_value() == pytest.approx(0.1025, abs=5e-4)
    outcomes = pl.DataFrame(
        {
            "trigger": ["cart_recovery"] * 200,
            "step": ["reminder"] * 200,
            "variant": [None] * 200,
            "group": ["sent"] * 100 + ["held_out"] * 100,
            "converted": [True] * 30 + [False] * 70 + [True] * 20 + [False] * 80,
            "revenue": [50.0] * 30 + [0.0] * 70 + [40.0] * 20 + [0.0] * 80,
        }
    )
    [row] = performance_rows(outcomes, DAY).rows(named=True)
    assert (row["sent"], row["held_out"], row["sent_converted"], row["held_out_converted"]) == (
        100,
        100,
        30,
        20,
    )
    assert row["sent_revenue"] == 1500.0 and row["held_out_revenue"] == 800.0
    assert row["lift"] == pytest.approx(0.10)
    assert row["lift_ci_low"] < 0 < row["lift_ci_high"]  # not significant at this size
