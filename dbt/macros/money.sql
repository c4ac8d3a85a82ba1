{#- An amount in the reporting currency (EUR) at the rates in var `exchange_rates_to_reporting`;
    an unknown currency gives NULL rather than a wrong number. -#}
{% macro to_reporting_currency(amount, currency) -%}
    case upper({{ currency }})
    {%- for code, rate in var('exchange_rates_to_reporting').items() %}
        when '{{ code }}' then cast({{ amount }} * {{ rate }} as decimal(18, 2))
    {%- endfor %}
    end
{%- endmacro %}
