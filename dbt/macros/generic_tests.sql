{#- Generic tests the dbt hub would otherwise provide (the project takes no packages). -#}

{% test accepted_range(model, column_name, min_value=none, max_value=none) %}
    select *
    from {{ model }}
    where {{ column_name }} is not null
        and (
            false
            {%- if min_value is not none %} or {{ column_name }} < {{ min_value }}{% endif %}
            {%- if max_value is not none %} or {{ column_name }} > {{ max_value }}{% endif %}
        )
{% endtest %}

{% test unique_combination_of_columns(model, combination_of_columns) %}
    select {{ combination_of_columns | join(', ') }}, count(*) as rows_with_this_key
    from {{ model }}
    group by all
    having count(*) > 1
{% endtest %}

{#- No value looks like an email address: marts carry salted hashes, never raw addresses. -#}
{% test no_email_addresses(model, column_name) %}
    select {{ column_name }}
    from {{ model }}
    where regexp_matches(cast({{ column_name }} as varchar), '[^@\s]+@[^@\s]+\.[^@\s]+')
{% endtest %}

{#- `relationships` for the evaluation this run wrote (var `as_of`): older as_of_dates keep the
    customer ids of their time, which identity may since have merged away. -#}
{% test relationships_in_evaluation(model, column_name, to, field) %}
    select child.{{ column_name }}
    from (select * from {{ model }}) as child
    left join {{ to }} as parent
        on child.{{ column_name }} = parent.{{ field }}
    where child.as_of_date = {{ as_of_date() }}
        and child.{{ column_name }} is not null
        and parent.{{ field }} is null
{% endtest %}

{#- No text column of the model holds anything that looks like an email address: a raw address
    copied into a URL, a UTM tag or a reason string would leak as surely as an `email` column.
    Model-level, so a column added later is covered without a line of YAML. Like every generic
    test, it reads only the rows the run wrote (get_where_subquery). -#}
{% test no_email_addresses_in_text(model) %}
    {%- set text_columns = [] -%}
    {%- if execute -%}
        {#- `model` is the filtered subquery, not a relation: its columns come from a query. -#}
        {%- for column in adapter.get_column_schema_from_query('select * from ' ~ model) -%}
            {%- if column.is_string() -%}{%- do text_columns.append(column.name) -%}{%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if text_columns -%}
        {%- for name in text_columns %}
    select '{{ name }}' as column_name, cast({{ adapter.quote(name) }} as varchar) as value
    from {{ model }}
    where regexp_matches({{ adapter.quote(name) }}, '[^@\s]+@[^@\s]+\.[^@\s]+')
    {% if not loop.last %}union all{% endif %}
        {%- endfor %}
    {%- else %}
    select null as column_name, null as value where false
    {%- endif %}
{% endtest %}
