{#- Salted SHA-256 of a normalized email: joins and counts without the address itself. The salt
    (CDP_PII_SALT) reaches DuckDB as a variable set by the plugin resources/dbt_pii.py, never as
    SQL text: it is in no compiled model, log or run. Keep it stable, or every hash (and every
    export keyed on it) changes. -#}
{% macro hash_email(column) -%}
    case when {{ column }} is not null
        then sha256(getvariable('cdp_pii_salt') || lower(trim({{ column }})))
    end
{%- endmacro %}

{#- A coarse age band in place of a date of birth, as of the run's as-of moment: the marts
    segment on age without holding a birth date. -#}
{% macro age_band(date_of_birth) -%}
    case
        when {{ date_of_birth }} is null then null
        when date_sub('year', {{ date_of_birth }}, {{ as_of_date() }}) < 18 then 'under 18'
        when date_sub('year', {{ date_of_birth }}, {{ as_of_date() }}) < 25 then '18-24'
        when date_sub('year', {{ date_of_birth }}, {{ as_of_date() }}) < 35 then '25-34'
        when date_sub('year', {{ date_of_birth }}, {{ as_of_date() }}) < 45 then '35-44'
        when date_sub('year', {{ date_of_birth }}, {{ as_of_date() }}) < 55 then '45-54'
        when date_sub('year', {{ date_of_birth }}, {{ as_of_date() }}) < 65 then '55-64'
        else '65+'
    end
{%- endmacro %}
