"""Simulated-time runs of the market through the platform's real paths (broker, ingest workers, engine,
approvals, outbox, relay, storefront), for `pricing-platform simulate market --days N`, the tests of the
closed loop and the strategy benchmarks."""
