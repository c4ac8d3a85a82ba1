"""Value normalizers for the cleaned layer.

Every function takes a column of raw strings exactly as landed and returns the normalized values
plus, per row, the name of the rule a non-empty value failed. Empty, whitespace-only and null
inputs are "missing": value null, error null. Nothing here does I/O.

Work that needs Python per value (email, phone, country, currency) runs once per distinct value
and is mapped back; everything else is polars expressions.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import NamedTuple

import email_validator
import phonenumbers
import polars as pl
import pycountry

from platform_assets.cleaned import phones


class Normalized(NamedTuple):
    values: pl.Series  # normalized, same length/order as input; null where missing or invalid
    errors: pl.Series  # pl.Utf8; rule name where the input was non-empty but invalid, else null


_CACHE_SIZE = 2**18

# --------------------------------------------------------------------------------------------
# Shared plumbing
# --------------------------------------------------------------------------------------------


def _present(values: pl.Series) -> pl.Series:
    """The input as trimmed strings, with empty and whitespace-only values as null."""
    # An all-empty landed column can arrive as pl.Null; a JSON column as numbers.
    text = values if values.dtype == pl.String else values.cast(pl.String)
    text = text.str.strip_chars()
    return text.set(text.str.len_bytes() == 0, None)


def _normalize(
    values: pl.Series, convert: Callable[[pl.Series], pl.Series], rule: str | None
) -> Normalized:
    """Apply `convert` to the present values and flag those it turned into null with `rule`."""
    text = _present(values)
    converted = convert(text)
    if rule is None:
        errors = pl.repeat(None, len(values), dtype=pl.String, eager=True)
    else:
        invalid = text.is_not_null() & converted.is_null()
        errors = pl.select(pl.when(pl.lit(invalid)).then(pl.lit(rule))).to_series()
    return Normalized(
        values=converted.alias(values.name), errors=errors.alias(f"{values.name}_error")
    )


def _map_distinct(
    values: pl.Series,
    prepare: Callable[[pl.Series], pl.Series],
    convert: Callable[[str], str | None],
    rule: str,
    convert_many: Callable[[list[str]], list[str | None]] | None = None,
) -> Normalized:
    """Run `convert` once per distinct prepared value and map the results back."""

    def convert_all(text: pl.Series) -> pl.Series:
        keys = prepare(text)
        distinct = keys.drop_nulls().unique()
        converted = (
            convert_many(distinct.to_list())
            if convert_many
            else [convert(key) for key in distinct.to_list()]
        )
        results = pl.Series(converted, dtype=pl.String)
        return keys.replace_strict(distinct, results, default=None, return_dtype=pl.String)

    return _normalize(values, convert_all, rule)


def _collapse_whitespace(text: pl.Series) -> pl.Series:
    return text.str.replace_all(r"\s+", " ").str.strip_chars(" ")


# --------------------------------------------------------------------------------------------
# Email and phone
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _email(text: str) -> str | None:
    try:
        validated = email_validator.validate_email(text, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return None
    return validated.normalized.lower()


# A plain ASCII address (dot-atom local part of at most 64 characters, LDH domain labels) is
# valid exactly when its domain is, and email-validator's normalized form of it is itself. Such
# addresses only need their domain validated, once per domain; every other address goes through
# email-validator whole.
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
_PLAIN_ADDRESS = (
    rf"^(?:{_ATEXT}+(?:\.{_ATEXT}+)*)@((?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+[a-z]{{2,63}})$"
)
_MAX_ADDRESS_LENGTH = 254  # RFC 5321, as email-validator enforces it
_MAX_LOCAL_LENGTH = 64


def _emails(keys: list[str]) -> list[str | None]:
    frame = pl.DataFrame({"address": keys}, schema={"address": pl.String}).with_columns(
        pl.col("address").str.extract(_PLAIN_ADDRESS, 1).alias("domain")
    )
    plain = (
        pl.col("domain").is_not_null()
        & (pl.col("address").str.len_bytes() <= _MAX_ADDRESS_LENGTH)
        & (pl.col("address").str.split("@").list.first().str.len_bytes() <= _MAX_LOCAL_LENGTH)
    )
    frame = frame.with_columns(plain.alias("plain"))
    domains = frame.filter("plain")["domain"].unique().to_list()
    valid_domains = [domain for domain in domains if _email(f"a@{domain}") is not None]
    return [
        (address if is_valid_domain else None) if is_plain else _email(address)
        for address, is_plain, is_valid_domain in zip(
            frame["address"].to_list(),
            frame["plain"].to_list(),
            frame["domain"].is_in(valid_domains).to_list(),
            strict=True,
        )
    ]


def normalize_email(values: pl.Series) -> Normalized:
    """Lower-cased email address in email-validator's normalized form; rule `invalid_email`."""
    return _map_distinct(
        values, lambda text: text.str.to_lowercase(), _email, "invalid_email", convert_many=_emails
    )


# Regions only matter for numbers without an international prefix; this key shares the parse of
# `+...` numbers across rows from every country.
_ANY_REGION = "ZZ"

# Below this many distinct numbers, starting worker processes costs more than it saves.
_PARALLEL_PHONES = 20_000


def _phones_in_parallel(keys: list[str]) -> list[str | None]:
    """phonenumbers is pure Python and the slowest step of the layer: use every core."""
    workers = os.cpu_count() or 1
    if len(keys) < _PARALLEL_PHONES or workers < 2:
        return [phones.e164_of_key(key) for key in keys]
    # fork, not spawn: spawn re-imports the caller's __main__, which breaks any script without a
    # main guard. The forked workers run only `phones` (pure Python), never polars, so the
    # parent's polars threads that fork does not copy are never needed.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(phones.e164_of_key, keys, chunksize=2_000))


def normalize_phone(
    values: pl.Series, regions: pl.Series | None, default_region: str
) -> Normalized:
    """E.164 phone number; rule `invalid_phone`.

    National numbers are read in the row's `regions` value, or `default_region` where that is
    null or not an ISO alpha-2 code phonenumbers knows.
    """
    default = default_region.strip().upper()
    if default not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown default_region {default_region!r}")
    if regions is None:
        region = pl.repeat(default, len(values), dtype=pl.String, eager=True)
    else:
        if len(regions) != len(values):
            raise ValueError("regions must have the same length as values")
        region = _present(regions).str.to_uppercase().fill_null(default)
        region = region.set(~region.is_in(sorted(phonenumbers.SUPPORTED_REGIONS)), default)

    def prepare(text: pl.Series) -> pl.Series:
        # Layout characters mean nothing to phonenumbers; dropping them merges more rows.
        compact = text.str.replace_all(r"[\s\-()]+", "")
        key_region = region.set(compact.str.starts_with("+"), _ANY_REGION)
        return key_region + "|" + compact

    return _map_distinct(
        values, prepare, phones.e164_of_key, "invalid_phone", convert_many=_phones_in_parallel
    )


# --------------------------------------------------------------------------------------------
# Names and free text
# --------------------------------------------------------------------------------------------

# Typographic apostrophes and hyphens, so that `O’Brien` and `O'Brien` are the same name.
_APOSTROPHES = r"[\u2018\u2019\u02bc\u0060\u00b4]"
_HYPHENS = r"[\u2010\u2011\u2012\u2013\u2212]"
_WORD_BREAK = "\x00"


def _name(text: pl.Series) -> pl.Series:
    # Dropping control characters also keeps _WORD_BREAK free for our use.
    cleaned = text.str.normalize("NFKC").str.replace_all(r"[\p{Cc}&&[^\s]]", "")
    cleaned = _collapse_whitespace(cleaned)
    cleaned = cleaned.str.replace_all(_APOSTROPHES, "'").str.replace_all(_HYPHENS, "-")
    # `mcdonald` -> `McDonald`: a temporary word break makes title-casing capitalise the D.
    marked = cleaned.str.to_lowercase().str.replace_all(r"\bmc(\p{L})", f"mc{_WORD_BREAK}$1")
    titled = marked.str.to_titlecase().str.replace_all(_WORD_BREAK, "", literal=True)
    return titled.set(~cleaned.str.contains(r"\p{L}"), None)


def normalize_name(values: pl.Series) -> Normalized:
    """Person or place name: NFKC, single spaces, title case; rule `invalid_name` if no letter."""
    return _normalize(values, _name, "invalid_name")


def normalize_text(values: pl.Series) -> Normalized:
    """Free text: NFC, trimmed, whitespace runs collapsed to one space; never errors."""
    return _normalize(values, lambda text: _collapse_whitespace(text.str.normalize("NFC")), None)


def normalize_label(values: pl.Series) -> Normalized:
    """Free-form codes (consent purpose, utm source): `lower_snake_case`; never errors."""
    return _normalize(
        values, lambda text: text.str.to_lowercase().str.replace_all(r"[\s\-]+", "_"), None
    )


def normalize_postcode(values: pl.Series) -> Normalized:
    """Upper case, single spaces; never errors (formats differ too much between countries)."""
    return _normalize(values, lambda text: _collapse_whitespace(text).str.to_uppercase(), None)


def normalize_identifier(values: pl.Series) -> Normalized:
    """Opaque identifier, trimmed and otherwise kept as given; never errors."""
    return _normalize(values, lambda text: text, None)


# --------------------------------------------------------------------------------------------
# Timestamps and dates
# --------------------------------------------------------------------------------------------

# Parsing uses fixed-position slices and integer arithmetic rather than regex captures or chrono
# format strings, which cost several times more per row on millions of web events. Regexes only
# check a whole value's shape, which runs as a fast DFA. Steps are materialised one after the
# other because polars does not share repeated sub-expressions inside a single expression.
_ISO_SHAPE = (
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
    r"\s*(?:[Zz]|(?i:utc)|[+-]\d{2}(?::?\d{2})?)?$"
)
_DATE_FORMS = (
    (r"^\d{4}-\d{2}-\d{2}$", "%Y-%m-%d"),
    (r"^\d{8}$", "%Y%m%d"),
    (r"^\d{1,2}/\d{1,2}/\d{4}$", "%d/%m/%Y"),
)
# Epoch seconds have 9-10 integer digits (1973-2286) so that 8 digits stay YYYYMMDD.
_EPOCH_SECONDS = r"^\d{9,10}(?:\.\d+)?$"
_EPOCH_MILLIS = r"^\d{13}(?:\.\d+)?$"
_MICROS_PER_SECOND = 1_000_000
_MICROS_PER_DAY = 86_400 * _MICROS_PER_SECOND


def _digits(text: pl.Expr, offset: int, length: int) -> pl.Expr:
    return text.str.slice(offset, length).cast(pl.Int64, strict=False)


def _fraction_micros(digits: pl.Expr, per_unit: int) -> pl.Expr:
    """Microseconds in the decimal fraction `digits` of a unit of `per_unit` microseconds."""
    width = len(str(per_unit)) - 1
    micros = digits.str.slice(0, width).str.pad_end(width, "0").cast(pl.Int64, strict=False)
    return micros.fill_null(0)


def _iso_micros(text: pl.Series) -> pl.Series:
    """Microseconds since the epoch of ISO 8601 instants, else null."""
    t, rest, tail, zone = pl.col("t"), pl.col("rest"), pl.col("tail"), pl.col("zone")
    frame = (
        text.to_frame("t")
        .with_columns(
            shape=t.str.contains(_ISO_SHAPE),
            day=t.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).cast(pl.Int64),
            hour=_digits(t, 11, 2),
            minute=_digits(t, 14, 2),
            rest=t.str.slice(16),  # ":SS.ffffff+HH:MM", ":SS", "Z", "" ...
        )
        .with_columns(has_seconds=rest.str.starts_with(":"))
        .with_columns(
            second=pl.when("has_seconds").then(_digits(rest, 1, 2)).otherwise(0),
            tail=pl.when("has_seconds").then(rest.str.slice(3)).otherwise(rest),
        )
        .with_columns(zone=tail.str.strip_chars_start(".,0123456789"))
        .with_columns(
            # Lengths are unsigned: subtract in Int64 so that no fraction is 0, not a wrap-around.
            fraction=tail.str.slice(
                1, (tail.str.len_bytes().cast(pl.Int64) - zone.str.len_bytes() - 1).clip(0)
            ),
            zone=zone.str.strip_chars_start().str.replace(":", "", literal=True),  # "+HHMM", "Z"
        )
        .with_columns(
            is_utc=~(zone.str.starts_with("+") | zone.str.starts_with("-")),  # "", "Z", "UTC"
            sign=pl.when(zone.str.starts_with("-")).then(-1).otherwise(1),
            zone_hour=_digits(zone, 1, 2),
            zone_minute=_digits(zone, 3, 2).fill_null(0),
        )
    )
    hour, minute, second = pl.col("hour"), pl.col("minute"), pl.col("second")
    zone_hour, zone_minute, is_utc = pl.col("zone_hour"), pl.col("zone_minute"), pl.col("is_utc")
    offset = pl.when(is_utc).then(0).otherwise(pl.col("sign") * (zone_hour * 60 + zone_minute))
    valid = (
        pl.col("shape")
        & (hour < 24)
        & (minute < 60)
        & (second < 60)
        & (is_utc | ((zone_hour < 24) & (zone_minute < 60)))
    )
    seconds = (hour * 60 + minute - offset) * 60 + second
    micros = (
        pl.col("day") * _MICROS_PER_DAY
        + seconds * _MICROS_PER_SECOND
        + _fraction_micros(pl.col("fraction"), _MICROS_PER_SECOND)
    )
    return frame.select(pl.when(valid).then(micros)).to_series()


def _date_only(text: pl.Expr) -> pl.Expr:
    """The date of `YYYY-MM-DD`, `YYYYMMDD` or `DD/MM/YYYY`, else null."""
    return pl.coalesce(
        [
            pl.when(text.str.contains(shape)).then(text.str.to_date(fmt, strict=False))
            for shape, fmt in _DATE_FORMS
        ]
    )


def _epoch_micros(text: pl.Expr, shape: str, per_unit: int) -> pl.Expr:
    """Microseconds since the epoch of a decimal number of units of `per_unit` microseconds."""
    point = text.str.find(".", literal=True)
    whole = pl.when(point.is_null()).then(text).otherwise(text.str.head(point))
    fraction = text.str.slice(point + 1)  # null when there is no point
    micros = whole.cast(pl.Int64, strict=False) * per_unit + _fraction_micros(fraction, per_unit)
    return pl.when(text.str.contains(shape)).then(micros)


# The form nearly every sender writes, read by one fixed-format parse; its fields are bounded
# in the pattern (chrono alone would take second 60) so it accepts exactly what the general
# parse below accepts.
_COMMON_INSTANT = r"^\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\dZ$"
_COMMON_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _timestamp(text: pl.Series) -> pl.Series:
    """The common form by its fixed format, every other value by the general parse."""
    common = text.str.contains(_COMMON_INSTANT).fill_null(False)
    if not common.any():
        return _any_timestamp(text)
    parsed = text.str.to_datetime(
        _COMMON_FORMAT, strict=False, time_unit="us", time_zone="UTC"
    ).set(~common, None)
    others = ~common & text.is_not_null()
    if others.any():
        parsed = parsed.scatter(others.arg_true(), _any_timestamp(text.filter(others)))
    return parsed


def _any_timestamp(text: pl.Series) -> pl.Series:
    """Every accepted form: ISO 8601, dates, epoch seconds and milliseconds."""
    t = pl.col("t")
    micros = text.to_frame("t").select(
        pl.coalesce(
            pl.lit(_iso_micros(text)),
            _date_only(t).cast(pl.Int64) * _MICROS_PER_DAY,
            _epoch_micros(t, _EPOCH_SECONDS, _MICROS_PER_SECOND),
            _epoch_micros(t, _EPOCH_MILLIS, 1_000),
        )
    )
    return pl.from_epoch(micros.to_series(), time_unit="us").dt.replace_time_zone("UTC")


def parse_timestamp(values: pl.Series) -> Normalized:
    """Instant as `Datetime("us", "UTC")`; offsets converted, no offset means UTC.

    Accepts ISO 8601 (`T` or one space, optional seconds and fraction, `Z`, `UTC`, `+HH`,
    `+HHMM`, `+HH:MM`), epoch seconds (9-10 digits, optional decimals), epoch milliseconds
    (13 digits, optional decimals) and the dates of `parse_date` at midnight UTC. Rule
    `unparseable_timestamp`.
    """
    return _normalize(values, _timestamp, "unparseable_timestamp")


def parse_date(values: pl.Series) -> Normalized:
    """Calendar date; `YYYY-MM-DD`, `YYYYMMDD`, `DD/MM/YYYY` or any timestamp (its UTC date).

    Rule `unparseable_date`, also for impossible dates such as `31/02/1990`.
    """
    return _normalize(values, lambda text: _timestamp(text).dt.date(), "unparseable_date")


# --------------------------------------------------------------------------------------------
# Codes: countries, currencies, enumerations
# --------------------------------------------------------------------------------------------


def _lookup_key(text: str) -> str:
    return " ".join(text.split()).casefold()


@functools.lru_cache(maxsize=4096)
def _iso_code(database: str, attribute: str, text: str) -> str | None:
    """`attribute` of the pycountry `database` entry that `text` names, upper-case."""
    # Numeric codes are not accepted: a stray postcode or id must not become a country.
    if not text or text.isdigit():
        return None
    try:
        return str(getattr(getattr(pycountry, database).lookup(text), attribute)).upper()
    except LookupError:
        return None


def _country(text: str) -> str | None:
    return _iso_code("countries", "alpha_2", text)


def normalize_country(values: pl.Series, aliases: Mapping[str, str]) -> Normalized:
    """ISO 3166-1 alpha-2 code from a code, name or alias (case-insensitive); `unknown_country`.

    Numeric ISO codes are not accepted.
    """
    folded = {_lookup_key(key): target for key, target in aliases.items()}

    def convert(text: str) -> str | None:
        return _country(folded.get(_lookup_key(text), text).strip())

    return _map_distinct(values, _collapse_whitespace, convert, "unknown_country")


def _currency(text: str) -> str | None:
    return _iso_code("currencies", "alpha_3", text)


def normalize_currency(values: pl.Series) -> Normalized:
    """ISO 4217 alpha-3 code from a code or currency name (case-insensitive); `unknown_currency`.

    Numeric ISO codes are not accepted.
    """
    return _map_distinct(values, _collapse_whitespace, _currency, "unknown_currency")


_ENUM_SEPARATORS = r"[\s\-]+"


def normalize_enum(
    values: pl.Series, allowed: Sequence[str], synonyms: Mapping[str, str] | None = None
) -> Normalized:
    """One of `allowed` (as pl.Utf8), after lower-casing, `_` for spaces/hyphens and `synonyms`.

    Synonym keys and targets, and `allowed` itself, are folded the same way before comparing.
    Rule `unknown_value`.
    """

    def fold(text: str) -> str:
        return re.sub(_ENUM_SEPARATORS, "_", text.strip().lower())

    canonical = {fold(value): value for value in allowed}
    mapping = dict(canonical)
    for source, target in (synonyms or {}).items():
        if fold(target) in canonical:
            mapping.setdefault(fold(source), canonical[fold(target)])

    def convert(text: pl.Series) -> pl.Series:
        key = text.str.to_lowercase().str.replace_all(_ENUM_SEPARATORS, "_")
        return key.replace_strict(mapping, default=None, return_dtype=pl.String)

    return _normalize(values, convert, "unknown_value")


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------

_DECIMAL = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$"
_INTEGER = r"^[+-]?\d+(?:\.0*)?$"


def parse_decimal(values: pl.Series, scale: int = 2) -> Normalized:
    """`Decimal(18, scale)` from plain decimal notation; rule `not_a_number`.

    No exponent, no thousands separator, `.` as the decimal point. Extra decimals are rounded
    half to even; a value that does not fit 18 digits is an error.
    """
    if not 0 <= scale <= 18:
        raise ValueError(f"scale must be within 0..18, got {scale}")

    def convert(text: pl.Series) -> pl.Series:
        number = text.cast(pl.Decimal(18, scale), strict=False)
        return number.set(~text.str.contains(_DECIMAL), None)

    return _normalize(values, convert, "not_a_number")


def parse_integer(values: pl.Series) -> Normalized:
    """`Int64` from an integer, also written with a zero fraction (`3.0`); `not_an_integer`."""

    def convert(text: pl.Series) -> pl.Series:
        number = text.str.replace(r"\.0*$", "").cast(pl.Int64, strict=False)
        return number.set(~text.str.contains(_INTEGER), None)

    return _normalize(values, convert, "not_an_integer")
