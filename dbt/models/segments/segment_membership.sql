{#- One select per segment of `config.meta.segments` (segment_membership.yml), so a new segment
    is one YAML entry. Conditions see the customer's feature row as `f`; `{fct_orders}` and the
    other placeholders below become the facts' relations, `{param}` the segment's parameters
    (overridable per run through var `segment_params`). -#}
{{ config(materialized='incremental') }}

{#- Each fact as it had landed by the as-of day (its first landing partition), so a segment
    evaluated again for an old day sees what that day saw; conditions cut on `< f.as_of_at`. -#}
{%- set relations = {
    'customer_features': ref('customer_features'),
    'fct_orders': landed_by_as_of(ref('fct_orders'), 'first_partition_date'),
    'fct_order_lines': landed_by_as_of(ref('fct_order_lines'), 'first_partition_date'),
    'fct_web_events': landed_by_as_of(ref('fct_web_events')),
    'fct_web_sessions': landed_by_as_of(ref('fct_web_sessions')),
    'fct_cart_events': landed_by_as_of(ref('fct_cart_events')),
    'fct_email_events': landed_by_as_of(ref('fct_email_events')),
    'fct_support_tickets': landed_by_as_of(ref('fct_support_tickets'), 'first_partition_date'),
    'dim_product': ref('dim_product'),
} %}
{%- set segments = validated_segments(segment_definitions()) %}

with

features as (
    select * from {{ ref('customer_features') }}
    where as_of_date = {{ as_of_date() }}
),

{% for segment in segments %}
{%- set params = segment.get('params', {}) or {} %}
{%- set params = dict(params, **var('segment_params', {}).get(segment.name, {})) %}
{%- set condition = fill_segment_placeholders(segment.condition, relations, params) %}
{%- set reason = fill_segment_placeholders(segment.reason, relations, params) %}
segment_{{ segment.name }} as (
    -- {{ segment.description | replace('\n', ' ') | trim }}
    select
        f.customer_id,
        '{{ segment.name }}' as segment,
        f.as_of_date,
        f.as_of_at as evaluated_at,
        cast({{ reason }} as varchar) as reason
    from features as f
    where ({{ condition }})
    {%- for required in segment.get('requires', []) or [] %}
        and f.customer_id in (select customer_id from segment_{{ required }})
    {%- endfor %}
    {%- for excluded in segment.get('excludes', []) or [] %}
        and f.customer_id not in (select customer_id from segment_{{ excluded }})
    {%- endfor %}
),

{% endfor %}

persona_members as (
    select
        personas.customer_id,
        personas.persona as segment,
        personas.as_of_date,
        features.as_of_at as evaluated_at,
        'persona: ' || personas.persona_description as reason
    from {{ ref('personas') }} as personas
    inner join features using (customer_id, as_of_date)
),

final as (
    {% for segment in segments %}
    select * from segment_{{ segment.name }}
    union all
    {% endfor %}
    select * from persona_members
)

select * from final
