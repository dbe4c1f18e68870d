"""The generators of the selected streams, wired together: with the clickstream and inventory both
running, every purchase is followed by the `sale` that ships it."""

from __future__ import annotations

from collections.abc import Iterable

from pricing_platform.core.catalog import Stream
from pricing_platform.core.events import ClickstreamEvent
from pricing_platform.simulators.clickstream import ClickstreamGenerator
from pricing_platform.simulators.competitor import CompetitorPriceGenerator
from pricing_platform.simulators.inventory import InventoryGenerator
from pricing_platform.simulators.world import Clock, SimEvent, derive_seed, utc_now


class Simulation:
    """One seeded world for a set of streams; `step(stream)` advances that stream by one event.

    Each generator gets its own sub-seed, so a stream's events do not depend on which other streams
    run — except the inventory stream, which alongside the clickstream trades its own sales for the
    sales of clickstream purchases.
    """

    def __init__(self, streams: Iterable[Stream], *, seed: int, clock: Clock = utc_now) -> None:
        selected = frozenset(Stream(s) for s in streams)
        self.streams = selected
        self.combined = Stream.CLICKSTREAM in selected and Stream.INVENTORY in selected
        self.clickstream = (
            ClickstreamGenerator(derive_seed(seed, Stream.CLICKSTREAM.value), clock)
            if Stream.CLICKSTREAM in selected
            else None
        )
        self.inventory = (
            InventoryGenerator(derive_seed(seed, Stream.INVENTORY.value), clock, own_sales=not self.combined)
            if Stream.INVENTORY in selected
            else None
        )
        self.competitor = (
            CompetitorPriceGenerator(derive_seed(seed, Stream.COMPETITOR.value), clock)
            if Stream.COMPETITOR in selected
            else None
        )

    def step(self, stream: Stream) -> list[SimEvent]:
        """The next event of `stream`, followed by the sale it causes if it is a purchase.

        The follow-up is missing only when the product is sold out in every warehouse (a backorder).
        """
        if stream is Stream.CLICKSTREAM and self.clickstream is not None:
            click = next(self.clickstream)
            event = click[2]
            if (
                self.inventory is not None
                and isinstance(event, ClickstreamEvent)
                and event.event_type == "purchase"
            ):
                sale = self.inventory.sale_for(event)
                if sale is not None:
                    return [click, sale]
            return [click]
        if stream is Stream.INVENTORY and self.inventory is not None:
            return [next(self.inventory)]
        if stream is Stream.COMPETITOR and self.competitor is not None:
            return [next(self.competitor)]
        raise ValueError(f"stream {stream!r} is not part of this simulation")
