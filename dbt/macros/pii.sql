{#- Salted SHA-256 of a normalized email: joins and counts without the address itself. The
    default salt is for the demo only; set CDP_PII_SALT in any real deployment, and keep it
    stable, or every hash (and every export keyed on it) changes. -#}
{% macro hash_email(column) -%}
    case when {{ column }} is not null
        then sha256('{{ env_var("CDP_PII_SALT", "cdp-demo-salt") }}' || lower(trim({{ column }})))
    end
{%- endmacro %}
