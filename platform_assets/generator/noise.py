"""Real-world noise: the ways one true value is written differently by people and systems.

Every function takes the caller's seeded `random.Random`, so the noise is as reproducible as the
rest of the data. Rates live in `NoiseProfile`: each source system has its own habits (a CRM
stores country names typed by sales staff, a shop stores ISO codes from a drop-down).
"""

from __future__ import annotations

import random
import string
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from platform_assets.generator.locales import Locale

# Formal first name -> nicknames people use instead. Small on purpose: enough for a matcher to
# need a nickname-aware comparison, not a catalogue of every diminutive.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Rob", "Bobby"),
    "William": ("Bill", "Will", "Billy"),
    "Katherine": ("Kate", "Kathy", "Katie"),
    "Catherine": ("Cathy", "Kate", "Cath"),
    "Elizabeth": ("Liz", "Beth", "Lizzie"),
    "Richard": ("Rick", "Rich", "Dick"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "Michael": ("Mike", "Mick"),
    "Thomas": ("Tom", "Tommy"),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "Jennifer": ("Jen", "Jenny"),
    "Christopher": ("Chris",),
    "Christine": ("Chris", "Tina"),
    "Alexander": ("Alex", "Sandy"),
    "Alexandra": ("Alex", "Sandra"),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Joseph": ("Joe", "Joey"),
    "Anthony": ("Tony",),
    "Nicholas": ("Nick",),
    "Samantha": ("Sam",),
    "Samuel": ("Sam",),
    "Jessica": ("Jess",),
    "Rebecca": ("Becky", "Becca"),
    "Victoria": ("Vicky", "Tori"),
    "Edward": ("Ed", "Ted", "Eddie"),
    "Benjamin": ("Ben",),
    "Jonathan": ("Jon",),
    "Andrew": ("Andy", "Drew"),
    "Patricia": ("Pat", "Trish"),
    "Susan": ("Sue",),
    "Deborah": ("Debbie", "Deb"),
    "Stephen": ("Steve",),
    "Steven": ("Steve",),
    "Charles": ("Charlie", "Chuck"),
    "Charlotte": ("Charlie", "Lottie"),
    "Frederick": ("Fred", "Freddie"),
    "Abigail": ("Abby",),
    "Johannes": ("Hans", "Jan"),
    "Katharina": ("Kathi", "Katja"),
    "Elisabeth": ("Lisa", "Elli"),
    "Maximilian": ("Max",),
    "Christian": ("Chris",),
    "Wolfgang": ("Wolf",),
    "Wilhelm": ("Willi",),
    "Cornelis": ("Kees",),
    "Wilhelmus": ("Wim",),
    "Hendrik": ("Henk",),
    "Jacobus": ("Koos", "Jaap"),
    "Francisco": ("Paco", "Curro"),
    "José": ("Pepe",),
    "Ignacio": ("Nacho",),
    "Guadalupe": ("Lupe",),
    "Dolores": ("Lola",),
    "Manuel": ("Manolo",),
    "Jean-Baptiste": ("JB",),
    "Dominique": ("Dom",),
}

PHONE_STYLES = ("international", "national", "idd", "bracketed", "e164", "compact", "dotted")
COUNTRY_STYLES = ("code", "lower_code", "name", "alias")
DOB_STYLES = ("iso", "compact", "european")


@dataclass(frozen=True)
class NoiseProfile:
    """How one source system distorts a person's details. Rates are per record."""

    typo: float = 0.0  # per name part
    nickname: float = 0.0
    swap_names: float = 0.0
    upper_names: float = 0.0
    lower_names: float = 0.0
    missing_email: float = 0.0
    missing_phone: float = 0.0
    missing_dob: float = 0.0
    missing_address_part: float = 0.0  # per part
    swapped_day_month: float = 0.0
    street_abbreviation: float = 0.0
    email_case: float = 0.0
    email_space: float = 0.0
    email_typo: float = 0.0
    phone_styles: tuple[float, ...] = (1, 0, 0, 0, 0, 0, 0)  # weights, in PHONE_STYLES order
    country_styles: tuple[float, ...] = (1, 0, 0, 0)  # weights, in COUNTRY_STYLES order
    dob_styles: tuple[float, ...] = (1, 0, 0)  # weights, in DOB_STYLES order


def pick(rng: random.Random, options: tuple[str, ...], weights: tuple[float, ...]) -> str:
    roll = rng.random() * sum(weights)
    for option, weight in zip(options, weights, strict=True):
        if roll < weight:
            return option
        roll -= weight
    return options[-1]


_NEIGHBOURS = {
    "a": "qsz", "b": "vnh", "c": "xvd", "d": "sfe", "e": "wrd", "f": "dgr", "g": "fht",
    "h": "gjy", "i": "uok", "j": "hku", "k": "jli", "l": "kop", "m": "nj", "n": "bmh",
    "o": "ipl", "p": "ol", "q": "wa", "r": "etf", "s": "adw", "t": "ryg", "u": "yij",
    "v": "cbf", "w": "qes", "x": "zcs", "y": "tuh", "z": "xas",
}  # fmt: skip


def typo(text: str, rng: random.Random) -> str:
    """One keyboard slip: swap two neighbours, drop, double or mistype a letter."""
    if len(text) < 3:
        return text
    position = rng.randrange(1, len(text) - 1)  # first letters are rarely mistyped
    operation = rng.random()
    if operation < 0.3:
        return text[:position] + text[position + 1] + text[position] + text[position + 2 :]
    if operation < 0.55:
        return text[:position] + text[position + 1 :]
    if operation < 0.7:
        return text[:position] + text[position] + text[position:]
    letter = text[position]
    near = _NEIGHBOURS.get(letter.lower())
    if not near:
        return text
    replacement = rng.choice(near)
    return (
        text[:position]
        + (replacement.upper() if letter.isupper() else replacement)
        + text[position + 1 :]
    )


def nickname(first_name: str, rng: random.Random) -> str:
    options = NICKNAMES.get(first_name)
    return rng.choice(options) if options else first_name


@lru_cache(maxsize=65536)
def ascii_slug(text: str) -> str:
    """`Müller-Lüdenscheidt` -> `mullerludenscheidt`: what an email local part is made of."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed.lower() if ch in string.ascii_lowercase)


def format_phone(locale: Locale, groups: tuple[str, ...], style: str) -> str:
    """One number written in one of the ways people and systems write numbers."""
    code, trunk = locale.calling_code, locale.trunk_prefix
    digits = "".join(groups)
    first, rest = groups[0], groups[1:]
    us = locale.country == "US"
    if style == "international":
        return f"+{code} {'-'.join(groups)}" if us else f"+{code} {' '.join(groups)}"
    if style == "national":
        return f"({first}) {rest[0]}-{rest[1]}" if us else f"{trunk}{' '.join(groups)}"
    if style == "idd":
        return f"00{code} {' '.join(groups)}"
    if style == "bracketed":
        return f"({trunk}{first}) {'-'.join(rest)}"
    if style == "e164":
        return f"+{code}{digits}"
    if style == "compact":
        return f"{trunk}{digits}"
    if style == "dotted":
        return f"{trunk}{first}.{'.'.join(rest)}"
    raise ValueError(f"unknown phone style {style}")


def render_email(email: str, rng: random.Random, profile: NoiseProfile) -> str:
    """The address as one system stored it: maybe re-cased, padded or mistyped."""
    roll = rng.random()
    if roll < profile.email_typo:
        # The slip stays inside a name part, so the address is wrong but still well-formed
        # (syntactically invalid addresses are the defects' job, not the noise's).
        local, _, domain = email.partition("@")
        name, dot, suffix = domain.partition(".")
        if rng.random() < 0.7 or len(name) < 4:
            email = f"{typo(local, rng).strip('.') or local}@{domain}"
        else:
            email = f"{local}@{typo(name, rng)}{dot}{suffix}"
    roll = rng.random()
    if roll < profile.email_case * 0.4:
        email = email.upper()
    elif roll < profile.email_case:
        local, _, domain = email.partition("@")
        email = f"{'.'.join(part.capitalize() for part in local.split('.'))}@{domain.capitalize()}"
    if rng.random() < profile.email_space:
        email = rng.choice((" ", "  ", "")) + email + rng.choice((" ", "\t", " "))
    return email


def render_country(locale: Locale, rng: random.Random, profile: NoiseProfile) -> str:
    style = pick(rng, COUNTRY_STYLES, profile.country_styles)
    if style == "code":
        return locale.country
    if style == "lower_code":
        return locale.country.lower()
    if style == "name":
        return locale.country_spellings[0]
    return rng.choice(locale.country_spellings[1:])


def render_dob(dob: date, rng: random.Random, profile: NoiseProfile) -> str:
    year, month, day = dob.year, dob.month, dob.day
    if day <= 12 and rng.random() < profile.swapped_day_month:
        month, day = day, month  # a US/European mix-up that still yields a real date
    style = pick(rng, DOB_STYLES, profile.dob_styles)
    if style == "iso":
        return f"{year:04d}-{month:02d}-{day:02d}"
    if style == "compact":
        return f"{year:04d}{month:02d}{day:02d}"
    return f"{day:02d}/{month:02d}/{year:04d}"


def abbreviate_street(locale: Locale, street: str) -> str:
    for long, short in locale.street_abbreviations:
        if long in street:
            return street.replace(long, short)
    return street
