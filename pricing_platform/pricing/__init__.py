"""The pricing engine: decision rules and guardrails (`engine`), their configuration (`rules`), and the
set-based cycle that reads inputs from PostgreSQL and appends recommendations (`cycle`)."""
