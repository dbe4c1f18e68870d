"""The outbound price feed: applied price changes, written to a transactional outbox in the transaction
that changes the price (`apply_price_change`, migration 0007), published to `pricing.price_changes` by
relays (`relay.py`) in order per product, with periodic snapshots of every current price."""
