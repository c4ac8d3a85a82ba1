"""The probabilistic half of identity: Splink 5 settings, unsupervised training and scoring.

Splink runs on its own in-memory DuckDB database: the records it needs are handed over as
Arrow tables and its scratch tables never touch the warehouse. Swapping `DuckDBAPI` for
Splink's `SparkAPI` is the path for users who outgrow one machine; nothing else here is
DuckDB-specific.

Splink sees *profiles*, not records: records whose identifying fields are identical share one
profile, so a record repeated ten thousand times costs one comparison per block, not fifty
million. A profile held by several records gets one `#twin` copy, so that Splink decides
whether identical records are one person like any other pair (two records that only say
"John Smith" are not).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import jellyfish
import polars as pl
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import ColumnExpression, DuckDBAPI, Linker, SettingsCreator, block_on
from splink.blocking_analysis import count_comparisons_from_blocking_rules
from splink.blocking_rule_library import CustomRule
from splink.internals import expectation_maximisation as em
from splink.internals.comparison_level import M_U_CLAMP_MIN
from splink.internals.splink_dataframe import SplinkDataFrame

from platform_assets.identity import records, settings

TWIN_SUFFIX = "#twin"
TF_COLUMNS = ("first_name", "last_name", "full_name", "email", "postcode", "city")
# A day and month written the other way round: 1990-04-03 against 1990-03-04.
_DOB_TRANSPOSED = (
    "substr(date_of_birth_l, 1, 4) = substr(date_of_birth_r, 1, 4) "
    "and substr(date_of_birth_l, 6, 2) = substr(date_of_birth_r, 9, 2) "
    "and substr(date_of_birth_l, 9, 2) = substr(date_of_birth_r, 6, 2)"
)
# The year one or ten apart (a year's last digit, or its decade's, mistyped: 1974 for 1984) and
# the day of the year within five weeks (a day or a month off too). Without it such a pair falls
# to the else level with every stranger, and the else level's weight is then too mild to tell
# strangers apart: of fake_1000's true pairs, 27 % sat at the else level, 5 % with this one.
_DOB_YEAR_SLIP = (
    "abs(year(try_cast(date_of_birth_l as date)) - year(try_cast(date_of_birth_r as date)))"
    " in (1, 10)"
    " and abs(dayofyear(try_cast(date_of_birth_l as date))"
    " - dayofyear(try_cast(date_of_birth_r as date))) <= 35"
)


# Pairs Splink may score as one person but the platform never links (docs/identity-graph.md):
# - a shared inbox: Splink weighs an exact email heavily, so a family sharing one address
#   would otherwise score as one person. `coalesce`, because a pair without an email on both
#   sides shares no inbox, and `not (null and ...)` would drop it;
# - a contradiction: different first names and birth dates far apart, with no phone or postcode
#   in common, which a surname and a town can outweigh in the sum of weights;
# - strangers: different first and last names and no contact detail or address in common, which
#   a birth date and a town can outweigh.
_NEVER_ONE_PERSON = (
    f"(coalesce(email_l = email_r, false) and {records.shared_inbox_sql('{}_l', '{}_r')})"
    f" or {records.contradicted_sql('{}_l', '{}_r')}"
    f" or {records.strangers_sql('{}_l', '{}_r')}"
)


def _date_of_birth_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_levels=[
            cll.NullLevel("date_of_birth"),
            cll.ExactMatchLevel("date_of_birth"),
            cll.CustomLevel(_DOB_TRANSPOSED, label_for_charts="Day and month transposed"),
            cll.DamerauLevenshteinLevel("date_of_birth", 1),
            cll.AbsoluteDateDifferenceLevel(
                ColumnExpression("date_of_birth").try_parse_date(),
                threshold=1,
                metric="month",
                input_is_string=False,
            ),
            cll.AbsoluteDateDifferenceLevel(
                ColumnExpression("date_of_birth").try_parse_date(),
                threshold=1,
                metric="year",
                input_is_string=False,
            ),
            cll.CustomLevel(_DOB_YEAR_SLIP, label_for_charts="Year 1 or 10 apart, day close"),
            cll.ElseLevel(),
        ],
        comparison_description=(
            "Date of birth: exact, transposed, one typo, within a month, a year,"
            " a year 1 or 10 apart with the day close"
        ),
    )


def _email_comparison() -> cl.CustomComparison:
    # Not Splink's EmailComparison: its fuzzy user-part levels reward namesakes, because
    # addresses are built from names (susan.smith637797@ and susan.smith1966585@ are two
    # people), which counts the name twice. The same user at another domain, one typo in the
    # address, or a whole address that is close (typos in both the user and the domain) is
    # evidence; a similar user part alone is the name comparison's business.
    return cl.CustomComparison(
        output_column_name="email",
        comparison_levels=[
            cll.NullLevel("email"),
            cll.ExactMatchLevel("email", term_frequency_adjustments=True),
            cll.CustomLevel(
                "split_part(email_l, '@', 1) = split_part(email_r, '@', 1)",
                label_for_charts="Same user part, another domain",
            ),
            cll.DamerauLevenshteinLevel("email", 1),
            cll.JaroWinklerLevel("email", 0.88),
            cll.ElseLevel(),
        ],
        comparison_description="Email: exact, same user part, one typo, close",
    )


def _exact_then_typo(column: str, *, term_frequencies: bool) -> cl.CustomComparison:
    exact = cll.ExactMatchLevel(column, term_frequency_adjustments=term_frequencies)
    return cl.CustomComparison(
        output_column_name=column,
        comparison_levels=[
            cll.NullLevel(column),
            exact,
            cll.DamerauLevenshteinLevel(column, 1),
            cll.ElseLevel(),
        ],
        comparison_description=f"{column}: exact, one typo",
    )


class _NameComparison(cl.ForenameSurnameComparison):
    """Splink's forename-surname comparison with two levels for names written in the wrong
    columns, an entry error its own levels score as two different names: swapped with a typo
    (`Zierhlz Louis` for `Louis Zierholz`), and one name in the other's other column (`Noyce
    Liam` for `Madison Noyce`). Each level has its own m and u, so data without such errors
    gives them little weight.

    Two more levels split Splink's else level, so that it means what it says (both names
    different) and weighs against a pair as it should: the last name alone close (a typo in it,
    the first name different or missing), and the first name close where a last name is
    missing. The first name close when both last names are given and differ stays in the else
    level: a household (same address, `Jade` and `Jayden`) would otherwise gain weight."""

    def create_comparison_levels(self) -> list[Any]:
        levels = list(super().create_comparison_levels())
        swapped_with_typos = cll.CustomLevel(
            "jaro_winkler_similarity(first_name_l, last_name_r) >= 0.88"
            " and jaro_winkler_similarity(last_name_l, first_name_r) >= 0.88",
            label_for_charts="Swapped, Jaro-Winkler >= 0.88 on both",
        )
        one_name_crossed = cll.CustomLevel(
            "first_name_l = last_name_r or last_name_l = first_name_r",
            label_for_charts="One name in the other's other column",
        )
        surname_close = cll.JaroWinklerLevel("last_name", 0.88)
        forename_close_surname_missing = cll.CustomLevel(
            "jaro_winkler_similarity(first_name_l, first_name_r) >= 0.88"
            " and (last_name_l is null or last_name_r is null)",
            label_for_charts="First name Jaro-Winkler >= 0.88, a last name missing",
        )
        # Splink's levels: null, exact, swapped, two similar-names levels, surname only,
        # forename only, else. A swap with typos ranks with the similar names; a close single
        # name below the exact ones; a crossed name below those.
        return [
            *levels[:5],
            swapped_with_typos,
            *levels[5:-1],
            surname_close,
            forename_close_surname_missing,
            one_name_crossed,
            levels[-1],
        ]


# The street's first word (the house number where it comes first) and its name without numbers
# (null when nothing else is left).
_HOUSE_NUMBER = "split_part({}.street_address, ' ', 1)"
_STREET_NAME = "nullif(trim(regexp_replace({}.street_address, '[0-9]+', '', 'g')), '')"


def _agree(expression: str) -> str:
    """`expression` (a template over a record, `{}`) is equal on both sides of a pair."""
    return f"{expression.format('l')} = {expression.format('r')}"


# Both initials crossed: symmetric, so one rule finds the pair whichever record is `l`.
_CROSSED_INITIALS = (
    "substr(l.first_name, 1, 1) = substr(r.last_name, 1, 1)"
    " and substr(l.last_name, 1, 1) = substr(r.first_name, 1, 1)"
)


# The birthday: month and day, the year left out.
_BIRTHDAY = (
    "substr(cast(l.date_of_birth as varchar), 6, 5)"
    " = substr(cast(r.date_of_birth as varchar), 6, 5)"
)


def splink_settings() -> SettingsCreator:
    """The model's structure: what is compared, how, and which pairs are compared at all."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            _NameComparison(
                "first_name",
                "last_name",
                forename_surname_concat_col_name="full_name",
            ),
            _date_of_birth_comparison(),
            _email_comparison(),
            _exact_then_typo("phone", term_frequencies=False),
            _exact_then_typo("postcode", term_frequencies=True),
            cl.JaroWinklerAtThresholds("city", [0.9]).configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("street_address", [0.95, 0.85]),
        ],
        # Each rule fixes a different field, so a typo in any one field still leaves a block
        # where the pair meets. Together they make about 30 comparisons per profile.
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("phone"),
            block_on("first_name", "last_name"),
            CustomRule("l.first_name = r.last_name and l.last_name = r.first_name"),
            CustomRule(
                "l.date_of_birth = r.date_of_birth"
                " and substr(l.first_name, 1, 1) = substr(r.first_name, 1, 1)"
            ),
            CustomRule(
                "l.date_of_birth = r.date_of_birth"
                " and substr(l.last_name, 1, 1) = substr(r.last_name, 1, 1)"
            ),
            # The first three letters of the surname, for a typo late in it.
            CustomRule(
                "l.postcode = r.postcode and substr(l.last_name, 1, 3) = substr(r.last_name, 1, 3)"
            ),
            block_on("postcode", "first_name"),
            # The town with the surname's sound (Soundex), not its spelling: `hrvey` for
            # `harvey`, with the first name mistyped or missing too.
            block_on("city", "last_name_soundex"),
            # Both names' sounds with the town's first letter: typos in both names (and in the
            # town's tail) where no email or phone is left to block on.
            CustomRule(
                "l.first_name_soundex = r.first_name_soundex"
                " and l.last_name_soundex = r.last_name_soundex"
                " and substr(l.city, 1, 1) = substr(r.city, 1, 1)"
            ),
            CustomRule("l.postcode = r.postcode and l.date_of_birth = r.date_of_birth"),
            block_on("street_address", "city"),
            # The town's first three letters, for a typo late in it.
            CustomRule(
                "l.date_of_birth = r.date_of_birth and substr(l.city, 1, 3) = substr(r.city, 1, 3)"
            ),
            # Names in each other's columns, with a typo in them: the swapped rule above
            # needs them exact.
            CustomRule(f"l.date_of_birth = r.date_of_birth and {_CROSSED_INITIALS}"),
            CustomRule(f"l.postcode = r.postcode and {_CROSSED_INITIALS}"),
            # Typos late in both names: the first three letters of each still agree.
            CustomRule(
                "substr(l.first_name, 1, 3) = substr(r.first_name, 1, 3)"
                " and substr(l.last_name, 1, 3) = substr(r.last_name, 1, 3)"
            ),
            # An email with a typo in its domain: the user part still agrees.
            CustomRule("split_part(l.email, '@', 1) = split_part(r.email, '@', 1)"),
            # A street with a typo (and names changed) at one postcode: the house number agrees.
            CustomRule(f"l.postcode = r.postcode and {_agree(_HOUSE_NUMBER)}"),
            # A street, a town and a postcode each with a typo: the house number with the
            # surname's first letters, or the street's name (its numbers dropped) at the postcode.
            CustomRule(
                f"{_agree(_HOUSE_NUMBER)} and substr(l.last_name, 1, 3) = substr(r.last_name, 1, 3)"
            ),
            CustomRule(f"l.postcode = r.postcode and {_agree(_STREET_NAME)}"),
            # One name in the other's other column (`davies gergge` for `george davies`), the
            # other mistyped or missing, with the birthday (month and day: a year one or ten
            # off is a common typo). The crossed-initials rules above need the whole birth date
            # or the postcode to agree. Two rules, one per column crossed, so that each joins
            # on a name. With the town as well, namesakes (`mason` a first name here, a
            # surname there) outscored the threshold in fake_1000's held-out half (precision
            # 0.967).
            CustomRule(f"l.first_name = r.last_name and ({_BIRTHDAY})"),
            CustomRule(f"l.last_name = r.first_name and ({_BIRTHDAY})"),
            # Records that lack the email or the last name: the first name with the town, or
            # with the birth year.
            block_on("first_name", "city"),
            CustomRule(
                "l.first_name = r.first_name"
                " and left(cast(l.date_of_birth as varchar), 4)"
                " = left(cast(r.date_of_birth as varchar), 4)"
            ),
            # Records whose names are both mistyped or missing: the town with the birth month
            # (year and month). About 20 more pairs on FEBRL 3, FEBRL 4 and fake_1000 each.
            CustomRule(
                "l.city = r.city and left(cast(l.date_of_birth as varchar), 7)"
                " = left(cast(r.date_of_birth as varchar), 7)"
            ),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=True,  # the shared-inbox rule reads them
    )


def profile_id() -> pl.Expr:
    """A profile's id: a hash of its identifying fields, the same for identical records."""
    return (
        pl.concat_str(
            [pl.col(c).cast(pl.Utf8).fill_null("\x00") for c in settings.IDENTIFYING_FIELDS],
            separator="\x1f",
        )
        .hash(seed=7)
        .cast(pl.Utf8)
    )


def soundex(names: pl.Series) -> pl.Series:
    """American Soundex (`Robert`, `Rupert` -> R163; `hrvey`, `harvey` -> H610) of each name,
    by jellyfish: accents dropped and anything but a letter ignored first; null for a name
    without letters."""
    letters = names.str.normalize("NFKD").str.to_lowercase().str.replace_all("[^a-z]", "")
    return letters.map_elements(
        lambda name: jellyfish.soundex(name) if name else None,
        return_dtype=pl.Utf8,
        skip_nulls=True,
    ).alias(f"{names.name}_soundex")


def _with_soundex(profiles: pl.DataFrame, column: str) -> pl.DataFrame:
    """Add `<column>_soundex`, coded once per distinct name: names repeat, a million records
    hold a few thousand."""
    names = profiles.get_column(column).unique().drop_nulls()
    codes = pl.DataFrame([names, soundex(names)])
    return profiles.join(codes, on=column, how="left", maintain_order="left")


def splink_input(records: pl.DataFrame) -> pl.DataFrame:
    """Bring identity records (already junk-free) to the columns Splink compares, and the
    derived ones its blocking rules read."""
    compared = records.select(
        pl.col("unique_id"),
        pl.col("first_name").str.to_lowercase(),
        pl.col("last_name").str.to_lowercase(),
        pl.concat_str(
            [pl.col("first_name").str.to_lowercase(), pl.col("last_name").str.to_lowercase()],
            separator=" ",
        ).alias("full_name"),
        pl.col("email"),
        pl.col("phone"),
        pl.col("date_of_birth").cast(pl.Utf8),
        pl.col("street_address").str.to_lowercase(),
        pl.col("city").str.to_lowercase(),
        pl.col("postcode").str.to_uppercase().str.replace_all(r"\s", ""),
    )
    return _with_soundex(_with_soundex(compared, "first_name"), "last_name")


@dataclass(frozen=True)
class TrainedModel:
    settings_json: str
    version: str
    charts: dict[str, str]  # chart name -> standalone HTML
    training_records: int


def _clamp_em_zeros() -> None:
    """EM can estimate an m or u of exactly 0.0 for a level it observed (no pair of a class at
    that level in the training block), and Splink 5's setters then refuse the value (below
    M_U_CLAMP_MIN), failing the whole training. Splink clamps such values when it computes match
    weights; here the EM lookup is clamped the same way before the setters see it. Applied once,
    idempotent."""
    if getattr(em.populate_m_u_from_lookup, "_clamped", False):
        return
    original = em.populate_m_u_from_lookup

    def populate(
        training_fixed_probabilities: set[str],
        comparison_level: Any,
        output_column_name: str,
        m_u_records_lookup: dict[str, dict[int, Any]],
    ) -> None:
        for levels in m_u_records_lookup.values():
            for record in levels.values():
                for name in ("m_probability", "u_probability"):
                    value = record.get(name)
                    if isinstance(value, (int, float)) and value < M_U_CLAMP_MIN:
                        record[name] = M_U_CLAMP_MIN
        original(
            training_fixed_probabilities, comparison_level, output_column_name, m_u_records_lookup
        )

    populate._clamped = True  # type: ignore[attr-defined]
    em.populate_m_u_from_lookup = populate


def _quiet_splink() -> None:
    # Splink logs every step at INFO and levels it could not train (a level no pair reached
    # in this data) at WARNING; the model's charts show both, the run log keeps neither.
    logging.getLogger("splink").setLevel(logging.ERROR)


def _keep_comparison_columns(linker: Linker) -> Linker:
    """Make predictions carry each comparison's level and match weight (gamma_, mw_ columns).
    The settings key is not read back from a saved model; Splink's own compare_two_records sets
    the flag the same way."""
    linker._settings_obj._retain_intermediate_calculation_columns = True
    return linker


def _linker(profiles: pl.DataFrame, model: dict[str, Any] | SettingsCreator) -> Linker:
    db_api = DuckDBAPI(duckdb.connect())
    table = db_api.register(profiles.to_arrow(), table_name="profiles")
    return Linker(table, model, log_level=None)


def train_model(profiles: pl.DataFrame) -> TrainedModel:
    """Estimate the model's parameters without labels.

    u from random pairs; a first prior from two near-certain rules, which EM starts from; m
    by EM, twice, each time fixing one group of fields so that the others are estimated from
    the pairs it blocks; then the prior again, from the match rates the two EM sessions found.
    """
    _quiet_splink()
    _clamp_em_zeros()
    linker = _linker(profiles, splink_settings())
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("first_name", "last_name", "date_of_birth")],
        recall=0.7,
    )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=settings.U_SAMPLING_MAX_PAIRS, seed=settings.U_SAMPLING_SEED
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "last_name")
    )
    # The prior from both EM sessions' match rates, un-blocked through the levels their rules
    # fixed: it follows the data instead of assuming how often exact rules find a match.
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth"),
        populate_probability_two_random_records_match_from_trained_values=True,
    )
    model = linker.misc.save_model_to_json()
    settings_json = json.dumps(model, sort_keys=True, indent=2, default=str)
    charts = {
        "match_weights": linker.visualisations.match_weights_chart().to_html(),
        "m_u_parameters": linker.visualisations.m_u_parameters_chart().to_html(),
        **_dashboards(profiles, model),
    }
    return TrainedModel(
        settings_json=settings_json,
        version=hashlib.sha256(settings_json.encode()).hexdigest()[:12],
        charts=charts,
        training_records=profiles.height,
    )


def _dashboards(profiles: pl.DataFrame, model: dict[str, Any]) -> dict[str, str]:
    """Splink's comparison viewer and cluster studio over a sample of the training profiles."""
    sample = (
        profiles
        if profiles.height <= settings.DASHBOARD_PROFILES
        else profiles.sample(n=settings.DASHBOARD_PROFILES, seed=settings.U_SAMPLING_SEED)
    )
    linker = _keep_comparison_columns(_linker(sample, model))
    predictions = linker.inference.predict(
        threshold_match_probability=settings.PREDICTION_FLOOR, warning_mode="never"
    )
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, settings.MATCH_THRESHOLD
    )
    # Splink writes the dashboards to a file either way; they are read back and handed to the
    # artifact store like the charts.
    with tempfile.TemporaryDirectory() as folder:
        viewer, studio = Path(folder) / "viewer.html", Path(folder) / "studio.html"
        linker.visualisations.comparison_viewer_dashboard(
            predictions, out_path=str(viewer), overwrite=True
        )
        linker.visualisations.cluster_studio_dashboard(
            predictions,
            clusters,
            out_path=str(studio),
            sampling_method="by_cluster_size",
            sample_size=10,
            overwrite=True,
        )
        return {
            "comparison_viewer": viewer.read_text(encoding="utf-8"),
            "cluster_studio": studio.read_text(encoding="utf-8"),
        }


def with_twins(profiles: pl.DataFrame, multiplicity: pl.Series) -> pl.DataFrame:
    """Add one `#twin` copy of each profile held by more than one record."""
    twins = profiles.filter(multiplicity > 1).with_columns(
        (pl.col("unique_id") + TWIN_SUFFIX).alias("unique_id")
    )
    return pl.concat([profiles, twins])


def score_pairs(
    model_json: str,
    new_profiles: pl.DataFrame,
    existing_profiles: pl.DataFrame,
    *,
    floor: float = settings.PREDICTION_FLOOR,
) -> pl.DataFrame:
    """Score new profiles against each other and against the existing ones.

    Returns `unique_id_l, unique_id_r, match_probability, match_weight` for pairs above the
    floor. Term frequencies come from new and existing profiles together, as they are now.
    """
    _quiet_splink()
    empty = pl.DataFrame(
        schema={
            "unique_id_l": pl.Utf8,
            "unique_id_r": pl.Utf8,
            "match_probability": pl.Float64,
            "match_weight": pl.Float64,
        }
    )
    if new_profiles.is_empty():
        return empty
    all_profiles = pl.concat([existing_profiles, new_profiles]).unique("unique_id")
    db_api = DuckDBAPI(duckdb.connect())
    everything = db_api.register(all_profiles.to_arrow(), table_name="all_profiles")
    linker = Linker(everything, json.loads(model_json), log_level=None)
    for column in TF_COLUMNS:
        linker.table_management.compute_tf_table(column)

    new_table = db_api.register(new_profiles.to_arrow(), table_name="new_profiles")
    results: list[SplinkDataFrame] = [
        linker.inference.predict_within(
            new_table, threshold_match_probability=floor, warning_mode="never"
        )
    ]
    if not existing_profiles.is_empty():
        existing_table = db_api.register(
            existing_profiles.to_arrow(), table_name="existing_profiles"
        )
        results.append(
            linker.inference.predict_between(
                new_table,
                existing_table,
                threshold_match_probability=floor,
                warning_mode="never",
            )
        )
    scored = pl.concat(
        [
            result.as_duckdbpyrelation()
            .filter(f"not coalesce({_NEVER_ONE_PERSON}, false)")
            .select("unique_id_l, unique_id_r, match_probability, match_weight")
            .pl()
            .cast(empty.schema)
            for result in results
        ]
    )
    return scored.cast(empty.schema) if scored.height else empty


def explain_pairs(
    model_json: str, left: pl.DataFrame, right: pl.DataFrame, profiles: pl.DataFrame
) -> pl.DataFrame:
    """Splink's waterfall for given pairs: `left` and `right` are aligned rows in Splink's shape
    (row i of each is one pair). Term frequencies come from `profiles`, as when they were scored.

    Returns `pair, match_probability, match_weight, contributions` (JSON: the prior, then per
    comparison its level and the match weight it adds, term frequencies included) and
    `strongest_against`, the lowest match weight a step after the prior adds.
    """
    _quiet_splink()
    schema = {
        "pair": pl.Int64,
        "match_probability": pl.Float64,
        "match_weight": pl.Float64,
        "contributions": pl.Utf8,
        "strongest_against": pl.Float64,
    }
    if left.is_empty():
        return pl.DataFrame(schema=schema)
    parameters = json.loads(model_json)
    # Each pair is compared once, on its own: the model's blocking rules would also compare
    # every queued record with every other.
    parameters["blocking_rules_to_generate_predictions"] = [
        {"blocking_rule": "l.pair = r.pair", "sql_dialect": "duckdb"}
    ]
    index = pl.int_range(pl.len(), dtype=pl.Int64)
    sides = pl.concat(
        [
            left.with_columns(index.alias("pair")).with_columns(
                (pl.col("pair").cast(pl.Utf8) + "|l").alias("unique_id")
            ),
            right.with_columns(index.alias("pair")).with_columns(
                (pl.col("pair").cast(pl.Utf8) + "|r").alias("unique_id")
            ),
        ]
    )
    db_api = DuckDBAPI(duckdb.connect())
    linker = _keep_comparison_columns(
        Linker(
            db_api.register(sides.to_arrow(), table_name="review_pairs"), parameters, log_level=None
        )
    )
    # Term frequencies of every current profile, as when the pairs were scored.
    for column in TF_COLUMNS:
        frequencies = (
            profiles[column]
            .drop_nulls()
            .value_counts(name="n")
            .select(column, (pl.col("n") / pl.col("n").sum()).alias(f"tf_{column}"))
        )
        linker.table_management.register_term_frequency_lookup(
            db_api.register(frequencies.to_arrow(), table_name=f"tf_lookup_{column}"), column
        )
    scored = linker.inference.predict(
        threshold_match_probability=0, warning_mode="never"
    ).as_duckdbpyrelation()
    # The waterfall is built in DuckDB, beside the scores: a Python loop over the rows cost
    # more than Splink's prediction itself (about 5 s for 140,000 pairs).
    waterfall = _waterfall_sql(parameters, set(scored.columns))
    return (
        scored.query("scored", f"select {waterfall} from scored")
        .pl()
        .cast(pl.Schema(schema))
        .unique("pair")
    )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _waterfall_sql(parameters: dict[str, Any], columns: set[str]) -> str:
    """The select list that turns Splink's predictions (with their gamma_, mw_ and mw_tf_adj_
    columns) into `pair, match_probability, match_weight, contributions, strongest_against`.

    The steps are Splink's waterfall: the prior, then per comparison its level and the match
    weight it adds, and a term-frequency adjustment (a bar of its own in Splink's chart) where
    it is not zero. Weights are rounded to 2 places."""

    def step(comparison: str, level: str, weight: str) -> str:
        return (
            f"{{'comparison': {_sql_text(comparison)}, 'level': {level}, 'match_weight': {weight}}}"
        )

    prior = parameters["probability_two_random_records_match"]
    prior_weight = str(round(math.log2(prior / (1 - prior)), 2))
    steps = [f"[{step('prior', _sql_text('two random records'), prior_weight)}]"]
    weights = []
    for comparison in parameters["comparisons"]:
        name = comparison["output_column_name"]
        # Splink numbers a comparison's levels from the last (0, "else") up; null is -1.
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        cases = " ".join(
            f"when {len(levels) - 1 - i} then {_sql_text(level['label_for_charts'])}"
            for i, level in enumerate(levels)
        )
        label = (
            f"case coalesce(gamma_{name}, 0) {cases}"
            f" when -1 then 'null on either side' else cast(gamma_{name} as varchar) end"
        )
        weight = f"round(mw_{name}, 2)"
        steps.append(f"[{step(name, label, weight)}]")
        weights.append(weight)
        if f"mw_tf_adj_{name}" in columns:
            adjusted = f"coalesce(mw_tf_adj_{name}, 0) != 0"
            adjustment = f"round(mw_tf_adj_{name}, 2)"
            bar = step(
                f"{name} (term frequency)", _sql_text("how common the shared value is"), adjustment
            )
            steps.append(f"case when {adjusted} then [{bar}] else [] end")
            weights.append(f"case when {adjusted} then {adjustment} end")
    return (
        "cast(split_part(unique_id_l, '|', 1) as bigint) as pair, match_probability,"
        f" match_weight, to_json(list_concat({', '.join(steps)}))::varchar as contributions,"
        # least() passes over nulls; a pair with no weight at all has nothing against it.
        f" coalesce(least({', '.join(weights)}), 0.0) as strongest_against"
    )


def comparison_count(
    model_json: str, profiles: pl.DataFrame, *, sample_proportion: float = 1.0
) -> int:
    """How many pairs the prediction blocking rules generate over these profiles."""
    model = json.loads(model_json)
    db_api = DuckDBAPI(duckdb.connect())
    table = db_api.register(profiles.to_arrow(), table_name="profiles")
    rules: list[Any] = [
        r["blocking_rule"] if isinstance(r, dict) else r
        for r in model["blocking_rules_to_generate_predictions"]
    ]
    counted = count_comparisons_from_blocking_rules(
        table,
        blocking_rules=rules,
        link_type="dedupe_only",
        record_sample_proportion=sample_proportion,
    )
    return int(counted[-1]["cumulative_comparison_count"])


def match_weights_table(parameters: dict[str, Any]) -> str:
    """The trained model as the match-weights chart shows it, in Markdown: per comparison level,
    its m and u probabilities and the match weight log2(m/u) a pair at that level adds."""
    lines = ["| comparison | level | m | u | match weight |", "|---|---|---:|---:|---:|"]
    for comparison in parameters["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            weight = f"{math.log2(m / u):+.2f}" if m and u else "—"
            label = level["label_for_charts"].replace("|", "/")
            lines.append(
                f"| {comparison['output_column_name']} | {label} |"
                f" {_probability(m)} | {_probability(u)} | {weight} |"
            )
    return "\n".join(lines)


def _probability(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"
