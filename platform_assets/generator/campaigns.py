"""The email-marketing calendar: which days a campaign goes out, when, and what it promotes."""

from __future__ import annotations

import random
from dataclasses import dataclass

from platform_assets.generator.catalogue import CATEGORIES
from platform_assets.generator.clock import Horizon
from platform_assets.generator.ids import Stream, mix64

CAMPAIGN_WEEKDAYS = (1, 4)  # Tuesday and Friday: two sends a week
# The email programme was running before the first day: its sends, opens and clicks of these
# weeks land with the day-0 base, like the shop's order history, so engagement segments start
# from a business's steady state rather than from a launch.
HISTORY_DAYS = 56
THEMES = (
    "new-arrivals",
    "weekend-deals",
    "autumn-sale",
    "back-in-stock",
    "gift-guide",
    "bestsellers",
)


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    day: int
    send_ts: int  # the send starts here and is spread over half an hour
    category: int  # the category the email promotes; clicks land there


def plan_campaigns(seed: int, horizon: Horizon) -> dict[int, Campaign]:
    rng = random.Random(mix64(seed, 0, int(Stream.CAMPAIGNS)))
    campaigns: dict[int, Campaign] = {}
    for day in range(-HISTORY_DAYS, horizon.days):
        when = horizon.date_of(day)
        if when.weekday() not in CAMPAIGN_WEEKDAYS:
            continue
        theme = THEMES[len(campaigns) % len(THEMES)]
        send_ts = horizon.day_start(day) + 8 * 3600 + rng.randrange(0, 3 * 3600, 900)
        campaigns[day] = Campaign(
            campaign_id=f"cmp-{when:%Y%m%d}-{theme}",
            day=day,
            send_ts=send_ts,
            category=rng.randrange(len(CATEGORIES)),
        )
    return campaigns
