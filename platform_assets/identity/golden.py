"""The golden record: one row per customer, each field chosen by the survivorship rule.

A field is taken from the most trusted source that has a value for it (`SOURCE_TRUST`), then
from the most recently observed record, then from the smallest record key so that the choice
is repeatable. Beside each value sit the record it came from and when that record said it.

A correction the person asked for (`cleaned.profile_corrections`, the latest per field landed
by the partition) is more trusted than any source: its field's value is theirs, with
`profile_corrections:<customer_id>:<field>` as the record it came from.
"""

from __future__ import annotations

from platform_assets.identity.settings import GOLDEN_FIELDS, SOURCE_TRUST

_TRUST = "[" + ", ".join(f"'{source}'" for source in SOURCE_TRUST) + "]"


def _field(name: str) -> str:
    order = "order by trust, observed_at desc nulls last, record_key"
    return f"""
        first({name} {order}) filter (where {name} is not null) as {name},
        first(record_key {order}) filter (where {name} is not null) as {name}_source,
        first(observed_at {order}) filter (where {name} is not null) as {name}_observed_at"""


CORRECTIONS_TABLE = "cleaned.profile_corrections"
CORRECTION_SOURCE = "profile_corrections"


def _corrected(name: str) -> str:
    value = {"email": "lower(value)", "date_of_birth": "try_cast(value as date)"}.get(name, "value")
    return f"case when field = '{name}' then {value} end as {name}"


# A correction is one pseudo-record per field, trusted above every source (trust 0).
_CORRECTIONS = f"""
    union all by name
    select customer_id, record_key, '{CORRECTION_SOURCE}' as source,
        customer_id as source_record_id, requested_at as observed_at, 0 as trust,
        {", ".join(_corrected(name) for name in GOLDEN_FIELDS)}
    from (
        select *, '{CORRECTION_SOURCE}:' || customer_id || ':' || field as record_key
        from {CORRECTIONS_TABLE}
        where _partition_date <= $p::date and ($customer_filter)
            and customer_id in (
                select customer_id from identity.customer_records where valid_to is null)
        qualify row_number() over (
            partition by customer_id, field
            order by requested_at desc, _partition_date desc, _row_number desc
        ) = 1
    )"""


def golden_sql(with_corrections: bool) -> str:
    """`$customer_filter` is to be replaced by a predicate on `customer_id`; `$p` is the
    partition. `with_corrections`: whether `cleaned.profile_corrections` exists to apply."""
    is_record = f"source <> '{CORRECTION_SOURCE}'"
    return f"""
with records as (
    select c.customer_id, p.*,
        coalesce(list_position({_TRUST}, p.source), {len(SOURCE_TRUST) + 1}) as trust
    from identity.customer_records c
    join identity.person_records p
        on p.record_key = c.record_key and p.valid_to is null
    where c.valid_to is null and ($customer_filter)
    {_CORRECTIONS if with_corrections else ""}
)
select customer_id,{",".join(_field(name) for name in GOLDEN_FIELDS)},
    count(*) filter (where {is_record}) as record_count,
    string_agg(distinct source, ',' order by source) as sources,
    min(observed_at) filter (where {is_record}) as first_seen_at,
    max(observed_at) filter (where {is_record}) as last_seen_at,
    $p::date as updated_partition
from records
group by customer_id
"""


GOLDEN_SQL = golden_sql(with_corrections=False)
