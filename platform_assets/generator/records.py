"""How each source system writes down a person: noise profiles and rendered identity fields."""

from __future__ import annotations

import random
from dataclasses import dataclass

from platform_assets.generator.noise import (
    PHONE_STYLES,
    NoiseProfile,
    abbreviate_street,
    format_phone,
    nickname,
    pick,
    render_country,
    render_dob,
    render_email,
    typo,
)
from platform_assets.generator.people import Address, Person

# Sales staff type contacts in by hand: typos, country names, mixed date formats, gaps.
CRM_PROFILE = NoiseProfile(
    typo=0.03,
    nickname=0.05,
    swap_names=0.02,
    upper_names=0.04,
    missing_email=0.06,
    missing_phone=0.12,
    missing_dob=0.15,
    missing_address_part=0.05,
    swapped_day_month=0.01,
    street_abbreviation=0.15,
    email_case=0.06,
    email_space=0.04,
    email_typo=0.01,
    phone_styles=(0.25, 0.4, 0.1, 0.1, 0.05, 0.05, 0.05),
    country_styles=(0.25, 0.05, 0.55, 0.15),
    dob_styles=(0.5, 0.25, 0.25),
)

# Customers fill in the shop's sign-up form themselves: nicknames and lower case, validated
# email and phone fields, a country drop-down, dob optional.
SHOP_PROFILE = NoiseProfile(
    typo=0.02,
    nickname=0.08,
    swap_names=0.01,
    upper_names=0.02,
    lower_names=0.05,
    missing_phone=0.25,
    missing_dob=0.4,
    missing_address_part=0.03,
    swapped_day_month=0.005,
    street_abbreviation=0.1,
    email_case=0.05,
    email_space=0.02,
    email_typo=0.005,
    phone_styles=(0.3, 0.2, 0, 0, 0.5, 0, 0),
    country_styles=(0.9, 0.05, 0.05, 0),
)

# A support agent copies what the customer wrote or said; the phone system logs caller ids in
# international form, so national numbers (unreadable without a country) are the minority.
TICKET_PROFILE = NoiseProfile(
    typo=0.04,
    nickname=0.1,
    email_case=0.1,
    email_space=0.05,
    email_typo=0.02,
    phone_styles=(0.35, 0.12, 0.1, 0.05, 0.35, 0.0, 0.03),
)

# Consent is captured by forms and the email platform: only case and stray spaces vary.
CONSENT_PROFILE = NoiseProfile(email_case=0.05, email_space=0.02)


@dataclass(slots=True)
class AccountRecord:
    """A CRM contact or shop account: one rendering of a person, re-sent on every change."""

    record_id: str
    fields: list[str]  # the ten _PERSON_COLUMNS between the id and created_at
    created_at: int
    profile: NoiseProfile
    truth_written: bool = False


def render_name(person: Person, rng: random.Random, profile: NoiseProfile) -> tuple[str, str]:
    first, last = person.first_name, person.last_name
    if rng.random() < profile.nickname:
        first = nickname(first, rng)
    if rng.random() < profile.typo:
        first = typo(first, rng)
    if rng.random() < profile.typo:
        last = typo(last, rng)
    if rng.random() < profile.swap_names:
        first, last = last, first
    roll = rng.random()
    if roll < profile.upper_names:
        first, last = first.upper(), last.upper()
    elif roll < profile.upper_names + profile.lower_names:
        first, last = first.lower(), last.lower()
    return first, last


def render_phone(
    person: Person, phone: tuple[str, ...], rng: random.Random, profile: NoiseProfile
) -> str:
    return format_phone(person.locale, phone, pick(rng, PHONE_STYLES, profile.phone_styles))


def render_address(
    person: Person, address: Address, rng: random.Random, profile: NoiseProfile
) -> list[str]:
    street = address.street_address
    if rng.random() < profile.street_abbreviation:
        street = abbreviate_street(person.locale, street)
    postcode = address.postcode
    if rng.random() < 0.1:
        postcode = postcode.replace(" ", "") if " " in postcode else postcode.lower()
    parts = [street, address.city, postcode, address.region]
    missing = profile.missing_address_part
    return [("" if rng.random() < missing else part) for part in parts]


def render_identity(
    person: Person,
    address: Address,
    phone: tuple[str, ...],
    rng: random.Random,
    profile: NoiseProfile,
) -> list[str]:
    """The ten person columns, in contract order, as this source would have stored them."""
    first, last = render_name(person, rng, profile)
    email = "" if rng.random() < profile.missing_email else render_email(person.email, rng, profile)
    phone_text = (
        "" if rng.random() < profile.missing_phone else render_phone(person, phone, rng, profile)
    )
    dob = "" if rng.random() < profile.missing_dob else render_dob(person.dob, rng, profile)
    country = render_country(person.locale, rng, profile)
    return [
        first,
        last,
        email,
        phone_text,
        dob,
        *render_address(person, address, rng, profile),
        country,
    ]


def render_requester_name(person: Person, rng: random.Random) -> str:
    first, last = render_name(person, rng, TICKET_PROFILE)
    roll = rng.random()
    if roll < 0.65:
        return f"{first} {last}"
    if roll < 0.8:
        return f"{last}, {first}"
    if roll < 0.92:
        return first
    return f"{first[0]}. {last}"
