"""The cleaned layer's one transform: raw text rows in, typed rows out, and every row accounted for.

Each raw row ends in exactly one of three places:
- `cleaned`: normalized and valid (a bad optional value is nulled and recorded in `value_issues`);
- `quarantined`: a required value is missing or unreadable, or a row rule failed;
- `superseded`: a valid row replaced by a newer version, or a repeat of an event already kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from platform_assets.cleaned import normalize
from platform_assets.cleaned.rules import ROW_RULES, STRICT_COLUMNS
from platform_assets.cleaned.schemas import LINEAGE_COLUMNS, MODELS, cleaned_columns
from platform_assets.contract import ENUMS, SOURCES
from platform_assets.raw.parse import EXTRA_COLUMNS
from platform_assets.settings import (
    BIRTH_DATE_EARLIEST,
    COUNTRY_ALIASES,
    DEFAULT_PHONE_REGION,
    ENUM_SYNONYMS,
)

FAILED_RULES = "failed_rules"
ORIGINAL_RECORD = "original_record"

VALUE_ISSUE_SCHEMA = {
    "_partition_date": pl.Date,
    "_source_file": pl.Utf8,
    "_row_number": pl.Int64,
    "column_name": pl.Utf8,
    "original_value": pl.Utf8,
    "rule": pl.Utf8,
}


@dataclass
class CleanResult:
    cleaned: pl.DataFrame
    quarantined: pl.DataFrame
    value_issues: pl.DataFrame
    superseded: pl.DataFrame


Normalizer = Callable[[pl.Series, Mapping[str, object], dict[str, pl.Series]], normalize.Normalized]

NORMALIZERS: dict[str, Normalizer] = {
    "identifier": lambda v, _m, _n: normalize.normalize_identifier(v),
    "email": lambda v, _m, _n: normalize.normalize_email(v),
    "phone": lambda v, meta, done: normalize.normalize_phone(
        v, done.get(str(meta.get("region_from"))), DEFAULT_PHONE_REGION
    ),
    "name": lambda v, _m, _n: normalize.normalize_name(v),
    "text": lambda v, _m, _n: normalize.normalize_text(v),
    "timestamp": lambda v, _m, _n: normalize.parse_timestamp(v),
    "date": lambda v, _m, _n: normalize.parse_date(v),
    "country": lambda v, _m, _n: normalize.normalize_country(v, COUNTRY_ALIASES),
    "currency": lambda v, _m, _n: normalize.normalize_currency(v),
    "enum": lambda v, meta, _n: normalize.normalize_enum(
        v, ENUMS[str(meta["enum"])], ENUM_SYNONYMS.get(str(meta["enum"]))
    ),
    "decimal": lambda v, _m, _n: normalize.parse_decimal(v, scale=2),
    "integer": lambda v, _m, _n: normalize.parse_integer(v),
    "label": lambda v, _m, _n: normalize.normalize_label(v),
    "postcode": lambda v, _m, _n: normalize.normalize_postcode(v),
}


def _implausible(kind: str, values: pl.Series, as_of: datetime) -> pl.Series | None:
    """Values that parse but cannot be true; they are nulled like unreadable ones."""
    if kind == "birth_date":
        return (values < date.fromisoformat(BIRTH_DATE_EARLIEST)) | (values > as_of.date())
    if kind == "csat_score":
        return (values < 1) | (values > 5)
    if kind == "non_negative":
        return values < 0
    return None


def normalize_columns(
    source: str, raw: pl.DataFrame, as_of: datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Normalize every contract column: (values frame, errors frame), both in raw row order."""
    schema = MODELS[source].to_schema()
    columns = [c for c in cleaned_columns(source) if c not in LINEAGE_COLUMNS]
    # Country first: phones written in national format are read in the row's country.
    columns.sort(key=lambda column: column != "country")
    values: dict[str, pl.Series] = {}
    errors: dict[str, pl.Series] = {}
    for column in columns:
        metadata = schema.columns[column].metadata or {}
        result = NORMALIZERS[str(metadata["normalize"])](raw[column], metadata, values)
        column_values, column_errors = result.values.alias(column), result.errors.alias(column)
        plausible = metadata.get("plausible")
        implausible = _implausible(str(plausible), column_values, as_of) if plausible else None
        if implausible is not None:
            implausible = implausible.fill_null(False)
            column_errors = (
                pl.select(
                    pl.when(implausible)
                    .then(pl.lit(f"implausible_{plausible}"))
                    .otherwise(column_errors)
                )
                .to_series()
                .alias(column)
            )
            column_values = (
                pl.select(pl.when(implausible).then(None).otherwise(column_values))
                .to_series()
                .alias(column)
            )
        values[column] = column_values.cast(schema.columns[column].dtype.type)
        errors[column] = column_errors
    ordered = [c for c in cleaned_columns(source) if c not in LINEAGE_COLUMNS]
    return pl.DataFrame([values[c] for c in ordered]), pl.DataFrame([errors[c] for c in ordered])


def _row_failures(
    source: str, raw: pl.DataFrame, values: pl.DataFrame, errors: pl.DataFrame, as_of: datetime
) -> pl.Series:
    """Per row, the names of every rule it fails joined by '; ', or null when it passes."""
    contract = SOURCES[source]
    checks: list[pl.Expr] = []
    for column in contract.required:
        checks.append(
            pl.when(raw[column].is_null())
            .then(pl.lit(f"missing_required:{column}"))
            .when(values[column].is_null())
            .then(pl.lit(f"invalid_required:{column}:") + errors[column].fill_null("unreadable"))
        )
    for column in STRICT_COLUMNS.get(source, ()):
        checks.append(
            pl.when(errors[column].is_not_null()).then(
                pl.lit(f"invalid_value:{column}:") + errors[column]
            )
        )
    for rule in ROW_RULES.get(source, []):
        checks.append(pl.when(rule.violated(as_of).fill_null(False)).then(pl.lit(rule.name)))
    if not checks:
        return pl.Series(FAILED_RULES, [None] * values.height, pl.Utf8)
    failures = values.select(
        pl.concat_str(checks, separator="; ", ignore_nulls=True).alias(FAILED_RULES)
    ).to_series()
    return failures.replace("", None)


def _supersede(source: str, valid: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep one row per key; return (kept, superseded with the reason and the row kept)."""
    contract = SOURCES[source]
    key = list(contract.key)
    if contract.reconciliation == "latest_version":
        assert contract.version_column is not None
        # Ties on the version go to the file landed later, then the later line: deterministic.
        order = [contract.version_column, "_source_file", "_row_number"]
        descending = [True, True, True]
        reason = (
            pl.when(pl.col(contract.version_column) < pl.col("_kept_version"))
            .then(pl.lit("older_version"))
            .otherwise(pl.lit("same_version_landed_again"))
        )
    elif contract.reconciliation == "first_seen":
        order, descending = ["_source_file", "_row_number"], [False, False]
        reason = pl.lit("repeated_delivery")
    else:
        order, descending = ["_source_file", "_row_number"], [True, True]
        reason = pl.lit("re_sent_later")
    version = contract.version_column or "_row_number"
    # Most keys occur once in a day: only the rows whose key repeats are ranked (a window over
    # every row of a large day costs more than the rest of the reconciliation).
    repeated = valid.select(pl.struct(key).is_duplicated()).to_series()
    ranked = (
        valid.with_row_index("_position")
        .filter(repeated)
        .sort(order, descending=descending, maintain_order=True)
        .with_columns(
            (pl.int_range(pl.len()).over(key) == 0).alias("_is_kept"),
            pl.col("_source_file").first().over(key).alias("kept_source_file"),
            pl.col("_row_number").first().over(key).alias("kept_row_number"),
            pl.col(version).first().over(key).alias("_kept_version"),
        )
    )
    replaced = ranked.filter(~pl.col("_is_kept"))
    kept = valid.select(cleaned_columns(source))
    if replaced.height:
        # Dropped by position, so the kept rows stay in the order they came in.
        dropped = pl.repeat(False, valid.height, eager=True).scatter(replaced["_position"], True)
        kept = kept.filter(~dropped)
    superseded = replaced.select(
        *LINEAGE_COLUMNS,
        pl.concat_str([pl.col(k).cast(pl.Utf8) for k in key], separator="|").alias("record_key"),
        reason.alias("reason"),
        "kept_source_file",
        "kept_row_number",
    )
    return _by_lineage(kept), _by_lineage(superseded)


def _by_lineage(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows in lineage order (file, then line). A day read in that order is returned as it
    is: checking the order costs a fraction of sorting a large day again."""
    file, row = pl.col("_source_file"), pl.col("_row_number")
    in_order = (file > file.shift()) | ((file == file.shift()) & (row > row.shift()))
    if frame.height < 2 or frame.select(in_order.slice(1).all()).item():
        return frame
    return frame.sort(["_source_file", "_row_number"])


def clean_partition(source: str, raw: pl.DataFrame, as_of: datetime) -> CleanResult:
    """Normalize, validate and reconcile one partition of a raw table.

    The rows may come in any order: every output is sorted by its lineage (file, line)."""
    contract = SOURCES[source]
    lineage = raw.select(LINEAGE_COLUMNS)
    values, errors = normalize_columns(source, raw, as_of)
    failures = _row_failures(source, raw, values, errors, as_of)
    failed = failures.is_not_null()

    # The original record is encoded for the quarantined rows only: JSON of every row of a
    # large day costs more than the rest of the quarantine.
    quarantined = _by_lineage(
        raw.filter(failed).select(
            *LINEAGE_COLUMNS,
            failures.filter(failed),
            pl.struct([*contract.columns, EXTRA_COLUMNS])
            .struct.json_encode()
            .alias(ORIGINAL_RECORD),
        )
    )

    passing = ~failed
    strict = set(STRICT_COLUMNS.get(source, ())) | set(contract.required)
    issue_frames = []
    for column in errors.columns:
        issue = passing & errors[column].is_not_null()
        if column in strict or not issue.any():
            continue
        issue_frames.append(
            raw.filter(issue).select(
                *LINEAGE_COLUMNS,
                pl.lit(column).alias("column_name"),
                pl.col(column).alias("original_value"),
                errors[column].filter(issue).alias("rule"),
            )
        )
    value_issues = pl.concat(
        [pl.DataFrame(schema=VALUE_ISSUE_SCHEMA), *issue_frames], how="vertical_relaxed"
    )
    valid = pl.concat([values, lineage], how="horizontal")
    if not passing.all():
        valid = valid.filter(passing)
    cleaned, superseded = _supersede(source, valid)
    return CleanResult(
        cleaned=cleaned,
        quarantined=quarantined,
        value_issues=value_issues.sort(["_source_file", "_row_number", "column_name"]),
        superseded=superseded,
    )
