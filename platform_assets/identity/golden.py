"""The golden record: one row per customer, each field chosen by the survivorship rule.

A field is taken from the most trusted source that has a value for it (`SOURCE_TRUST`), then
from the most recently observed record, then from the smallest record key so that the choice
is repeatable. Beside each value sit the record it came from and when that record said it.
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


# `$customer_filter` is replaced by a predicate on `customer_id`; `$p` is the partition.
GOLDEN_SQL = f"""
with records as (
    select c.customer_id, p.*,
        coalesce(list_position({_TRUST}, p.source), {len(SOURCE_TRUST) + 1}) as trust
    from identity.customer_records c
    join identity.person_records p
        on p.record_key = c.record_key and p.valid_to is null
    where c.valid_to is null and ($customer_filter)
)
select customer_id,{",".join(_field(name) for name in GOLDEN_FIELDS)},
    count(*) as record_count,
    string_agg(distinct source, ',' order by source) as sources,
    min(observed_at) as first_seen_at,
    max(observed_at) as last_seen_at,
    $p::date as updated_partition
from records
group by customer_id
"""
