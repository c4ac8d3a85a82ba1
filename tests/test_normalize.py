"""Tests for the cleaned layer's value normalizers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import pytest

from platform_assets.cleaned.normalize import (
    Normalized,
    normalize_country,
    normalize_currency,
    normalize_email,
    normalize_enum,
    normalize_identifier,
    normalize_name,
    normalize_phone,
    normalize_text,
    parse_date,
    parse_decimal,
    parse_integer,
    parse_timestamp,
)

COUNTRY_ALIASES = {"UK": "GB", "England": "GB", "Deutschland": "DE"}
EVENT_TYPES = ["page_view", "add_to_cart", "cancelled"]
EVENT_SYNONYMS = {"canceled": "cancelled", "pageview": "page_view"}
MISSING = [None, "", "   ", "\t\n"]

NORMALIZERS: dict[str, Callable[[pl.Series], Normalized]] = {
    "email": normalize_email,
    "phone": lambda values: normalize_phone(values, None, "GB"),
    "name": normalize_name,
    "text": normalize_text,
    "timestamp": parse_timestamp,
    "date": parse_date,
    "country": lambda values: normalize_country(values, COUNTRY_ALIASES),
    "currency": normalize_currency,
    "enum": lambda values: normalize_enum(values, EVENT_TYPES, EVENT_SYNONYMS),
    "decimal": parse_decimal,
    "integer": parse_integer,
    "identifier": normalize_identifier,
}
VALUE_DTYPES: dict[str, pl.DataType] = {
    "email": pl.String(),
    "phone": pl.String(),
    "name": pl.String(),
    "text": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "date": pl.Date(),
    "country": pl.String(),
    "currency": pl.String(),
    "enum": pl.String(),
    "decimal": pl.Decimal(18, 2),
    "integer": pl.Int64(),
    "identifier": pl.String(),
}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc, arg-type]


def one(normalize: Callable[[pl.Series], Normalized], raw: str | None) -> tuple[object, object]:
    result = normalize(pl.Series([raw], dtype=pl.String))
    return result.values[0], result.errors[0]


# --------------------------------------------------------------------------------------------
# Contract shared by every normalizer
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", NORMALIZERS)
def test_output_has_the_documented_dtypes(kind: str) -> None:
    result = NORMALIZERS[kind](pl.Series(["x", None], dtype=pl.String))
    assert result.values.dtype == VALUE_DTYPES[kind]
    assert result.errors.dtype == pl.String


@pytest.mark.parametrize("kind", NORMALIZERS)
@pytest.mark.parametrize("raw", MISSING)
def test_missing_input_gives_null_value_and_no_error(kind: str, raw: str | None) -> None:
    assert one(NORMALIZERS[kind], raw) == (None, None)


@pytest.mark.parametrize("kind", NORMALIZERS)
def test_length_and_order_are_preserved(kind: str) -> None:
    raw = pl.Series(["a", None, "b", "", "a", " b "] * 50, dtype=pl.String)
    result = NORMALIZERS[kind](raw)
    assert len(result.values) == len(result.errors) == len(raw)
    # Rows with the same input come out the same, wherever they are.
    assert result.values[0::6].n_unique() == 1
    assert result.errors[0::6].n_unique() == 1
    assert result.values.slice(0, 6).to_list() == result.values.slice(6, 6).to_list()


@pytest.mark.parametrize("kind", NORMALIZERS)
def test_empty_series_gives_empty_series(kind: str) -> None:
    result = NORMALIZERS[kind](pl.Series([], dtype=pl.String))
    assert len(result.values) == len(result.errors) == 0
    assert result.values.dtype == VALUE_DTYPES[kind]


@pytest.mark.parametrize("kind", NORMALIZERS)
def test_an_all_null_column_of_null_dtype_is_accepted(kind: str) -> None:
    result = NORMALIZERS[kind](pl.Series([None, None]))
    assert result.values.to_list() == [None, None]
    assert result.errors.to_list() == [None, None]


def test_values_keep_the_input_name() -> None:
    assert normalize_email(pl.Series("email", ["a@example.com"])).values.name == "email"


# --------------------------------------------------------------------------------------------
# Email
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("john.doe@example.com", "john.doe@example.com"),
        ("  John.Doe@Example.COM  ", "john.doe@example.com"),
        ("JANE+news@Mail.Example.org", "jane+news@mail.example.org"),
        ("user@exämple.com", "user@exämple.com"),
    ],
)
def test_email_is_trimmed_lower_cased_and_validated(raw: str, expected: str) -> None:
    assert one(normalize_email, raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        "no-at-sign",
        "bad@",
        "@example.com",
        "a@b",
        "a..b@example.com",
        "a b@example.com",
        "x@y.test",
    ],
)
def test_email_with_invalid_syntax_is_rejected(raw: str) -> None:
    assert one(normalize_email, raw) == (None, "invalid_email")


# --------------------------------------------------------------------------------------------
# Phone
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "+44 20 7946 0958",
        "020 7946 0958",
        "0044 20 7946 0958",
        "(020) 7946-0958",
        "02079460958",
        " +44-20-7946-0958 ",
    ],
)
def test_phone_in_any_accepted_format_becomes_e164(raw: str) -> None:
    result = normalize_phone(pl.Series([raw]), None, "GB")
    assert (result.values[0], result.errors[0]) == ("+442079460958", None)


def test_phone_in_national_format_uses_row_country() -> None:
    values = pl.Series(["(202) 456-1111", "020 7946 0958"])
    result = normalize_phone(values, pl.Series(["US", "gb"]), "DE")
    assert result.values.to_list() == ["+12024561111", "+442079460958"]


def test_phone_without_row_country_uses_default_region() -> None:
    values = pl.Series(["020 7946 0958", "020 7946 0958", "020 7946 0958"])
    result = normalize_phone(values, pl.Series([None, "", "Narnia"]), "GB")
    assert result.values.to_list() == ["+442079460958"] * 3


def test_phone_with_international_prefix_ignores_row_country() -> None:
    values = pl.Series(["+44 20 7946 0958", "0044 20 7946 0958", "011 44 20 7946 0958"])
    result = normalize_phone(values, pl.Series(["US", "US", "US"]), "US")
    assert result.values.to_list() == ["+442079460958"] * 3


@pytest.mark.parametrize(
    "raw", ["0000000000", "+44 0000 000000", "000", "12", "020 7946", "not a phone", "+"]
)
def test_phone_that_is_all_zero_too_short_or_not_a_number_is_invalid(raw: str) -> None:
    result = normalize_phone(pl.Series([raw]), None, "GB")
    assert (result.values[0], result.errors[0]) == (None, "invalid_phone")


def test_phone_national_number_from_another_country_is_invalid() -> None:
    result = normalize_phone(pl.Series(["020 7946 0958"]), pl.Series(["US"]), "GB")
    assert result.errors.to_list() == ["invalid_phone"]


def test_phone_regions_of_another_length_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        normalize_phone(pl.Series(["020 7946 0958"]), pl.Series(["GB", "GB"]), "GB")


def test_phone_unknown_default_region_is_refused() -> None:
    with pytest.raises(ValueError, match="default_region"):
        normalize_phone(pl.Series(["020 7946 0958"]), None, "XX")


# --------------------------------------------------------------------------------------------
# Names and text
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("JOHN", "John"),
        ("john", "John"),
        (" John ", "John"),
        ("jOhN", "John"),
        ("o'brien", "O'Brien"),
        ("O’BRIEN", "O'Brien"),
        ("anne-marie", "Anne-Marie"),
        ("DE LA CRUZ", "De La Cruz"),
        ("  de   la\tcruz ", "De La Cruz"),
        ("mcdonald", "McDonald"),
        ("ÉLODIE", "Élodie"),
        ("\ufb01ona", "Fiona"),  # NFKC unfolds the "fi" ligature
        ("Ｊｏｈｎ", "John"),  # and full-width letters
        ("r2d2", "R2D2"),
    ],
)
def test_name_is_nfkc_trimmed_collapsed_and_title_cased(raw: str, expected: str) -> None:
    assert one(normalize_name, raw) == (expected, None)


@pytest.mark.parametrize("raw", ["123", "???", "-", "42 / 7"])
def test_name_without_any_letter_is_invalid(raw: str) -> None:
    assert one(normalize_name, raw) == (None, "invalid_name")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  12  High   Street ", "12 High Street"),
        ("line one\nline two", "line one line two"),
        ("Cafe\u0301", "Caf\u00e9"),  # NFC composes the accent
        ("MiXeD CaSe", "MiXeD CaSe"),
        ("???", "???"),
    ],
)
def test_text_is_nfc_trimmed_and_collapsed_and_never_errors(raw: str, expected: str) -> None:
    assert one(normalize_text, raw) == (expected, None)


# --------------------------------------------------------------------------------------------
# Timestamps and dates
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-11-01T12:26:40Z", utc(2025, 11, 1, 12, 26, 40)),
        ("2025-11-01T12:26:40.123Z", utc(2025, 11, 1, 12, 26, 40, 123000)),
        ("2025-11-01T12:26:40.123456789Z", utc(2025, 11, 1, 12, 26, 40, 123456)),
        ("2025-11-01 12:26:40Z", utc(2025, 11, 1, 12, 26, 40)),
        ("2025-11-01T12:26:40", utc(2025, 11, 1, 12, 26, 40)),
        ("2025-11-01 12:26:40", utc(2025, 11, 1, 12, 26, 40)),
        ("2025-11-01 12:26:40.5", utc(2025, 11, 1, 12, 26, 40, 500000)),
        ("2025-11-01T12:26", utc(2025, 11, 1, 12, 26)),
        ("2025-11-01T12:26:40 UTC", utc(2025, 11, 1, 12, 26, 40)),
        ("  2025-11-01T12:26:40Z  ", utc(2025, 11, 1, 12, 26, 40)),
    ],
)
def test_iso_timestamp_without_offset_or_with_z_is_utc(raw: str, expected: datetime) -> None:
    assert one(parse_timestamp, raw) == (expected, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-11-01T12:26:40+02:00", utc(2025, 11, 1, 10, 26, 40)),
        ("2025-11-01T12:26:40+0200", utc(2025, 11, 1, 10, 26, 40)),
        ("2025-11-01T12:26:40+02", utc(2025, 11, 1, 10, 26, 40)),
        ("2025-11-01 12:26:40.250-05:30", utc(2025, 11, 1, 17, 56, 40, 250000)),
        ("2025-11-01T01:00:00+02:00", utc(2025, 10, 31, 23)),
        ("2025-12-31T23:30:00-01:00", utc(2026, 1, 1, 0, 30)),
        ("2025-11-01T12:26:40-00:00", utc(2025, 11, 1, 12, 26, 40)),
    ],
)
def test_timestamp_offset_is_converted_to_utc(raw: str, expected: datetime) -> None:
    assert one(parse_timestamp, raw) == (expected, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1762000000", utc(2025, 11, 1, 12, 26, 40)),
        ("1762000000.5", utc(2025, 11, 1, 12, 26, 40, 500000)),
        ("1762000000.123456", utc(2025, 11, 1, 12, 26, 40, 123456)),
        ("999999999", utc(2001, 9, 9, 1, 46, 39)),
        ("1762000000123", utc(2025, 11, 1, 12, 26, 40, 123000)),
        ("1762000000123.5", utc(2025, 11, 1, 12, 26, 40, 123500)),
    ],
)
def test_epoch_seconds_and_milliseconds_are_utc_instants(raw: str, expected: datetime) -> None:
    assert one(parse_timestamp, raw) == (expected, None)


@pytest.mark.parametrize("raw", ["2025-11-01", "20251101", "01/11/2025", "1/11/2025"])
def test_date_only_timestamp_is_midnight_utc(raw: str) -> None:
    assert one(parse_timestamp, raw) == (utc(2025, 11, 1), None)


@pytest.mark.parametrize(
    "raw",
    [
        "yesterday",
        "31/02/1990",
        "2025-02-29",
        "2025-13-01",
        "2025-11-01T24:00:00",
        "2025-11-01T12:60:00",
        "2025-11-01T12:26:60",
        "2025-11-01T12:26:40+24:00",
        "2025-11-01T12:26:40 PST",
        "11/01/2025 12:26",
        "12345",
        "17620000001",
        "1.5e9",
        "-1762000000",
    ],
)
def test_unparseable_timestamp_is_rejected(raw: str) -> None:
    assert one(parse_timestamp, raw) == (None, "unparseable_timestamp")


def test_mixed_timestamp_formats_in_one_column_are_each_parsed() -> None:
    raw = pl.Series(["2025-11-01T12:26:40Z", "1762000000", "01/11/2025", "nope", None])
    result = parse_timestamp(raw)
    assert result.values.to_list() == [
        utc(2025, 11, 1, 12, 26, 40),
        utc(2025, 11, 1, 12, 26, 40),
        utc(2025, 11, 1),
        None,
        None,
    ]
    assert result.errors.to_list() == [None, None, None, "unparseable_timestamp", None]


def test_the_common_instant_form_is_read_as_the_general_parse_reads_it() -> None:
    # Most rows take the fixed-format path; its near misses take the general one or fail.
    raw = pl.Series(
        [
            "2025-11-01T12:26:40Z",
            "2025-02-29T12:26:40Z",
            "2025-11-01T12:26:60Z",
            "2025-11-01T24:00:00Z",
            "2025-11-01T12:26:40z",
            "2025-11-01T12:26:40.5Z",
            "2025-11-01T13:26:40+01:00",
            None,
        ]
    )
    result = parse_timestamp(raw)
    assert result.values.to_list() == [
        utc(2025, 11, 1, 12, 26, 40),
        None,
        None,
        None,
        utc(2025, 11, 1, 12, 26, 40),
        utc(2025, 11, 1, 12, 26, 40, 500_000),
        utc(2025, 11, 1, 12, 26, 40),
        None,
    ]
    assert result.errors.to_list() == [None, *["unparseable_timestamp"] * 3, *[None] * 4]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1990-05-01", date(1990, 5, 1)),
        ("19900501", date(1990, 5, 1)),
        ("01/05/1990", date(1990, 5, 1)),
        ("1/5/1990", date(1990, 5, 1)),
        ("29/02/2000", date(2000, 2, 29)),
        ("1990-05-01T10:00:00Z", date(1990, 5, 1)),
        ("1990-05-01T23:30:00-05:00", date(1990, 5, 2)),
        ("1990-05-01T01:00:00+02:00", date(1990, 4, 30)),
        ("1762000000", date(2025, 11, 1)),
    ],
)
def test_date_in_accepted_form_is_parsed_in_utc(raw: str, expected: date) -> None:
    assert one(parse_date, raw) == (expected, None)


def test_date_is_read_day_first() -> None:
    assert one(parse_date, "02/01/1990") == (date(1990, 1, 2), None)


@pytest.mark.parametrize("raw", ["31/02/1990", "29/02/2001", "1990-02-30", "13/13/1990", "soon"])
def test_impossible_or_unknown_date_is_rejected(raw: str) -> None:
    assert one(parse_date, raw) == (None, "unparseable_date")


# --------------------------------------------------------------------------------------------
# Codes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("GB", "GB"),
        ("gb", "GB"),
        ("GBR", "GB"),
        ("United Kingdom", "GB"),
        ("  united   kingdom ", "GB"),
        ("UK", "GB"),
        ("england", "GB"),
        ("DEUTSCHLAND", "DE"),
        ("Germany", "DE"),
        ("Federal Republic of Germany", "DE"),  # official name
        ("Bolivia", "BO"),  # common name
    ],
)
def test_country_code_name_or_alias_becomes_alpha_2(raw: str, expected: str) -> None:
    assert one(lambda v: normalize_country(v, COUNTRY_ALIASES), raw) == (expected, None)


@pytest.mark.parametrize("raw", ["Narnia", "XX", "826", "U.K."])
def test_unknown_country_is_rejected(raw: str) -> None:
    assert one(lambda v: normalize_country(v, COUNTRY_ALIASES), raw) == (None, "unknown_country")


@pytest.mark.parametrize(
    ("raw", "expected"), [("USD", "USD"), ("usd", "USD"), (" eur ", "EUR"), ("Euro", "EUR")]
)
def test_currency_code_or_name_becomes_iso_4217(raw: str, expected: str) -> None:
    assert one(normalize_currency, raw) == (expected, None)


@pytest.mark.parametrize("raw", ["XYZ", "dollars", "978", "$"])
def test_unknown_currency_is_rejected(raw: str) -> None:
    assert one(normalize_currency, raw) == (None, "unknown_currency")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("page_view", "page_view"),
        ("Page View", "page_view"),
        ("PAGE-VIEW", "page_view"),
        ("  page  view ", "page_view"),
        ("pageview", "page_view"),
        ("Add to Cart", "add_to_cart"),
        ("canceled", "cancelled"),
        ("Cancelled", "cancelled"),
    ],
)
def test_enum_value_is_folded_and_synonyms_applied(raw: str, expected: str) -> None:
    normalize = lambda v: normalize_enum(v, EVENT_TYPES, EVENT_SYNONYMS)  # noqa: E731
    assert one(normalize, raw) == (expected, None)


@pytest.mark.parametrize("raw", ["purchase", "page.view", "page_views"])
def test_enum_value_not_allowed_is_rejected(raw: str) -> None:
    normalize = lambda v: normalize_enum(v, EVENT_TYPES, EVENT_SYNONYMS)  # noqa: E731
    assert one(normalize, raw) == (None, "unknown_value")


def test_enum_without_synonyms_only_accepts_allowed_values() -> None:
    result = normalize_enum(pl.Series(["Page View", "pageview"]), EVENT_TYPES)
    assert result.values.to_list() == ["page_view", None]
    assert result.errors.to_list() == [None, "unknown_value"]


# --------------------------------------------------------------------------------------------
# Numbers and identifiers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12", Decimal("12.00")),
        ("12.5", Decimal("12.50")),
        ("12.50", Decimal("12.50")),
        (" 12.50 ", Decimal("12.50")),
        ("-3.10", Decimal("-3.10")),
        ("+4", Decimal("4.00")),
        ("0.5", Decimal("0.50")),
        (".5", Decimal("0.50")),
    ],
)
def test_decimal_in_plain_notation_is_parsed(raw: str, expected: Decimal) -> None:
    assert one(parse_decimal, raw) == (expected, None)


@pytest.mark.parametrize(
    "raw", ["1e3", "12,50", "1,000.00", "abc", "1.2.3", "12 50", "$12", "-", "99999999999999999999"]
)
def test_decimal_in_other_notation_is_rejected(raw: str) -> None:
    assert one(parse_decimal, raw) == (None, "not_a_number")


def test_decimal_scale_is_configurable() -> None:
    result = parse_decimal(pl.Series(["1.2345"]), scale=4)
    assert result.values.dtype == pl.Decimal(18, 4)
    assert result.values.to_list() == [Decimal("1.2345")]


@pytest.mark.parametrize(
    ("raw", "expected"), [("3", 3), (" 3 ", 3), ("3.0", 3), ("3.00", 3), ("-2", -2), ("+7", 7)]
)
def test_integer_is_parsed(raw: str, expected: int) -> None:
    assert one(parse_integer, raw) == (expected, None)


@pytest.mark.parametrize("raw", ["two", "3.5", "3.01", "1e3", "1,000", "99999999999999999999"])
def test_non_integer_is_rejected(raw: str) -> None:
    assert one(parse_integer, raw) == (None, "not_an_integer")


@pytest.mark.parametrize(
    ("raw", "expected"), [(" abc-123 ", "abc-123"), ("123.0", "123.0"), ("ABC", "ABC")]
)
def test_identifier_is_trimmed_and_otherwise_kept(raw: str, expected: str) -> None:
    assert one(normalize_identifier, raw) == (expected, None)


def test_plain_address_shortcut_agrees_with_email_validator_on_every_address() -> None:
    from faker import Faker

    from platform_assets.cleaned.normalize import _email, _emails

    faker = Faker(["en_GB", "de_DE", "fr_FR"])
    faker.seed_instance(3)
    addresses = [faker.email().lower() for _ in range(300)] + [
        "a" * 64 + "@example.com",
        "a" * 65 + "@example.com",
        "x@" + "a" * 63 + ".com",
        "x@" + "a" * 64 + ".com",
        ("y" * 60 + ".") * 4 + "@example.com",
        "o'brien+news@example.co.uk",
        "a..b@example.com",
        ".a@example.com",
        "a.@example.com",
        "ann@localhost",
        "ann@shop.test",
        "ann@-bad.com",
        "ann@bad-.com",
        "ann@example.c",
        "zoë@example.com",
        "ann@exämple.com",
        '"quoted"@example.com',
        "ann@[127.0.0.1]",
        "ann@123.com",
        "ann@mail.invalid",
    ]
    assert _emails(addresses) == [_email(address) for address in addresses]


def test_phones_normalized_in_worker_processes_match_the_serial_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from platform_assets.cleaned import normalize

    values = pl.Series(
        ["020 7946 0958", "+49 30 901820", "12", "(212) 555-0147", "0044 20 7946 0958"]
    )
    regions = pl.Series(["GB", None, "GB", "US", "FR"])
    serial = normalize_phone(values, regions, "GB")
    monkeypatch.setattr(normalize, "_PARALLEL_PHONES", 2)
    monkeypatch.setattr(normalize.os, "cpu_count", lambda: 2)
    parallel = normalize_phone(values, regions, "GB")
    assert parallel.values.to_list() == serial.values.to_list()
    assert (
        parallel.errors.to_list()
        == serial.errors.to_list()
        == [None, None, "invalid_phone", None, None]
    )
