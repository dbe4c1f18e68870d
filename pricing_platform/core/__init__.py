"""The base layer every other part of the platform builds on: the catalog, the public event contract, the
typed settings, the names of database relations and roles, the decision vocabulary and the database reads
that ingest needs. Nothing in here imports from the rest of the project (a test enforces it), so the ingest
workers, the Dagster code and the dashboard can all depend on it without depending on each other."""
