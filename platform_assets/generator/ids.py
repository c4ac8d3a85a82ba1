"""Seeded randomness and identifiers.

Every person draws from their own random streams, derived from (seed, person index, stream):
a person's data then depends only on the config, never on the chunk they were generated in or
on how many draws other people made. `hash()` is not used because it is salted per process for
strings; the mixing below is plain integer arithmetic and the same everywhere.
"""

from __future__ import annotations

import random
from enum import IntEnum

_MASK64 = (1 << 64) - 1


class Stream(IntEnum):
    """Independent random streams, so a change in one concern does not reshuffle the others."""

    PERSON = 1
    HOUSEHOLD = 2
    ACCOUNTS = 3
    BEHAVIOUR = 4
    POOLS = 5
    CATALOGUE = 6
    CAMPAIGNS = 7
    IDS = 8


def mix64(*parts: int) -> int:
    """Mix integers into one well-spread 64-bit value (splitmix64 finaliser per part)."""
    value = 0x9E3779B97F4A7C15
    for part in parts:
        value = ((value ^ (part & _MASK64)) * 0xBF58476D1CE4E5B9) & _MASK64
        value ^= value >> 31
        value = (value * 0x94D049BB133111EB) & _MASK64
        value ^= value >> 29
    return value


def rng_for(seed: int, index: int, stream: Stream) -> random.Random:
    return random.Random(mix64(seed, index, int(stream)))


def uuid_from(rng: random.Random) -> str:
    """A version-4-shaped UUID drawn from a seeded stream (uuid.uuid4 would use the OS entropy)."""
    text = f"{rng.getrandbits(128):032x}"
    variant = "89ab"[int(text[16], 16) & 3]
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{variant}{text[17:20]}-{text[20:]}"


class Scrambler:
    """A bijection on [0, 2**bits) that makes sequential numbers look unrelated.

    Source-system ids are built from the person index, which guarantees they are unique without
    keeping a set of issued ids (memory must not grow with the number of people). Scrambling with
    a different key per source stops ids from leaking who is who across sources: contact 17 and
    customer 17 must not both be person 17 in plain sight.
    """

    def __init__(self, seed: int, salt: int, bits: int) -> None:
        self._bits = bits
        self._mask = (1 << bits) - 1
        self._shift = bits // 2
        key = mix64(seed, salt, int(Stream.IDS))
        self._xor = key & self._mask
        # Multiplication by an odd number is invertible modulo a power of two.
        self._mul1 = (mix64(key, 1) | 1) & self._mask
        self._mul2 = (mix64(key, 2) | 1) & self._mask

    @property
    def capacity(self) -> int:
        return self._mask + 1

    def __call__(self, value: int) -> int:
        if not 0 <= value <= self._mask:
            raise ValueError(f"{value} does not fit in {self._bits} bits")
        mask, shift = self._mask, self._shift
        value ^= self._xor
        value = (value * self._mul1) & mask
        value ^= value >> shift  # xor with a right shift of itself is invertible too
        value = (value * self._mul2) & mask
        value ^= value >> shift
        return value


class IdFactory:
    """Issues the source-system ids of one run."""

    # Per person, at most this many of each record; the index is packed as index * slots + n.
    CONTACT_SLOTS = 4
    ORDER_SLOTS = 64
    TICKET_SLOTS = 16

    def __init__(self, seed: int) -> None:
        self._contact = Scrambler(seed, 1, 34)
        self._customer = Scrambler(seed, 2, 30)
        self._order = Scrambler(seed, 3, 38)
        self._ticket = Scrambler(seed, 4, 36)

    def contact_id(self, index: int, n: int) -> str:
        return f"CT{self._contact(index * self.CONTACT_SLOTS + n):011d}"

    def customer_id(self, index: int) -> str:
        # Shop platforms number customers; 1e9 + n keeps the width fixed at ten digits.
        return str(1_000_000_000 + self._customer(index))

    def order_id(self, index: int, n: int) -> str:
        return f"SO-{self._order(index * self.ORDER_SLOTS + n):012d}"

    def ticket_id(self, index: int, n: int) -> str:
        return f"TCK-{self._ticket(index * self.TICKET_SLOTS + n):011d}"
