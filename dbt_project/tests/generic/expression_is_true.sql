{#- Every row satisfies a boolean SQL expression over its own columns. -#}
{% test expression_is_true(model, expression) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}
