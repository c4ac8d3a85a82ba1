"""Deliberately bad input, so the cleaned layer's quarantine and value checks have work to do.

Each affected row carries exactly one defect, chosen among those that make sense for its source.
Defects are drawn from the person's own stream, so they are as reproducible as everything else;
with `bad_rate == 0` no row is touched.
"""

from __future__ import annotations

import random

INVALID_EMAILS = ("john.smith@", "n/a", "@example.com", "none", "customer at gmail dot com")
INVALID_PHONES = ("12", "call me", "n/a", "0000", "+44")
INVALID_DATES = ("31/02/1990", "not a date", "2090-05-17", "1990-13-01", "00/00/0000")
INVALID_QUANTITIES = ("-1", "two", "-3", "1.5.0")
UNKNOWN_ORDER_STATUSES = ("PAYED", "shiped", "in_transit")
UNKNOWN_WEB_EVENT = "hover"
UNKNOWN_EMAIL_EVENT = "forwarded"

# Column positions in the contract order of the CSV sources.
PERSON_EMAIL, PERSON_PHONE, PERSON_DOB = 3, 4, 5
ORDER_ID, ORDER_AT, ORDER_STATUS, ORDER_QUANTITY = 0, 3, 4, 6
TICKET_CLOSED, TICKET_EMAIL, TICKET_PHONE = 2, 3, 5


class Defects:
    def __init__(self, rate: float) -> None:
        self.rate = rate

    def hit(self, rng: random.Random) -> bool:
        return self.rate > 0 and rng.random() < self.rate

    def person_row(self, row: list[str], rng: random.Random, *, may_drop_id: bool) -> None:
        """A CRM or shop row: invalid email, phone, birth date, or (CRM) a missing id."""
        kind = rng.randrange(4 if may_drop_id else 3)
        if kind == 0:
            row[PERSON_EMAIL] = rng.choice(INVALID_EMAILS)
        elif kind == 1:
            row[PERSON_PHONE] = rng.choice(INVALID_PHONES)
        elif kind == 2:
            row[PERSON_DOB] = rng.choice(INVALID_DATES)
        else:
            row[0] = ""

    def order_row(self, row: list[str], rng: random.Random, future_text: str) -> None:
        """An order line: bad quantity, unknown status, a date in the future, or no order id."""
        kind = rng.randrange(4)
        if kind == 0:
            row[ORDER_QUANTITY] = rng.choice(INVALID_QUANTITIES)
        elif kind == 1:
            row[ORDER_STATUS] = rng.choice(UNKNOWN_ORDER_STATUSES)
        elif kind == 2:
            row[ORDER_AT] = future_text
        else:
            row[ORDER_ID] = ""

    def ticket_row(self, row: list[str], rng: random.Random, before_open_text: str) -> None:
        """A ticket version: closed before it opened (when closed), bad email or bad phone."""
        kinds = 3 if row[TICKET_CLOSED] else 2
        kind = rng.randrange(kinds)
        if kind == 0:
            row[TICKET_EMAIL] = rng.choice(INVALID_EMAILS)
        elif kind == 1:
            row[TICKET_PHONE] = rng.choice(INVALID_PHONES)
        else:
            row[TICKET_CLOSED] = before_open_text
