{#- One select per segment of `config.meta.segments` (segment_membership.yml), so a new segment
    is one YAML entry. Conditions see the customer's feature row as `f`; `{fct_orders}` and the
    other placeholders below become the facts' relations, `{param}` the segment's parameters
    (overridable per run through var `segment_params`). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        pre_hook="{{ delete_as_of_date() }}",
        unique_key='as_of_date',
        on_schema_change='fail',
    )
}}

{%- set relations = {
    'customer_features': ref('customer_features'),
    'fct_orders': ref('fct_orders'),
    'fct_order_lines': ref('fct_order_lines'),
    'fct_web_events': ref('fct_web_events'),
    'fct_web_sessions': ref('fct_web_sessions'),
    'fct_cart_events': ref('fct_cart_events'),
    'fct_email_events': ref('fct_email_events'),
    'fct_support_tickets': ref('fct_support_tickets'),
    'dim_product': ref('dim_product'),
} %}
{%- set personas = source('segments', 'personas') %}
{%- set segments = validated_segments(config.get('meta', {}).get('segments', [])) %}

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
    {#- Personas come from a Python asset (k-means) that runs after customer_features; a plain
        `dbt build` before it ever ran finds no table and simply has no personas. -#}
    {%- if execute and adapter.get_relation(personas.database, personas.schema, personas.identifier) %}
    select
        personas.customer_id,
        personas.persona as segment,
        personas.as_of_date,
        features.as_of_at as evaluated_at,
        'persona: ' || personas.persona_description as reason
    from {{ personas }} as personas
    inner join features using (customer_id, as_of_date)
    {%- else %}
    select
        cast(null as varchar) as customer_id,
        cast(null as varchar) as segment,
        cast(null as date) as as_of_date,
        cast(null as timestamptz) as evaluated_at,
        cast(null as varchar) as reason
    where false
    {%- endif %}
),

final as (
    {% for segment in segments %}
    select * from segment_{{ segment.name }}
    union all
    {% endfor %}
    select * from persona_members
)

select * from final
