"""Person records in one shape, and the deterministic rules that link them.

`RECORDS_SQL` reads every person-bearing row of the cleaned layer landed in a window of
partitions and brings it to the shape of `identity.person_records`. The rest are pure
functions: junk identifiers are scrubbed before anything links on them, and the deterministic
edges are derived from exact identifiers.
"""

from __future__ import annotations

import duckdb
import polars as pl

from platform_assets.identity import settings

PERSON_COLUMNS = (
    "record_key",
    "source",
    "source_record_id",
    *settings.GOLDEN_FIELDS,
    "observed_at",
)

_PERSON_FIELDS = ", ".join(settings.GOLDEN_FIELDS)
# What a record says about a person (not when it said it): a new version is written only when
# this changes. JSON keeps a missing value apart from an empty one.
_RECORD_HASH = "md5(to_json([{}]))".format(
    ", ".join(f"{field}::varchar" for field in settings.GOLDEN_FIELDS)
)

# One statement, parameterized by the window ($after, $until]: `$after` null reads from the
# first partition. Versioned sources keep their latest version in the window; web visitors and
# email recipients become one record per identifier, carrying the last address they gave.
RECORDS_SQL = f"""
with
crm as (
    select 'crm_contacts' as source, contact_id as source_record_id, {_PERSON_FIELDS},
        updated_at as observed_at
    from cleaned.crm_contacts
    where ($after is null or _partition_date > $after) and _partition_date <= $until
    qualify row_number() over (
        partition by contact_id order by updated_at desc, _partition_date desc, _row_number desc
    ) = 1
),
shop as (
    select 'shop_customers', customer_id, {_PERSON_FIELDS}, updated_at
    from cleaned.shop_customers
    where ($after is null or _partition_date > $after) and _partition_date <= $until
    qualify row_number() over (
        partition by customer_id order by updated_at desc, _partition_date desc, _row_number desc
    ) = 1
),
tickets as (
    -- A requester writes one name: "Last, First", else "First Last ...".
    select 'support_tickets', ticket_id,
        nullif(trim(case when requester_name like '%,%'
            then split_part(requester_name, ',', 2)
            else split_part(requester_name, ' ', 1) end), '') as first_name,
        nullif(trim(case when requester_name like '%,%'
            then split_part(requester_name, ',', 1)
            else substr(requester_name, length(split_part(requester_name, ' ', 1)) + 1) end), '')
            as last_name,
        requester_email, requester_phone, null::date, null, null, null, null, updated_at
    from cleaned.support_tickets
    where ($after is null or _partition_date > $after) and _partition_date <= $until
    qualify row_number() over (
        partition by ticket_id order by updated_at desc, _partition_date desc, _row_number desc
    ) = 1
),
recipients as (
    select 'email_events', email, null, null, email, null, null::date, null, null, null, null,
        max(occurred_at)
    from cleaned.email_events
    where ($after is null or _partition_date > $after) and _partition_date <= $until
    group by email
),
visitors as (
    select 'web_events', 'anon:' || anonymous_id, null, null,
        arg_max(email, occurred_at) filter (where email is not null),
        null, null::date, null, null, null, null, max(occurred_at)
    from cleaned.web_events
    where ($after is null or _partition_date > $after) and _partition_date <= $until
        and anonymous_id is not null
    group by anonymous_id
),
users as (
    select 'web_events', 'user:' || user_id, null, null,
        arg_max(email, occurred_at) filter (where email is not null),
        null, null::date, null, null, null, null, max(occurred_at)
    from cleaned.web_events
    where ($after is null or _partition_date > $after) and _partition_date <= $until
        and user_id is not null
    group by user_id
),
unioned as (
    select * from crm
    union all select * from shop
    union all select * from tickets
    union all select * from recipients
    union all select * from visitors
    union all select * from users
)
select source || ':' || source_record_id as record_key, *, {_RECORD_HASH} as record_hash
from unioned
"""

# Visitors who logged in: the anonymous id and the account seen on the same event.
LOGINS_SQL = """
select distinct 'web_events:anon:' || anonymous_id as anonymous_key,
    'web_events:user:' || user_id as user_key
from cleaned.web_events
where ($after is null or _partition_date > $after) and _partition_date <= $until
    and anonymous_id is not null and user_id is not null
"""

EDGE_SCHEMA = pl.Schema(
    {
        "left_record_key": pl.Utf8,
        "right_record_key": pl.Utf8,
        "edge_type": pl.Utf8,
        "match_probability": pl.Float64,
        "match_weight": pl.Float64,
    }
)


def _is_junk_email(email: pl.Expr) -> pl.Expr:
    local = email.str.split("@").list.first()
    return email.is_in(list(settings.JUNK_EMAILS)) | local.is_in(
        list(settings.JUNK_EMAIL_LOCAL_PARTS)
    )


def _is_junk_phone(phone: pl.Expr) -> pl.Expr:
    # After the country code (1-3 digits), a number of one repeated digit is a placeholder.
    national = phone.str.slice(3)
    return phone.is_in(list(settings.JUNK_PHONES)) | national.str.contains(
        r"^(0+|1+|2+|3+|4+|5+|6+|7+|8+|9+)$"
    )


def scrub_junk(records: pl.DataFrame) -> pl.DataFrame:
    """Null the placeholder values people type into forms, so that they link nobody."""
    junk_text = list(settings.JUNK_VALUES)
    text_fields = ["first_name", "last_name", "street_address", "city", "postcode"]
    return records.with_columns(
        pl.when(_is_junk_email(pl.col("email")))
        .then(None)
        .otherwise(pl.col("email"))
        .alias("email"),
        pl.when(_is_junk_phone(pl.col("phone")))
        .then(None)
        .otherwise(pl.col("phone"))
        .alias("phone"),
        *[
            pl.when(pl.col(c).str.to_lowercase().str.strip_chars().is_in(junk_text))
            .then(None)
            .otherwise(pl.col(c))
            .alias(c)
            for c in text_fields
        ],
    )


def has_person_fields() -> pl.Expr:
    """Records Splink can compare: they say more about a person than an address."""
    return (
        pl.col("first_name").is_not_null()
        | pl.col("last_name").is_not_null()
        | pl.col("date_of_birth").is_not_null()
        | pl.col("phone").is_not_null()
    )


# The fields that tell two people at one inbox apart (`shared_inbox_sql`): the names, and the
# birth date and phone that would confirm one person. Records alike in all of them are one
# person to that rule, which lets email edges link them to one another cheaply.
_INBOX_NAMES = ("first_name", "last_name")
_INBOX_CONFIRMING = ("date_of_birth", "phone")


def shared_inbox_sql(left: str, right: str) -> str:
    """SQL true when two records at one address are clearly two people (a family's inbox).

    `left` and `right` are templates such as `l.{}` or `{}_l` naming a record's columns. The
    first names clearly differ (not similar, not an initial of each other, not the same two
    names swapped between first and last) and neither a birth date nor a phone confirms them.
    """

    confirmed = " or ".join(
        f"coalesce({left.format(c)} = {right.format(c)}, false)" for c in _INBOX_CONFIRMING
    )
    return f"({_first_names_differ(left, right)} and not ({confirmed}))"


def contradicted_sql(left: str, right: str) -> str:
    """SQL true when two records name clearly different first names (as for a shared inbox)
    and clearly different birth dates (both given, more than one typo and more than a year
    apart), and share no phone and no postcode (a postcode one typo apart counts as shared: one
    person's, mistyped): two people, whatever else they share.

    A match weight adds up the fields that agree, so a surname and a town can outweigh the two
    that disagree. A shared postcode leaves the pair to the model: records of one person with a
    mistyped name and birth date (FEBRL's) share it too. Templates as in `shared_inbox_sql`."""
    dob_l, dob_r = left.format("date_of_birth"), right.format("date_of_birth")
    date_l, date_r = f"try_cast({dob_l} as date)", f"try_cast({dob_r} as date)"
    # (day and month transposed are within a year of each other)
    dates_differ = (
        f"({date_l} is not null and {date_r} is not null"
        f" and damerau_levenshtein({dob_l}::varchar, {dob_r}::varchar) > 1"
        f" and abs(date_diff('day', {date_l}, {date_r})) > 366)"
    )
    shared = (
        f"coalesce({left.format('phone')} = {right.format('phone')}, false)"
        f" or {_postcodes_close(left, right)}"
    )
    return f"({_first_names_differ(left, right)} and {dates_differ} and not ({shared}))"


def strangers_sql(left: str, right: str) -> str:
    """SQL true when two records name clearly different first names (as for a shared inbox) and
    clearly different last names (not similar, and neither similar to the other record's first
    name), and share no email, no phone, no postcode (one typo allowed) and no similar street:
    two people, whatever else they share.

    A birth date and a town are shared by strangers (in a town of 100,000 people, a birth date
    is shared by several), and a match weight can add them up to a near-certain score. Records
    of one person with both names mistyped beyond recognition (FEBRL's) still share an address.
    Templates as in `shared_inbox_sql`."""
    threshold = settings.SHARED_EMAIL_FIRST_NAME_SIMILARITY
    first_l, first_r = left.format("first_name"), right.format("first_name")
    last_l, last_r = left.format("last_name"), right.format("last_name")

    def dissimilar(a: str, b: str) -> str:
        return f"coalesce(jaro_winkler_similarity(lower({a}), lower({b})) < {threshold}, true)"

    last_names_differ = (
        f"({last_l} is not null and {last_r} is not null and {dissimilar(last_l, last_r)}"
        f" and {dissimilar(first_l, last_r)} and {dissimilar(last_l, first_r)})"
    )
    shared = " or ".join(
        [
            *(f"coalesce({left.format(c)} = {right.format(c)}, false)" for c in ("email", "phone")),
            _postcodes_close(left, right),
            f"coalesce(jaro_winkler_similarity({left.format('street_address')},"
            f" {right.format('street_address')}) >= 0.85, false)",
        ]
    )
    return f"({_first_names_differ(left, right)} and {last_names_differ} and not ({shared}))"


def _postcodes_close(left: str, right: str) -> str:
    """Both postcodes given and at most one typo apart: one person's, mistyped or not."""
    return (
        f"coalesce(damerau_levenshtein({left.format('postcode')}, {right.format('postcode')})"
        " <= 1, false)"
    )


def _first_names_differ(left: str, right: str) -> str:
    """Both first names given and clearly different: not similar, not an initial of each
    other, not the same two names swapped between first and last."""
    threshold = settings.SHARED_EMAIL_FIRST_NAME_SIMILARITY
    first_l, first_r = left.format("first_name"), right.format("first_name")
    last_l, last_r = left.format("last_name"), right.format("last_name")
    similar = f"jaro_winkler_similarity(lower({first_l}), lower({first_r})) >= {threshold}"
    initial = (
        f"((length(rtrim({first_l}, '.')) = 1 or length(rtrim({first_r}, '.')) = 1) "
        f"and lower(left({first_l}, 1)) = lower(left({first_r}, 1)))"
    )
    swapped = (
        f"(jaro_winkler_similarity(lower({first_l}), lower({last_r})) >= {threshold} "
        f"and jaro_winkler_similarity(lower({last_l}), lower({first_r})) >= {threshold})"
    )
    return (
        f"({first_l} is not null and {first_r} is not null "
        f"and not ({similar} or {initial} or {swapped}))"
    )


_EMAIL_EDGES_SQL = """
with
people as (
    select record_key, email, first_name, last_name, date_of_birth, phone, source, observed_at
    from members where email is not null and is_person
),
carriers as (
    select record_key, email from members where email is not null and not is_person
),
-- Records alike in every field the shared-inbox rule reads are one person to it: each links to
-- the first of them, and only the first ones are paired. The components are the same as
-- pairing every record, but an address that thousands of identical records carry costs
-- thousands of edges, not millions.
alike as (
    select *,
        min(record_key) over (partition by email, $inbox_fields) as twin
    from people
),
same_email as (
    select twin as a, record_key as b, 'same_email' as edge_type
    from alike where record_key <> twin
    union all
    select l.record_key as a, r.record_key as b, 'same_email' as edge_type
    from alike l join alike r on l.email = r.email and l.record_key < r.record_key
    where l.record_key = l.twin and r.record_key = r.twin and not $shared_inbox
),
anchors as (
    select email,
        arg_min(record_key, [trust, -epoch(observed_at)::bigint]) as anchor
    from (
        select *, coalesce(list_position($trust_order, source), 99) as trust from people
    )
    group by email
),
anchored as (
    select a.anchor as a, c.record_key as b, 'email_anchor' as edge_type
    from carriers c join anchors a using (email)
),
unnamed as (
    -- Nobody named at this address yet: its carriers are one another's only evidence.
    select min(record_key) over (partition by email) as a, record_key as b,
        'same_email' as edge_type
    from carriers where email not in (select email from anchors)
)
select * from same_email
union all select * from anchored
union all select * from unnamed
"""


def email_edges(group: pl.DataFrame) -> pl.DataFrame:
    """Deterministic edges among records that share an email (already scrubbed).

    Records naming a person link on the email unless `shared_inbox_sql` says they are two
    people sharing an inbox. Records that
    carry only the address (email recipients, web visitors) link to the email's anchor, the
    most trusted record naming a person (then the most recent), so they never bridge two
    family members.
    """
    members = group.with_columns(has_person_fields().alias("is_person"))
    with duckdb.connect() as connection:
        connection.register("members", members.to_arrow())
        found = connection.execute(
            _EMAIL_EDGES_SQL.replace("$shared_inbox", shared_inbox_sql("l.{}", "r.{}")).replace(
                "$inbox_fields", ", ".join((*_INBOX_NAMES, *_INBOX_CONFIRMING))
            ),
            {"trust_order": list(settings.SOURCE_TRUST)},
        ).fetchall()
    return ordered_edges([(a, b, t) for a, b, t in found])


def ordered_edges(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    """Deterministic edges, each pair once with its smaller record key on the left."""
    frame = pl.DataFrame(
        rows, schema={"a": pl.Utf8, "b": pl.Utf8, "edge_type": pl.Utf8}, orient="row"
    )
    return (
        frame.filter(pl.col("a") != pl.col("b"))
        .select(
            pl.min_horizontal("a", "b").alias("left_record_key"),
            pl.max_horizontal("a", "b").alias("right_record_key"),
            "edge_type",
            pl.lit(1.0).alias("match_probability"),
            pl.lit(None, dtype=pl.Float64).alias("match_weight"),
        )
        .unique(["left_record_key", "right_record_key"], keep="first", maintain_order=True)
        .cast(EDGE_SCHEMA)
    )
