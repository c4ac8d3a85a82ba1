"""Phone numbers to E.164 with phonenumbers; a module of its own so worker processes stay light."""

from __future__ import annotations

import functools

import phonenumbers


@functools.lru_cache(maxsize=2**18)
def e164(text: str, region: str) -> str | None:
    candidates = [text]
    if text.startswith("00"):
        # `00` is the international prefix almost everywhere, though not in every region (North
        # America dials 011), and no national number starts with it.
        candidates.append("+" + text[2:])
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number) and phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def e164_of_key(key: str) -> str | None:
    """`<region>|<number>` -> E.164, or None when the number is not valid."""
    region, _, text = key.partition("|")
    return e164(text, region)
