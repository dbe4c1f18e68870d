"""Deterministic simulators of the three raw streams (clickstream, inventory, competitor prices).

The generators are pure: seeded `random.Random`, an injected clock, no I/O. Producing to Kafka lives in
`pricing_platform.simulators.run` (imported separately, as it pulls in the Kafka client and rich).
"""

from pricing_platform.simulators.clickstream import ClickstreamGenerator
from pricing_platform.simulators.competitor import CompetitorPriceGenerator
from pricing_platform.simulators.inventory import InventoryGenerator
from pricing_platform.simulators.simulation import Simulation
from pricing_platform.simulators.world import (
    Clock,
    EventIds,
    SimEvent,
    contract_violation_of,
    derive_seed,
    stepping_clock,
    utc_now,
)

__all__ = [
    "ClickstreamGenerator",
    "Clock",
    "CompetitorPriceGenerator",
    "EventIds",
    "InventoryGenerator",
    "SimEvent",
    "Simulation",
    "contract_violation_of",
    "derive_seed",
    "stepping_clock",
    "utc_now",
]
