"""Countries the demo customers live in, and pools of realistic values drawn from Faker.

Faker is slow (tens of microseconds per value), so it runs only here, once per run: each locale
gets fixed-size pools of names, streets and places, and people draw from the pools with their own
seeded streams. Pools keep Faker's duplicates on purpose, so common names stay common.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from faker import Faker

from platform_assets.generator.ids import Stream, mix64


@dataclass(frozen=True)
class PhonePlan:
    """A kind of number: national significant digits = prefix + `digits` random digits."""

    weight: float
    prefixes: tuple[str, ...]
    digits: int
    groups: tuple[int, ...]  # how the national significant number is spaced when written


@dataclass(frozen=True)
class Locale:
    faker_locale: str
    country: str  # ISO 3166 alpha-2
    weight: float
    currency: str
    utc_offsets: tuple[int, ...]  # minutes, in November (no summer time)
    calling_code: str
    trunk_prefix: str  # the national "0"; empty where numbers are dialled without it
    phone_plans: tuple[PhonePlan, ...]
    email_domains: tuple[tuple[str, float], ...]
    country_spellings: tuple[str, ...]  # names and aliases people type instead of the code
    number_after_street: bool  # "Hauptstraße 12" rather than "12 High Street"
    street_abbreviations: tuple[tuple[str, str], ...] = ()


_US_AREA_CODES = (
    "212", "213", "206", "214", "305", "312", "303", "404", "415", "512",
    "602", "617", "646", "702", "713", "718", "773", "818", "919", "971",
)  # fmt: skip

LOCALES: tuple[Locale, ...] = (
    Locale(
        faker_locale="en_GB",
        country="GB",
        weight=0.34,
        currency="GBP",
        utc_offsets=(0,),
        calling_code="44",
        trunk_prefix="0",
        phone_plans=(
            PhonePlan(0.65, ("74", "75", "77", "78", "79"), 8, (4, 6)),  # mobiles
            PhonePlan(0.2, ("203", "207", "208"), 7, (2, 4, 4)),  # London
            PhonePlan(0.15, ("1614", "1612", "1214", "1217", "1132"), 6, (3, 3, 4)),  # Manchester …
        ),
        email_domains=(
            ("gmail.com", 0.38),
            ("hotmail.co.uk", 0.16),
            ("outlook.com", 0.12),
            ("yahoo.co.uk", 0.1),
            ("btinternet.com", 0.09),
            ("icloud.com", 0.09),
            ("sky.com", 0.06),
        ),
        country_spellings=("United Kingdom", "UK", "Great Britain", "England", "gb"),
        number_after_street=False,
        street_abbreviations=(("Street", "St"), ("Road", "Rd"), ("Avenue", "Ave")),
    ),
    Locale(
        faker_locale="en_US",
        country="US",
        weight=0.2,
        currency="USD",
        utc_offsets=(-300, -300, -360, -420, -480),  # Eastern is the most populous
        calling_code="1",
        trunk_prefix="",
        phone_plans=(PhonePlan(1.0, _US_AREA_CODES, 7, (3, 3, 4)),),
        email_domains=(
            ("gmail.com", 0.45),
            ("yahoo.com", 0.15),
            ("outlook.com", 0.1),
            ("hotmail.com", 0.1),
            ("icloud.com", 0.12),
            ("aol.com", 0.08),
        ),
        country_spellings=("United States", "USA", "United States of America", "U.S.", "us"),
        number_after_street=False,
        street_abbreviations=(("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd")),
    ),
    Locale(
        faker_locale="de_DE",
        country="DE",
        weight=0.16,
        currency="EUR",
        utc_offsets=(60,),
        calling_code="49",
        trunk_prefix="0",
        phone_plans=(
            PhonePlan(0.7, ("151", "152", "157", "160", "170", "171", "176", "177"), 8, (3, 8)),
            PhonePlan(0.3, ("30", "40", "89"), 8, (2, 8)),  # Berlin, Hamburg, Munich
        ),
        email_domains=(
            ("gmail.com", 0.3),
            ("web.de", 0.22),
            ("gmx.de", 0.22),
            ("t-online.de", 0.12),
            ("outlook.de", 0.08),
            ("posteo.de", 0.06),
        ),
        country_spellings=("Germany", "Deutschland", "de"),
        number_after_street=True,
        street_abbreviations=(("straße", "str."), ("Straße", "Str.")),
    ),
    Locale(
        faker_locale="fr_FR",
        country="FR",
        weight=0.12,
        currency="EUR",
        utc_offsets=(60,),
        calling_code="33",
        trunk_prefix="0",
        phone_plans=(
            PhonePlan(
                0.7,
                ("60", "61", "62", "64", "65", "66", "67", "68", "76", "77", "78"),
                7,
                (1, 2, 2, 2, 2),
            ),
            PhonePlan(0.3, ("14", "15", "42", "44"), 7, (1, 2, 2, 2, 2)),  # Paris, south-east
        ),
        email_domains=(
            ("gmail.com", 0.36),
            ("orange.fr", 0.18),
            ("free.fr", 0.14),
            ("laposte.net", 0.1),
            ("hotmail.fr", 0.12),
            ("sfr.fr", 0.1),
        ),
        country_spellings=("France", "fr", "FRANCE"),
        number_after_street=False,
        street_abbreviations=(("avenue", "av."), ("boulevard", "bd")),
    ),
    Locale(
        faker_locale="nl_NL",
        country="NL",
        weight=0.1,
        currency="EUR",
        utc_offsets=(60,),
        calling_code="31",
        trunk_prefix="0",
        phone_plans=(
            PhonePlan(0.75, ("61", "62", "63", "64", "65", "68"), 7, (1, 8)),
            PhonePlan(0.25, ("20", "10", "30"), 7, (2, 7)),  # Amsterdam, Rotterdam, Utrecht
        ),
        email_domains=(
            ("gmail.com", 0.4),
            ("ziggo.nl", 0.16),
            ("kpnmail.nl", 0.12),
            ("hotmail.nl", 0.14),
            ("outlook.com", 0.1),
            ("xs4all.nl", 0.08),
        ),
        country_spellings=("Netherlands", "The Netherlands", "Holland", "Nederland", "nl"),
        number_after_street=True,
        street_abbreviations=(("straat", "str"), ("laan", "ln")),
    ),
    Locale(
        faker_locale="es_ES",
        country="ES",
        weight=0.08,
        currency="EUR",
        utc_offsets=(60,),
        calling_code="34",
        trunk_prefix="",
        phone_plans=(
            PhonePlan(0.75, ("6",), 8, (3, 3, 3)),
            PhonePlan(0.25, ("91", "93"), 7, (3, 2, 2, 2)),  # Madrid, Barcelona
        ),
        email_domains=(
            ("gmail.com", 0.45),
            ("hotmail.es", 0.2),
            ("yahoo.es", 0.1),
            ("outlook.es", 0.12),
            ("telefonica.net", 0.13),
        ),
        country_spellings=("Spain", "España", "Espana", "es"),
        number_after_street=True,
        street_abbreviations=(("Calle", "C/"), ("Avenida", "Avda.")),
    ),
)


@dataclass(frozen=True)
class Place:
    city: str
    postcode: str
    region: str


@dataclass(frozen=True)
class Pools:
    locale: Locale
    first_names_female: tuple[str, ...]
    first_names_male: tuple[str, ...]
    last_names: tuple[str, ...]
    street_names: tuple[str, ...]
    places: tuple[Place, ...]
    email_domains: tuple[str, ...]
    email_domain_weights: tuple[float, ...]  # cumulative, for random.choices(cum_weights=...)


FIRST_NAME_POOL = 600
LAST_NAME_POOL = 1000
STREET_POOL = 1500
PLACE_POOL = 600


@lru_cache(maxsize=4)  # pools are immutable; repeated runs in one process reuse them
def build_pools(seed: int) -> tuple[Pools, ...]:
    """One set of pools per locale, in the order of LOCALES; deterministic for a seed."""
    return tuple(_locale_pools(seed, number, locale) for number, locale in enumerate(LOCALES))


def _locale_pools(seed: int, number: int, locale: Locale) -> Pools:
    faker = Faker(locale.faker_locale)
    faker.seed_instance(mix64(seed, number, int(Stream.POOLS)))
    places = []
    for _ in range(PLACE_POOL):
        if locale.country == "US":
            # A zip code that belongs to the state keeps US addresses internally consistent.
            state = faker.state_abbr(include_territories=False)
            places.append(Place(faker.city(), faker.zipcode_in_state(state), state))
        else:
            places.append(Place(faker.city(), faker.postcode(), faker.administrative_unit()))
    cumulative, total = [], 0.0
    for _, weight in locale.email_domains:
        total += weight
        cumulative.append(total)
    return Pools(
        locale=locale,
        first_names_female=tuple(faker.first_name_female() for _ in range(FIRST_NAME_POOL)),
        first_names_male=tuple(faker.first_name_male() for _ in range(FIRST_NAME_POOL)),
        last_names=tuple(faker.last_name() for _ in range(LAST_NAME_POOL)),
        street_names=tuple(faker.street_name() for _ in range(STREET_POOL)),
        places=tuple(places),
        email_domains=tuple(domain for domain, _ in locale.email_domains),
        email_domain_weights=tuple(cumulative),
    )


def locale_cumulative_weights() -> tuple[float, ...]:
    cumulative, total = [], 0.0
    for locale in LOCALES:
        total += locale.weight
        cumulative.append(total)
    return tuple(cumulative)


def street_address(locale: Locale, street: str, number: int) -> str:
    return f"{street} {number}" if locale.number_after_street else f"{number} {street}"


def draw_phone_digits(locale: Locale, rng: random.Random) -> tuple[str, ...]:
    """A plausible number of the country, as its spaced groups of national significant digits."""
    plans = locale.phone_plans
    roll, plan = rng.random(), plans[-1]
    for candidate in plans:
        if roll < candidate.weight:
            plan = candidate
            break
        roll -= candidate.weight
    prefix = rng.choice(plan.prefixes)
    if locale.country == "US":
        # NANP exchanges start with 2-9 and are never N11.
        exchange = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(2, 9)}"
        body = prefix + exchange + f"{rng.randrange(10_000):04d}"
    else:
        body = prefix + f"{rng.randrange(10**plan.digits):0{plan.digits}d}"
    groups, position = [], 0
    for size in plan.groups:
        groups.append(body[position : position + size])
        position += size
    if position < len(body):  # a plan whose groups do not cover every digit keeps the rest
        groups[-1] += body[position:]
    return tuple(groups)
