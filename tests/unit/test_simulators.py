"""The simulators without a broker: determinism, the event contract, realistic shapes, and the run loop's
argument checks and producer settings. Producing to the real broker is tested in
tests/integration/test_simulators_run.py."""

from __future__ import annotations

import pickle
import random
import statistics
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice, pairwise
from typing import Any, TypeVar, cast

import msgspec
import pytest

from pricing_platform.core.catalog import CENT, INITIAL_STOCK, PRODUCTS_BY_ID, WAREHOUSES, Stream
from pricing_platform.core.events import (
    DECODERS,
    ENCODER,
    ClickstreamEvent,
    CompetitorPriceEvent,
    InventoryEvent,
)
from pricing_platform.core.settings import Settings
from pricing_platform.simulators import (
    ClickstreamGenerator,
    CompetitorPriceGenerator,
    InventoryGenerator,
    SimEvent,
    Simulation,
    contract_violation_of,
    stepping_clock,
)
from pricing_platform.simulators.run import producer_config, run_simulators
from pricing_platform.simulators.world import EventIds, random_uuid4, uuid_from_int, weighted_table

E = TypeVar("E", ClickstreamEvent, InventoryEvent, CompetitorPriceEvent)
START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
ALL_STREAMS = (Stream.CLICKSTREAM, Stream.INVENTORY, Stream.COMPETITOR)
GENERATORS: dict[Stream, Callable[..., Iterator[SimEvent]]] = {
    Stream.CLICKSTREAM: ClickstreamGenerator,
    Stream.INVENTORY: InventoryGenerator,
    Stream.COMPETITOR: CompetitorPriceGenerator,
}


def clock() -> Callable[[], datetime]:
    return stepping_clock(START, timedelta(milliseconds=1))


def take(generator: Iterator[SimEvent], n: int) -> list[SimEvent]:
    return list(islice(generator, n))


def wire(events: list[SimEvent]) -> list[tuple[Stream, bytes, bytes]]:
    return [(stream, key, ENCODER.encode(event)) for stream, key, event in events]


def content(events: list[SimEvent]) -> list[tuple[Any, ...]]:
    """Everything an event says except its id and timestamp, which come from the clock."""
    return [
        (key, *(v for f, v in msgspec.structs.asdict(e).items() if f not in ("event_id", "timestamp")))
        for _, key, e in events
    ]


def only(cls: type[E], events: Iterable[SimEvent]) -> list[E]:
    """The events, checked to all be of `cls`."""
    out = [e for _, _, e in events]
    assert all(isinstance(e, cls) for e in out)
    return out  # type: ignore[return-value]  # checked just above


def clicks(n: int, seed: int = 7) -> list[ClickstreamEvent]:
    return only(ClickstreamEvent, take(ClickstreamGenerator(seed, clock()), n))


# --- determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_same_seed_gives_identical_events(stream: Stream) -> None:
    first = take(GENERATORS[stream](11, clock()), 3000)
    second = take(GENERATORS[stream](11, clock()), 3000)
    assert wire(first) == wire(second)


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_different_seeds_give_different_events(stream: Stream) -> None:
    first = content(take(GENERATORS[stream](11, clock()), 500))
    second = content(take(GENERATORS[stream](12, clock()), 500))
    assert first != second


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_clock_does_not_change_what_happens(stream: Stream) -> None:
    # The run loop uses the real clock: the same seed must still tell the same story, only at other times.
    pinned = content(take(GENERATORS[stream](5, clock()), 2000))
    real = content(take(GENERATORS[stream](5), 2000))
    assert pinned == real


def test_simulation_is_deterministic_and_independent_of_other_streams() -> None:
    def run(streams: tuple[Stream, ...]) -> list[tuple[Stream, bytes, bytes]]:
        simulation = Simulation(streams, seed=3, clock=clock())
        out: list[SimEvent] = []
        for _ in range(1000):
            for stream in streams:
                out.extend(simulation.step(stream))
        return wire(out)

    assert run(ALL_STREAMS) == run(ALL_STREAMS)
    competitor_alone = run((Stream.COMPETITOR,))
    competitor_in_full = [w for w in run(ALL_STREAMS) if w[0] is Stream.COMPETITOR]
    assert content_of_wire(competitor_alone) == content_of_wire(competitor_in_full)


def content_of_wire(items: list[tuple[Stream, bytes, bytes]]) -> list[tuple[Any, ...]]:
    return [(key, msgspec.json.decode(value)["competitor_price"]) for _, key, value in items]


# --- contract ------------------------------------------------------------------------------------


def all_kinds_of_events() -> Iterator[SimEvent]:
    simulation = Simulation(ALL_STREAMS, seed=99, clock=clock())
    for _ in range(6000):
        for stream in ALL_STREAMS:
            yield from simulation.step(stream)
    # Alone, the inventory stream sells fast enough to need deliveries within a few thousand movements.
    yield from take(InventoryGenerator(99, clock()), 30_000)


def test_every_event_round_trips_and_honours_the_contract() -> None:
    seen: Counter[str] = Counter()
    for out_stream, key, event in all_kinds_of_events():
        decoder = cast(msgspec.json.Decoder[Any], DECODERS[type(event)])
        decoded = decoder.decode(ENCODER.encode(event))
        assert decoded == event
        assert contract_violation_of(decoded) is None, event
        assert isinstance(key, bytes)
        expected_stream = {
            ClickstreamEvent: Stream.CLICKSTREAM,
            InventoryEvent: Stream.INVENTORY,
            CompetitorPriceEvent: Stream.COMPETITOR,
        }[type(event)]
        assert out_stream is expected_stream
        if isinstance(event, ClickstreamEvent) and event.product_id is None:
            assert key == str(event.session_id).encode()
        else:
            assert key == str(event.product_id).encode()
        assert event.timestamp.utcoffset() == timedelta(0)
        seen[f"{type(event).__name__}.{getattr(event, 'event_type', '-')}"] += 1
    expected = {
        "ClickstreamEvent.page_view",
        "ClickstreamEvent.product_view",
        "ClickstreamEvent.add_to_cart",
        "ClickstreamEvent.remove_from_cart",
        "ClickstreamEvent.purchase",
        "InventoryEvent.stock_returned",
        "InventoryEvent.stock_damaged",
        "InventoryEvent.manual_adjustment",
        "InventoryEvent.sale",
        "InventoryEvent.stock_received",
        "CompetitorPriceEvent.-",
    }
    assert expected <= set(seen), f"missing: {expected - set(seen)}"


def test_click_events_carry_catalog_product_data_and_page_views_none() -> None:
    for event in clicks(5000):
        if event.event_type == "page_view":
            assert (event.product_id, event.product_name, event.product_category, event.product_price) == (
                None,
                None,
                None,
                None,
            )
            continue
        assert event.product_id is not None
        product = PRODUCTS_BY_ID[event.product_id]
        assert event.product_name == product.name
        assert event.product_category == product.category.value
        assert event.product_price == product.base_price
        assert event.user_id.startswith("U") and len(event.user_id) == 6


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_event_ids_are_unique_time_ordered_uuid7(stream: Stream) -> None:
    events = [e for _, _, e in take(GENERATORS[stream](1, clock()), 3000)]
    ids = [e.event_id for e in events]
    assert len(set(ids)) == len(ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert ids == sorted(ids, key=lambda i: i.int)
    for event in events:
        ms = int((event.timestamp - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
        assert event.event_id.int >> 80 == ms


def test_event_ids_stay_unique_and_increasing_when_time_stands_still_or_goes_back() -> None:
    ids = EventIds(1)
    frozen = [ids.at(START) for _ in range(10_000)]  # more than the 4096 a millisecond's counter holds
    earlier = [ids.at(START - timedelta(seconds=5)) for _ in range(100)]
    values = [i.int for i in frozen + earlier]
    assert values == sorted(values) and len(set(values)) == len(values)


def test_fast_uuid_construction_equals_the_standard_one() -> None:
    rng = random.Random(4)
    for _ in range(1000):
        value = rng.getrandbits(128)
        fast, standard = uuid_from_int(value), uuid.UUID(int=value)
        assert fast == standard and str(fast) == str(standard) and hash(fast) == hash(standard)
        assert pickle.loads(pickle.dumps(fast)) == standard
        assert ENCODER.encode(fast) == ENCODER.encode(standard)


def test_fast_random_uuid4_equals_the_standard_one() -> None:
    fast_rng, standard_rng = random.Random(9), random.Random(9)
    for _ in range(1000):
        assert random_uuid4(fast_rng) == uuid.UUID(int=standard_rng.getrandbits(128), version=4)


def test_weighted_table_follows_weights() -> None:
    table = weighted_table(("a", "b", "c"), (0.6, 0.3, 0.1))
    shares = Counter(table)
    assert len(table) == 1024
    assert abs(shares["a"] / 1024 - 0.6) < 0.002 and abs(shares["c"] / 1024 - 0.1) < 0.002


# --- clickstream realism ---------------------------------------------------------------------------


def sessions_of(events: list[ClickstreamEvent]) -> dict[uuid.UUID, list[ClickstreamEvent]]:
    sessions: dict[uuid.UUID, list[ClickstreamEvent]] = defaultdict(list)
    for event in events:
        sessions[event.session_id].append(event)
    return sessions


def test_funnel_proportions_are_plausible() -> None:
    sessions = sessions_of(clicks(20_000))
    types = [{e.event_type for e in s} for s in sessions.values()]
    total = len(types)
    viewed = sum("product_view" in t for t in types)
    carted = sum("add_to_cart" in t for t in types)
    bought = sum("purchase" in t for t in types)
    assert total > 3000
    assert bought < carted < viewed < total
    assert 0.55 <= viewed / total <= 0.72
    assert 0.22 <= carted / viewed <= 0.38
    assert 0.25 <= bought / carted <= 0.45
    assert 0 < sum("remove_from_cart" in t for t in types) < carted * 0.25


def test_sessions_walk_the_funnel_in_order() -> None:
    for events in sessions_of(clicks(20_000)).values():
        assert len({(e.user_id, e.device_type) for e in events}) == 1
        viewed: set[str | None] = set()
        cart: set[str | None] = set()
        for event in events:
            if event.event_type == "product_view":
                viewed.add(event.product_id)
            elif event.event_type == "add_to_cart":
                assert event.product_id in viewed
                cart.add(event.product_id)
            elif event.event_type == "remove_from_cart":
                assert event.product_id in cart
                cart.discard(event.product_id)
            elif event.event_type == "purchase":
                assert event.product_id in cart


def test_sessions_interleave_and_view_several_products_with_category_affinity() -> None:
    events = clicks(20_000)
    switches = sum(a.session_id != b.session_id for a, b in pairwise(events))
    assert switches > 0.9 * len(events)  # many concurrent sessions, not one session after another
    views_per_session = [
        [e.product_category for e in s if e.event_type == "product_view"]
        for s in sessions_of(events).values()
    ]
    viewing = [v for v in views_per_session if v]
    assert statistics.mean(len(v) for v in viewing) >= 1.8
    multi = [v for v in viewing if len(v) >= 3]
    modal_share = statistics.mean(Counter(v).most_common(1)[0][1] / len(v) for v in multi)
    assert modal_share > 0.75  # five categories picked at random would give ~0.55


def test_device_mix_and_repeat_visitors() -> None:
    sessions = sessions_of(clicks(20_000)).values()
    devices = Counter(s[0].device_type for s in sessions)
    total = sum(devices.values())
    assert abs(devices["mobile"] / total - 0.6) < 0.04
    assert abs(devices["desktop"] / total - 0.3) < 0.04
    assert abs(devices["tablet"] / total - 0.1) < 0.03
    visits = Counter(s[0].user_id for s in sessions)
    assert len(visits) > 500
    assert len(visits) < total  # some users come back
    assert visits.most_common(1)[0][1] >= 10


# --- inventory --------------------------------------------------------------------------------------


def replay(
    events: list[InventoryEvent], generator: InventoryGenerator, start: int = INITIAL_STOCK
) -> dict[tuple[str, str], int]:
    """Stock per slot rebuilt from the movements alone, checking bounds after every one."""
    stock = {(p, w): start for p in PRODUCTS_BY_ID for w in WAREHOUSES}
    for event in events:
        slot = (event.product_id, event.warehouse_id)
        stock[slot] += event.quantity_change
        assert 0 <= stock[slot] <= generator.max_stock, (event, stock[slot])
    return stock


def test_inventory_alone_stays_non_negative_and_bounded_over_a_long_run() -> None:
    generator = InventoryGenerator(21, clock())
    events = only(InventoryEvent, take(generator, 200_000))
    assert replay(events, generator) == generator.stock_levels()
    kinds = Counter(e.event_type for e in events)
    assert set(kinds) == {"sale", "stock_received", "stock_returned", "stock_damaged", "manual_adjustment"}
    assert 0.7 < kinds["sale"] / len(events) < 0.9
    # Deliveries are what keeps 200k movements (~240k units sold) from emptying 45k units of stock.
    received = [e.quantity_change for e in events if e.event_type == "stock_received"]
    assert sum(received) > 150_000
    assert all(q % 10 == 0 for q in received)
    assert min(generator.stock_levels().values()) > 0


@pytest.mark.parametrize("own_sales", [True, False])
def test_inventory_never_goes_negative_when_stock_runs_out(own_sales: bool) -> None:
    # Tiny stock and slow deliveries: every slot hits zero, so every movement's guard is exercised.
    generator = InventoryGenerator(
        6, clock(), own_sales=own_sales, initial_stock=3, lead_time_movements=(3000, 6000)
    )
    events = only(InventoryEvent, take(generator, 20_000))
    assert replay(events, generator, start=3) == generator.stock_levels()
    level = {(p, w): 3 for p in PRODUCTS_BY_ID for w in WAREHOUSES}
    emptied = set()
    for event in events:
        slot = (event.product_id, event.warehouse_id)
        level[slot] += event.quantity_change
        if level[slot] == 0:
            emptied.add(slot)
    assert len(emptied) > 30


def test_inventory_alongside_purchases_stays_non_negative_and_bounded() -> None:
    simulation = Simulation(ALL_STREAMS, seed=8, clock=clock())
    movements: list[InventoryEvent] = []
    for _ in range(60_000):
        for stream in (Stream.CLICKSTREAM, Stream.INVENTORY):
            movements += only(
                InventoryEvent, (o for o in simulation.step(stream) if o[0] is Stream.INVENTORY)
            )
    assert simulation.inventory is not None and not simulation.inventory.own_sales
    assert replay(movements, simulation.inventory) == simulation.inventory.stock_levels()
    assert {e.event_type for e in movements} >= {
        "sale",
        "stock_returned",
        "stock_damaged",
        "manual_adjustment",
    }


def test_inventory_without_own_sales_still_restocks() -> None:
    # Shrinkage and purchase-driven sales drain slowly; a low start shows the reorder cycle turning.
    purchases = ClickstreamGenerator(4, clock())
    generator = InventoryGenerator(4, clock(), own_sales=False, initial_stock=160, target_stock=200)
    movements: list[InventoryEvent] = []
    for _ in range(100_000):
        click = next(purchases)[2]
        if isinstance(click, ClickstreamEvent) and click.event_type == "purchase":
            sale = generator.sale_for(click)
            assert sale is not None
            movements += only(InventoryEvent, [sale])
        movements += only(InventoryEvent, [next(generator)])
    stock = {(p, w): 160 for p in PRODUCTS_BY_ID for w in WAREHOUSES}
    for event in movements:
        stock[(event.product_id, event.warehouse_id)] += event.quantity_change
        assert 0 <= stock[(event.product_id, event.warehouse_id)] <= generator.max_stock
    assert stock == generator.stock_levels()
    assert sum(e.event_type == "stock_received" for e in movements) > 10


def test_sales_follow_purchases_when_streams_run_together() -> None:
    simulation = Simulation(ALL_STREAMS, seed=17, clock=clock())
    purchases = sales = 0
    for _ in range(30_000):
        out = simulation.step(Stream.CLICKSTREAM)
        click = out[0][2]
        assert isinstance(click, ClickstreamEvent)
        if click.event_type == "purchase":
            purchases += 1
            assert len(out) == 2
            stream, key, sale = out[1]
            assert stream is Stream.INVENTORY and isinstance(sale, InventoryEvent)
            assert (sale.event_type, sale.product_id, sale.quantity_change) == ("sale", click.product_id, -1)
            assert key == str(click.product_id).encode()
            assert sale.timestamp >= click.timestamp
            sales += 1
        else:
            assert len(out) == 1
        # The inventory stream's own movements never invent sales next to the clickstream.
        assert all(e.event_type != "sale" for e in only(InventoryEvent, simulation.step(Stream.INVENTORY)))
    assert purchases > 100 and sales == purchases


def test_clickstream_alone_produces_no_sales_and_inventory_alone_sells() -> None:
    clicks_only = Simulation([Stream.CLICKSTREAM], seed=1, clock=clock())
    assert all(len(clicks_only.step(Stream.CLICKSTREAM)) == 1 for _ in range(5000))
    inventory_only = Simulation([Stream.INVENTORY], seed=1, clock=clock())

    def inventory_only_events() -> Iterator[SimEvent]:
        while True:
            yield from inventory_only.step(Stream.INVENTORY)

    kinds = Counter(e.event_type for e in only(InventoryEvent, islice(inventory_only_events(), 1000)))
    assert kinds["sale"] > 500
    with pytest.raises(ValueError, match="not part of this simulation"):
        clicks_only.step(Stream.COMPETITOR)


def purchase_of(product_id: str) -> ClickstreamEvent:
    product = PRODUCTS_BY_ID[product_id]
    return ClickstreamEvent(
        event_id=uuid.UUID(int=1),
        user_id="U00001",
        session_id=uuid.UUID(int=2),
        event_type="purchase",
        product_id=product_id,
        product_name=product.name,
        product_category=product.category.value,  # type: ignore[arg-type]
        product_price=product.base_price,
        device_type="mobile",
        timestamp=START,
    )


def test_sale_for_ships_from_a_warehouse_with_stock_and_backorders_when_sold_out() -> None:
    generator = InventoryGenerator(2, clock(), own_sales=False, initial_stock=1)
    sales = [generator.sale_for(purchase_of("P013")) for _ in range(4)]
    shipped = only(InventoryEvent, [s for s in sales[:3] if s is not None])
    assert sorted(s.warehouse_id for s in shipped) == sorted(WAREHOUSES)
    assert sales[3] is None
    assert all(generator.stock("P013", w) == 0 for w in WAREHOUSES)
    with pytest.raises(ValueError):
        generator.sale_for(msgspec.structs.replace(purchase_of("P013"), event_type="add_to_cart"))


def test_low_stock_triggers_a_delivery_back_to_target() -> None:
    generator = InventoryGenerator(3, clock(), own_sales=False, initial_stock=5, lead_time_movements=(1, 1))
    first = next(generator)[2]
    assert isinstance(first, InventoryEvent) and first.event_type == "stock_received"
    assert first.quantity_change % 10 == 0  # whole cases
    level = generator.stock(first.product_id, first.warehouse_id)
    assert generator.target_stock <= level < generator.target_stock + 10


# --- competitor prices ---------------------------------------------------------------------------


def competitor_events(n: int, seed: int = 5) -> list[CompetitorPriceEvent]:
    return only(CompetitorPriceEvent, take(CompetitorPriceGenerator(seed, clock()), n))


def test_competitor_prices_follow_a_random_walk_not_independent_draws() -> None:
    walks: dict[tuple[str, str], list[float]] = defaultdict(list)
    for event in competitor_events(90_000):
        walks[(event.product_id, event.competitor_name)].append(
            float(event.competitor_price / event.our_price)
        )
    rng = random.Random(0)
    step_ratios = []
    for ratios in walks.values():
        steps = statistics.mean(abs(b - a) for a, b in pairwise(ratios))
        shuffled = ratios[:]
        rng.shuffle(shuffled)
        independent = statistics.mean(abs(b - a) for a, b in pairwise(shuffled))
        step_ratios.append(steps / independent)
    assert len(walks) == 90
    assert statistics.median(step_ratios) < 0.25


def test_competitors_run_promotions_that_end() -> None:
    walks: dict[tuple[str, str], list[bool]] = defaultdict(list)
    events = competitor_events(90_000)
    for event in events:
        walks[(event.product_id, event.competitor_name)].append(
            event.competitor_price < event.our_price * Decimal("0.9")
        )
    undercut_share = sum(map(sum, walks.values())) / len(events)
    assert 0.01 < undercut_share < 0.3
    longest = 0
    for flags in walks.values():
        run = 0
        for flag in flags:
            run = run + 1 if flag else 0
            longest = max(longest, run)
    assert longest <= 200  # promotions last up to 60 observations, then the price reverts


def test_competitors_have_their_own_positioning() -> None:
    generator = CompetitorPriceGenerator(5, clock())
    events = only(CompetitorPriceEvent, take(generator, 60_000))
    by_competitor: dict[str, list[float]] = defaultdict(list)
    for event in events:
        ratio = float(event.competitor_price / event.our_price)
        if ratio > 0.9:  # leave promotions out
            by_competitor[event.competitor_name].append(ratio)
    for name, ratios in by_competitor.items():
        assert abs(statistics.mean(ratios) - (1 + generator.competitor_bias[name])) < 0.02
        assert abs(generator.competitor_bias[name]) <= 0.05


def test_competitor_price_arithmetic_is_exact_to_the_cent() -> None:
    for event in competitor_events(5000):
        assert event.our_price == PRODUCTS_BY_ID[event.product_id].base_price
        assert event.competitor_price.as_tuple().exponent == -2
        assert event.price_difference == event.competitor_price - event.our_price
        expected_pct = (event.price_difference / event.our_price * 100).quantize(CENT, rounding=ROUND_HALF_UP)
        assert event.price_difference_pct == expected_pct


# --- run loop: arguments and producer settings (producing is tested against the real broker in
# tests/integration/test_simulators_run.py) -------------------------------------------------------


def test_producer_config_is_idempotent_batched_and_roomy() -> None:
    config = producer_config(Settings(kafka_bootstrap_servers="127.0.0.1:1"))
    assert config["bootstrap.servers"] == "127.0.0.1:1"
    assert config["enable.idempotence"] in (True, "true")
    assert (config["acks"], config["compression.type"], config["linger.ms"]) == ("all", "lz4", 20)
    assert int(config["queue.buffering.max.messages"]) >= 500_000


def test_producer_config_leaves_idempotence_off_when_the_settings_say_so() -> None:
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1", kafka_producer_idempotence=False)
    assert producer_config(settings)["enable.idempotence"] is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 0.0}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"count": -1}, "count"),
        ({"streams": []}, "no streams"),
    ],
)
def test_run_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    # Checked before any producer exists, so no broker is needed (none listens on port 1).
    options: dict[str, Any] = {"streams": ALL_STREAMS, "rate": None, "count": 10, "seed": 1, **kwargs}
    streams = options.pop("streams")
    with pytest.raises(ValueError, match=message):
        run_simulators(
            streams, settings=Settings(kafka_bootstrap_servers="127.0.0.1:1"), progress=False, **options
        )
