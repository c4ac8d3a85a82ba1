"""Business rules of the cleaned layer, as data: what makes a whole row untrustworthy.

A row rule is a polars expression over the *normalized* columns that is true when the row
breaks the rule; such a row goes to `cleaned.<source>_quarantine` under the rule's name.
Missing or unreadable required values are rules too, added by the transform for every source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from platform_assets.cleaned.schemas import EMAIL_PATTERN, RECORD_KEY_PATTERN
from platform_assets.settings import FUTURE_TOLERANCE


@dataclass(frozen=True)
class RowRule:
    name: str
    description: str
    violated: Callable[[datetime], pl.Expr]  # as_of -> expression true for breaking rows


def _in_future(column: str) -> Callable[[datetime], pl.Expr]:
    return lambda as_of: pl.col(column) > pl.lit(as_of + FUTURE_TOLERANCE)


ROW_RULES: dict[str, list[RowRule]] = {
    "crm_contacts": [
        RowRule("updated_at_in_future", "updated_at is later than now", _in_future("updated_at")),
    ],
    "shop_customers": [
        RowRule("updated_at_in_future", "updated_at is later than now", _in_future("updated_at")),
    ],
    "orders": [
        RowRule("ordered_at_in_future", "an order is not in the future", _in_future("ordered_at")),
        RowRule(
            "quantity_not_positive",
            "an order line has a positive quantity",
            lambda _: pl.col("quantity") <= 0,
        ),
        RowRule(
            "unit_price_negative",
            "an order line has no negative price",
            lambda _: pl.col("unit_price") < 0,
        ),
        RowRule(
            "line_number_not_positive",
            "order lines are numbered from 1",
            lambda _: pl.col("line_number") < 1,
        ),
    ],
    "products": [
        RowRule("updated_at_in_future", "updated_at is later than now", _in_future("updated_at")),
    ],
    "web_events": [
        RowRule(
            "occurred_at_in_future", "an event is not in the future", _in_future("occurred_at")
        ),
    ],
    "support_tickets": [
        RowRule(
            "opened_at_in_future", "a ticket is not opened in the future", _in_future("opened_at")
        ),
        RowRule(
            "closed_before_opened",
            "a ticket is not closed before it opened",
            lambda _: pl.col("closed_at") < pl.col("opened_at"),
        ),
    ],
    "email_events": [
        RowRule(
            "occurred_at_in_future", "an event is not in the future", _in_future("occurred_at")
        ),
    ],
    "consent": [
        RowRule(
            "recorded_at_in_future",
            "consent is not recorded in the future",
            _in_future("recorded_at"),
        ),
    ],
    "identity_overrides": [
        RowRule(
            "record_key_malformed",
            "both keys read <source>:<id> with a linked source",
            lambda _: (
                ~pl.col("left_record_key").str.contains(RECORD_KEY_PATTERN)
                | ~pl.col("right_record_key").str.contains(RECORD_KEY_PATTERN)
            ),
        ),
        RowRule(
            "pairs_record_with_itself",
            "an override names two different records",
            lambda _: pl.col("left_record_key") == pl.col("right_record_key"),
        ),
    ],
}

# A corrected value must be one the field's own column would accept: the golden record takes it
# as it is. Dates are ISO (YYYY-MM-DD), phones E.164, countries ISO 3166 alpha-2.
CORRECTION_VALUE_PATTERNS = {
    "email": EMAIL_PATTERN,
    "phone": r"^\+[1-9][0-9]{6,14}$",
    "date_of_birth": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "country": r"^[A-Z]{2}$",
}


def _value_unfit_for_field(_: object) -> pl.Expr:
    unfit = pl.lit(False)
    for field, pattern in CORRECTION_VALUE_PATTERNS.items():
        unfit = unfit | ((pl.col("field") == field) & ~pl.col("value").str.contains(pattern))
    return unfit | (
        (pl.col("field") == "date_of_birth")
        & pl.col("value").str.to_date("%Y-%m-%d", strict=False).is_null()
    )


ROW_RULES["profile_corrections"] = [
    RowRule(
        "value_unfit_for_field",
        "the value is one the field accepts (an address, an E.164 phone, an ISO date or"
        " country code)",
        _value_unfit_for_field,
    ),
    RowRule(
        "requested_at_in_future",
        "a correction is not requested in the future",
        _in_future("requested_at"),
    ),
]

# Optional columns whose unreadable value makes the whole row untrustworthy rather than just
# that value: an order line with an unreadable quantity, price or status has unknown revenue.
STRICT_COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": ("quantity", "unit_price", "status", "currency"),
}
