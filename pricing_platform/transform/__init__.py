"""The dbt project (`dbt_project/`) seen from Python, without Dagster: where it lives, how it connects, the
catalog macros generated into it. Running dbt goes through one path, `resources/dbt.py`'s `DbtResource`,
for the Dagster assets and for the `pricing-platform dbt …` commands alike."""
