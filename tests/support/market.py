"""Rates for tests that run the simulated market on the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pricing_platform.simulators.market.demand import hourly_share


def live_sessions_per_day(sessions_per_s: float, minutes: float = 30) -> int:
    """The `market_sessions_per_day` at which the live market starts at least `sessions_per_s` shopper
    sessions a second during the next `minutes`, whatever the time of day: the market follows the
    hour-of-day pattern, whose night trough has an eighth of the evening's traffic (a fixed daily rate
    made a test wait minutes for a purchase after midnight UTC)."""
    now = datetime.now(UTC)
    hours = {now.hour, (now + timedelta(minutes=minutes)).hour}
    share = min(hourly_share(hour) for hour in hours)
    return round(sessions_per_s * 3600 / share)
