"""The stream processor: stateful windows over the clickstream on Quix Streams (sessions, cart
abandonment, per-minute funnel counts), exactly once through Kafka transactions."""
