"""When a partitioned asset re-runs by itself: the one automation condition every layer shares."""

import dagster as dg

# Dagster's all_deps_blocking_checks_passed() lets an input count when its checks "will be
# requested" this tick, but checks are never requested by themselves: every layer below a
# blocking check would wait one tick and one run of its own. Here an input counts once its
# blocking checks passed, or when the input itself is requested this tick: they then run in the
# same run, where a failing blocking check still stops what is below it.
INPUTS_CHECKED_OR_IN_THIS_RUN = dg.AutomationCondition.all_deps_match(
    dg.AutomationCondition.all_checks_match(
        dg.AutomationCondition.check_passed(), blocking_only=True
    )
    | dg.AutomationCondition.will_be_requested()
).with_label("inputs checked, or built in the same run")

# AutomationCondition.eager() without its `in_latest_time_window()`: a late file re-loads an old
# day's raw partition, and that day's partition of every layer below must follow it too (a late
# consent withdrawal included). It waits until no input is missing or still running, and until
# the day's blocking checks on its inputs pass: a blocking check stops what is below it within a
# run, and without this the next tick would see the input updated and run it anyway (export
# files after a failed size guard, say). Materializing the asset by hand still releases it.
FOLLOWS_INPUTS_ON_ANY_DAY = (
    (
        dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()
    ).since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
    & INPUTS_CHECKED_OR_IN_THIS_RUN
).with_label("follows its inputs on any day")
