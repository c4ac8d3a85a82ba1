{#- The segment list of segment_membership.yml (the model's config.meta.segments). A unit test
    compiles the model without the model's meta, so it overrides this macro with the same list
    (a YAML anchor). -#}
{% macro segment_definitions() %}
    {%- set meta = config.get('meta', {}) -%}
    {{ return(meta.get('segments', []) if meta is mapping else []) }}
{% endmacro %}

{#- The segment list of segment_membership.yml, checked before any SQL is written: a mistake
    names the segment and the rule it broke instead of surfacing as a SQL error. -#}
{% macro validated_segments(segments) %}
    {%- set seen = [] -%}
    {%- for segment in segments -%}
        {%- set where = "segment_membership.yml, segment #" ~ loop.index ~ " (" ~ segment.get('name', '?') ~ ")" -%}
        {%- for key in ['name', 'description', 'condition', 'reason'] -%}
            {%- if not segment.get(key) -%}
                {{ exceptions.raise_compiler_error(where ~ ": `" ~ key ~ "` is required.") }}
            {%- endif -%}
        {%- endfor -%}
        {%- if not modules.re.match('^[a-z][a-z0-9_]*$', segment.name) -%}
            {{ exceptions.raise_compiler_error(where ~ ": the name must be lower_snake_case.") }}
        {%- endif -%}
        {%- if segment.name in seen -%}
            {{ exceptions.raise_compiler_error(where ~ ": the name is used twice.") }}
        {%- endif -%}
        {%- if segment.name.startswith('persona_') -%}
            {{ exceptions.raise_compiler_error(where ~ ": names starting with persona_ belong to the personas asset.") }}
        {%- endif -%}
        {%- for other in (segment.get('requires', []) or []) + (segment.get('excludes', []) or []) -%}
            {%- if other not in seen -%}
                {{ exceptions.raise_compiler_error(where ~ ": it requires or excludes `" ~ other ~ "`, which must be defined above it.") }}
            {%- endif -%}
        {%- endfor -%}
        {%- do seen.append(segment.name) -%}
    {%- endfor -%}
    {{ return(segments) }}
{% endmacro %}

{#- A segment's SQL with `{fct_orders}`-style placeholders replaced by relations and `{param}`
    placeholders by the segment's parameters. -#}
{% macro fill_segment_placeholders(text, relations, params) %}
    {%- set filled = namespace(text=text) -%}
    {%- for name, relation in relations.items() -%}
        {%- set filled.text = filled.text | replace('{' ~ name ~ '}', relation | string) -%}
    {%- endfor -%}
    {%- for name, value in params.items() -%}
        {%- set filled.text = filled.text | replace('{' ~ name ~ '}', value | string) -%}
    {%- endfor -%}
    {%- if modules.re.search('[{][a-z_]+[}]', filled.text) -%}
        {{ exceptions.raise_compiler_error(
            "segment_membership.yml: unknown placeholder " ~ modules.re.search('[{][a-z_]+[}]', filled.text).group(0)
            ~ " in `" ~ text | trim ~ "`; use a relation (" ~ relations.keys() | join(', ')
            ~ ") or a key of the segment's params."
        ) }}
    {%- endif -%}
    {{ return(filled.text) }}
{% endmacro %}
