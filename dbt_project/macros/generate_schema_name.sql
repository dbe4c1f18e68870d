{#-
    A model with `+schema: marts` lands in exactly `marts` (dbt's default would be `<target schema>_marts`,
    e.g. `public_marts`). Models without a custom schema land in the target schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
