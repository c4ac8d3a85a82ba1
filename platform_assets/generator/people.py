"""The true people behind the records: identity, household, devices and habits.

A person is a pure function of (seed, index), so any chunk can rebuild anyone. Couples are the
one link between people: an even index may form a household with the next index, and the
partner copies surname, address and the shared family email from the head.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from platform_assets.generator.ids import Stream, mix64, rng_for, uuid_from
from platform_assets.generator.locales import (
    Locale,
    Pools,
    draw_phone_digits,
    locale_cumulative_weights,
    street_address,
)
from platform_assets.generator.noise import ascii_slug

# Share of even indexes that form a couple with the next index (~4% of people are partners).
COUPLE_RATE = 0.04
HARD_BOUNCE_RATE = 0.006  # addresses that no longer exist
DEVICE_TYPES_FIRST = (("mobile", 0.6), ("desktop", 0.34), ("tablet", 0.06))


@dataclass(frozen=True, slots=True)
class Address:
    street_address: str
    city: str
    postcode: str
    region: str


@dataclass(frozen=True, slots=True)
class Device:
    anonymous_id: str
    device_type: str


@dataclass(slots=True)
class Person:
    index: int
    person_id: str
    household_id: str
    pools: Pools
    first_name: str
    last_name: str
    female: bool
    dob: date
    email: str  # lower-case, as the person would give it
    owns_email: bool  # False for a partner using the head's family address
    phone: tuple[str, ...]  # groups of national significant digits
    address: Address
    utc_offset: int  # minutes
    devices: tuple[Device, ...]
    # Habits: probabilities per day / per step, drawn per person so behaviour is heterogeneous.
    visit_rate: float
    cart_rate: float
    checkout_rate: float
    open_rate: float
    click_rate: float
    yearly_orders: float
    favourite_categories: tuple[int, int]
    email_dead: bool

    @property
    def locale(self) -> Locale:
        return self.pools.locale


def person_id(index: int) -> str:
    return f"P{index:08d}"


def is_couple_head(seed: int, index: int, people: int) -> bool:
    if index % 2 or index + 1 >= people:
        return False
    return random.Random(mix64(seed, index, int(Stream.HOUSEHOLD))).random() < COUPLE_RATE


def draw_address(pools: Pools, rng: random.Random) -> Address:
    place = rng.choice(pools.places)
    street = street_address(pools.locale, rng.choice(pools.street_names), _house_number(rng))
    return Address(street, place.city, place.postcode, place.region)


def _house_number(rng: random.Random) -> int:
    # Small numbers are far more common than large ones on real streets.
    return 1 + int(rng.expovariate(1 / 40)) % 300


def _pick_locale(rng: random.Random, cumulative: tuple[float, ...]) -> int:
    roll = rng.random() * cumulative[-1]
    for number, bound in enumerate(cumulative):
        if roll < bound:
            return number
    return len(cumulative) - 1


def _dob(rng: random.Random, start: date) -> date:
    # Ages 18-85, most customers between 25 and 60.
    age_days = int(365.25 * min(85.0, max(18.0, rng.gauss(42, 14))))
    return date.fromordinal(start.toordinal() - age_days - rng.randrange(365))


def _personal_email(first: str, last: str, number: int, pools: Pools, rng: random.Random) -> str:
    # The trailing number is unique per person, so two John Smiths never share an address.
    f, l_ = ascii_slug(first) or "x", ascii_slug(last) or "x"
    style = rng.random()
    if style < 0.35:
        local = f"{f}.{l_}{number}"
    elif style < 0.55:
        local = f"{f}{l_}{number}"
    elif style < 0.7:
        local = f"{f[0]}.{l_}{number}"
    elif style < 0.8:
        local = f"{f}_{l_}{number}"
    elif style < 0.9:
        local = f"{l_}.{f}{number}"
    else:
        local = f"{f}{number}"
    return f"{local}@{_domain(pools, rng)}"


def _family_email(last: str, number: int, pools: Pools, rng: random.Random) -> str:
    l_ = ascii_slug(last) or "x"
    style = rng.random()
    local = (
        f"the{l_}s{number}"
        if style < 0.4
        else f"{l_}family{number}"
        if style < 0.8
        else f"{l_}.home{number}"
    )
    return f"{local}@{_domain(pools, rng)}"


def _domain(pools: Pools, rng: random.Random) -> str:
    return rng.choices(pools.email_domains, cum_weights=pools.email_domain_weights)[0]


def _devices(rng: random.Random) -> tuple[Device, ...]:
    roll, first = rng.random(), "mobile"
    for device_type, weight in DEVICE_TYPES_FIRST:
        if roll < weight:
            first = device_type
            break
        roll -= weight
    devices = [Device(uuid_from(rng), first)]
    if rng.random() < 0.45:
        second = "desktop" if first == "mobile" else "mobile"
        devices.append(Device(uuid_from(rng), second))
    return tuple(devices)


class PeopleFactory:
    """Builds person `index` of a run; remembers the last head so partners reuse it."""

    def __init__(
        self, seed: int, people: int, start: date, pools: tuple[Pools, ...], categories: int
    ) -> None:
        self._seed = seed
        self._people = people
        self._start = start
        self._pools = pools
        self._locale_weights = locale_cumulative_weights()
        self._categories = categories
        self._last: Person | None = None

    def person(self, index: int) -> Person:
        head = None
        if index % 2 and is_couple_head(self._seed, index - 1, self._people):
            last = self._last
            head = last if last is not None and last.index == index - 1 else self._build(index - 1)
        built = self._build(index, head)
        self._last = built
        return built

    def _build(self, index: int, head: Person | None = None) -> Person:
        seed = self._seed
        rng = rng_for(seed, index, Stream.PERSON)
        couple_head = head is None and is_couple_head(seed, index, self._people)
        pools = head.pools if head else self._pools[_pick_locale(rng, self._locale_weights)]
        female = (
            (not head.female if rng.random() < 0.9 else head.female) if head else rng.random() < 0.5
        )
        first = rng.choice(pools.first_names_female if female else pools.first_names_male)
        if head and first == head.first_name:
            first = rng.choice(pools.first_names_female if female else pools.first_names_male)
        last = head.last_name if head else rng.choice(pools.last_names)
        if head:
            offset = rng.randint(-6 * 365, 6 * 365)
            dob = date.fromordinal(
                min(head.dob.toordinal() + offset, self._start.toordinal() - 6600)
            )
        else:
            dob = _dob(rng, self._start)
        email_number = index * 10 + rng.randrange(10)
        if head:
            email, household = head.email, head.household_id
        elif couple_head:
            email, household = _family_email(last, email_number, pools, rng), f"H{index:08d}"
        else:
            email = _personal_email(first, last, email_number, pools, rng)
            household = f"H{index:08d}"
        locale = pools.locale
        categories = max(self._categories, 1)
        favourite = rng.randrange(categories)
        others = max(categories - 1, 1)
        return Person(
            index=index,
            person_id=person_id(index),
            household_id=household,
            pools=pools,
            first_name=first,
            last_name=last,
            female=female,
            dob=dob,
            email=email,
            owns_email=head is None,
            phone=draw_phone_digits(locale, rng),
            address=head.address if head else draw_address(pools, rng),
            utc_offset=head.utc_offset if head else rng.choice(locale.utc_offsets),
            devices=_devices(rng),
            visit_rate=min(0.7, rng.betavariate(0.7, 9.0)),
            cart_rate=0.03 + 0.2 * rng.random(),
            checkout_rate=0.25 + 0.45 * rng.random(),
            open_rate=rng.betavariate(1.3, 2.6),
            click_rate=rng.betavariate(1.0, 5.0),
            yearly_orders=rng.gammavariate(0.8, 2.5),
            favourite_categories=(favourite, (favourite + 1 + rng.randrange(others)) % categories),
            email_dead=rng.random() < HARD_BOUNCE_RATE,
        )
