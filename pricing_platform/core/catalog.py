"""The shop's catalog and the stream layout: the single source of truth for products, categories,
warehouses, competitors, Kafka topics and consumer groups.

Unit cost: no supplier cost exists in the seed data, so each product's cost is its base price times the
typical cost-of-goods ratio for its category in consumer-electronics retail (flagship hardware runs thin
gross margins, accessories fat ones): phones and tablets 80 %, laptops 85 %, headphones 65 %,
accessories 50 %. The margin guardrail of the pricing engine reads this column, so replacing it with real
supplier costs later changes the guardrail and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final


class Category(StrEnum):
    PHONES = "phones"
    LAPTOPS = "laptops"
    HEADPHONES = "headphones"
    TABLETS = "tablets"
    ACCESSORIES = "accessories"


CATEGORY_NAMES: Final = tuple(c.value for c in Category)

COST_RATIO: Final[dict[Category, Decimal]] = {
    Category.PHONES: Decimal("0.80"),
    Category.LAPTOPS: Decimal("0.85"),
    Category.HEADPHONES: Decimal("0.65"),
    Category.TABLETS: Decimal("0.80"),
    Category.ACCESSORIES: Decimal("0.50"),
}

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    name: str
    category: Category
    base_price: Decimal

    @property
    def unit_cost(self) -> Decimal:
        return (self.base_price * COST_RATIO[self.category]).quantize(CENT, rounding=ROUND_HALF_UP)


def _p(product_id: str, name: str, category: Category, price: str) -> Product:
    return Product(product_id, name, category, Decimal(price))


PRODUCTS: Final[tuple[Product, ...]] = (
    _p("P001", "Samsung Galaxy S24", Category.PHONES, "899.99"),
    _p("P002", "iPhone 15 Pro", Category.PHONES, "1199.99"),
    _p("P003", "Google Pixel 8", Category.PHONES, "699.99"),
    _p("P004", "OnePlus 12", Category.PHONES, "799.99"),
    _p("P005", "Xiaomi 14 Pro", Category.PHONES, "649.99"),
    _p("P006", "Motorola Edge 40", Category.PHONES, "349.99"),
    _p("P007", "MacBook Pro 16-inch", Category.LAPTOPS, "1999.99"),
    _p("P008", "Dell XPS 15", Category.LAPTOPS, "1799.99"),
    _p("P009", "Lenovo ThinkPad X1 Carbon", Category.LAPTOPS, "1599.99"),
    _p("P010", "ASUS ROG Zephyrus G14", Category.LAPTOPS, "1399.99"),
    _p("P011", "HP Spectre x360", Category.LAPTOPS, "1299.99"),
    _p("P012", "Acer Swift 3", Category.LAPTOPS, "649.99"),
    _p("P013", "Sony WH-1000XM5", Category.HEADPHONES, "349.99"),
    _p("P014", "Apple AirPods Pro 2", Category.HEADPHONES, "249.99"),
    _p("P015", "Bose QuietComfort 45", Category.HEADPHONES, "329.99"),
    _p("P016", "Sennheiser Momentum 4", Category.HEADPHONES, "299.99"),
    _p("P017", "Jabra Evolve2 85", Category.HEADPHONES, "379.99"),
    _p("P018", "Anker Soundcore Q45", Category.HEADPHONES, "59.99"),
    _p("P019", "iPad Pro 12.9-inch", Category.TABLETS, "1099.99"),
    _p("P020", "Samsung Galaxy Tab S9", Category.TABLETS, "799.99"),
    _p("P021", "Microsoft Surface Pro 9", Category.TABLETS, "1299.99"),
    _p("P022", "Amazon Fire HD 10", Category.TABLETS, "149.99"),
    _p("P023", "Lenovo Tab P12 Pro", Category.TABLETS, "549.99"),
    _p("P024", "Xiaomi Pad 6 Pro", Category.TABLETS, "399.99"),
    _p("P025", "Anker USB-C Hub 7-in-1", Category.ACCESSORIES, "49.99"),
    _p("P026", "Samsung 65W USB-C Charger", Category.ACCESSORIES, "39.99"),
    _p("P027", "Apple MagSafe Charger", Category.ACCESSORIES, "39.99"),
    _p("P028", "Logitech MX Master 3S", Category.ACCESSORIES, "99.99"),
    _p("P029", "SanDisk 1TB Portable SSD", Category.ACCESSORIES, "129.99"),
    _p("P030", "Belkin 3-in-1 Wireless Charger", Category.ACCESSORIES, "79.99"),
)
PRODUCTS_BY_ID: Final[dict[str, Product]] = {p.product_id: p for p in PRODUCTS}

WAREHOUSES: Final[tuple[str, ...]] = ("WH-LAGOS", "WH-ABUJA", "WH-PH")
COMPETITORS: Final[tuple[str, ...]] = ("TechMart", "GadgetZone", "ElectroHub")

# The funnel's bucket for sessions that never reached a product (page views only): the dbt mart and the
# funnel analysis both use it.
UNATTRIBUTED_CATEGORY: Final = "unattributed"

# Stock each product × warehouse slot starts with when the database is first migrated.
INITIAL_STOCK: Final[int] = 500


class Stream(StrEnum):
    CLICKSTREAM = "clickstream"
    INVENTORY = "inventory"
    COMPETITOR = "competitor"


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    partitions: int
    retention_ms: int


SEVEN_DAYS_MS: Final[int] = 7 * 24 * 3600 * 1000

TOPICS: Final[dict[Stream, Topic]] = {
    Stream.CLICKSTREAM: Topic("raw.clickstream", 6, SEVEN_DAYS_MS),
    Stream.INVENTORY: Topic("raw.inventory_updates", 3, SEVEN_DAYS_MS),
    Stream.COMPETITOR: Topic("raw.competitor_prices", 3, SEVEN_DAYS_MS),
}


# The outbound price feed: every applied price change, keyed by product id (plus periodic snapshots).
PRICE_CHANGES_TOPIC: Final[Topic] = Topic("pricing.price_changes", 3, SEVEN_DAYS_MS)


class StreamOutput(StrEnum):
    """What the stream processor (pricing_platform/streaming) derives from the clickstream and the
    competitor prices; each is a topic of its own, landed in PostgreSQL by an ingest worker like the raw
    streams (undercuts by the repricer, which also reprices their products)."""

    SESSIONS = "sessions"
    CART_ABANDONMENTS = "cart_abandonments"
    FUNNEL_MINUTES = "funnel_minutes"
    UNDERCUTS = "undercuts"


# What the ingest workers land (`ingest …`); the undercuts are landed by the repricer, which prices them.
INGESTED_OUTPUTS: Final[tuple[StreamOutput, ...]] = tuple(
    o for o in StreamOutput if o is not StreamOutput.UNDERCUTS
)

ONE_DAY_MS: Final[int] = 24 * 3600 * 1000

STREAM_OUTPUT_TOPICS: Final[dict[StreamOutput, Topic]] = {
    StreamOutput.SESSIONS: Topic("stream.sessions", 6, SEVEN_DAYS_MS),
    StreamOutput.CART_ABANDONMENTS: Topic("stream.cart_abandonments", 3, SEVEN_DAYS_MS),
    StreamOutput.FUNNEL_MINUTES: Topic("stream.funnel_minutes", 3, SEVEN_DAYS_MS),
    StreamOutput.UNDERCUTS: Topic("stream.undercuts", 3, SEVEN_DAYS_MS),
}
# The clickstream re-keyed by session id (it arrives keyed by product): sessions are windowed per key. Only
# the processor reads it, and only until its windows close, so a day of retention is plenty.
CLICKS_BY_SESSION_TOPIC: Final[Topic] = Topic("stream.clicks_by_session", 6, ONE_DAY_MS)
ALL_TOPICS: Final[tuple[Topic, ...]] = (
    *TOPICS.values(),
    PRICE_CHANGES_TOPIC,
    *STREAM_OUTPUT_TOPICS.values(),
    CLICKS_BY_SESSION_TOPIC,
)
LANDED_TOPICS: Final[dict[Stream | StreamOutput, Topic]] = {**TOPICS, **STREAM_OUTPUT_TOPICS}


def consumer_group(stream: Stream | StreamOutput, prefix: str) -> str:
    """One consumer group per stream: workers of the same stream share its partitions."""
    return f"{prefix}-{stream.value}"
