"""Long-running Kafka → PostgreSQL ingest workers, exactly once: rows, derived state and consumed offsets
commit in one PostgreSQL transaction per batch."""
