"""Hand-built contract events for tests that need exact control over content and order."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from pricing_platform.core.catalog import PRODUCTS_BY_ID, TOPICS, Stream
from pricing_platform.core.events import ENCODER, ClickstreamEvent, CompetitorPriceEvent, InventoryEvent
from pricing_platform.core.settings import default_settings
from pricing_platform.pricing import experiment_store
from pricing_platform.pricing.experiments import ExperimentParams
from pricing_platform.pricing.rules import PricingRules

EXPERIMENT_USER = "U99999"
CLICK_TOPIC = TOPICS[Stream.CLICKSTREAM].name
INVENTORY_TOPIC = TOPICS[Stream.INVENTORY].name
COMPETITOR_TOPIC = TOPICS[Stream.COMPETITOR].name


def now() -> datetime:
    return datetime.now(UTC)


def click(
    product_id: str | None, event_type: str = "product_view", *, at: datetime | None = None
) -> ClickstreamEvent:
    product = PRODUCTS_BY_ID[product_id] if product_id else None
    return ClickstreamEvent(
        event_id=uuid.uuid4(),
        user_id="U00001",
        session_id=uuid.uuid4(),
        event_type=event_type,  # type: ignore[arg-type]
        product_id=product_id,
        product_name=product.name if product else None,
        product_category=product.category.value if product else None,  # type: ignore[arg-type]
        product_price=product.base_price if product and event_type != "page_view" else None,
        device_type="mobile",
        timestamp=at or now(),
    )


def movement(
    product_id: str, warehouse_id: str, event_type: str, quantity: int, *, at: datetime | None = None
) -> InventoryEvent:
    return InventoryEvent(
        event_id=uuid.uuid4(),
        product_id=product_id,
        warehouse_id=warehouse_id,
        event_type=event_type,  # type: ignore[arg-type]
        quantity_change=quantity,
        timestamp=at or now(),
    )


def price(
    product_id: str,
    competitor: str,
    competitor_price: str | Decimal,
    *,
    at: datetime | None = None,
    ours: Decimal | None = None,
) -> CompetitorPriceEvent:
    """A competitor's observation; `ours`: our price as the scrape saw it (default: the catalog's)."""
    ours = PRODUCTS_BY_ID[product_id].base_price if ours is None else ours
    theirs = Decimal(competitor_price)
    difference = theirs - ours
    return CompetitorPriceEvent(
        event_id=uuid.uuid4(),
        product_id=product_id,
        competitor_name=competitor,
        competitor_price=theirs,
        our_price=ours,
        price_difference=difference,
        price_difference_pct=(difference / ours * 100).quantize(Decimal("0.01")),
        timestamp=at or now(),
    )


def message(
    topic: str, event: ClickstreamEvent | InventoryEvent | CompetitorPriceEvent
) -> tuple[str, bytes, bytes]:
    key = getattr(event, "product_id", None) or str(getattr(event, "session_id", ""))
    return topic, key.encode(), ENCODER.encode(event)


def minutes_ago(n: float) -> datetime:
    return now() - timedelta(minutes=n)


def click_row(
    session: uuid.UUID,
    user: str,
    event_type: str,
    product_id: str | None,
    at: datetime,
    device: str,
    price: Decimal | None = None,
) -> tuple:
    """One clickstream_events row, in the table's column order (for tests that insert rows directly); the
    price shown is the catalog's unless given."""
    product = PRODUCTS_BY_ID[product_id] if product_id else None
    if price is None and product and event_type != "page_view":
        price = product.base_price
    return (
        uuid.uuid4(), user, session, event_type, product_id, product.name if product else None,
        product.category.value if product else None, price, device, at,
    )  # fmt: skip


def insert_click_rows(conn: psycopg.Connection, rows: list[tuple]) -> None:
    conn.cursor().executemany(
        "INSERT INTO clickstream_events (event_id, user_id, session_id, event_type, product_id, "
        "product_name, product_category, product_price, device_type, event_time) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        rows,
    )


def experiment_with_events(
    conn: psycopg.Connection, product_id: str, *, hours_ago: int, seed: int = 1, arm_b_pct: float = 5.0
) -> int:
    """A running 2-day experiment on `product_id` whose first block began about `hours_ago` hours ago, with
    product views and purchases in each complete block at its arm's price (arm B converting a little less),
    all by user EXPERIMENT_USER, whom no simulator draws (so a shared database can be cleaned)."""
    params = ExperimentParams.from_settings(default_settings())
    request = experiment_store.Request(
        f"{product_id} {arm_b_pct:+g} %", "product", product_id, arm_b_pct, 2, 60
    )
    plan = experiment_store.plan(
        conn, PricingRules.defaults(), params, request, datetime.now(UTC) - timedelta(hours=hours_ago), seed
    )
    experiment_id = experiment_store.create(conn, plan, "Ada Analyst")
    (arm,) = plan.arms
    rng = random.Random(seed)
    rows = []
    for block in plan.blocks:
        if block.end > datetime.now(UTC):  # complete blocks only: the one under way stays empty
            break
        price = arm.control_price if block.arm == "A" else arm.test_price
        session = uuid.uuid4()
        for i in range(60):
            at = block.start + timedelta(seconds=30 * i + 5)
            rows.append(click_row(session, EXPERIMENT_USER, "product_view", product_id, at, "mobile", price))
            if rng.random() < (0.06 if block.arm == "A" else 0.05):
                bought = at + timedelta(seconds=2)
                rows.append(
                    click_row(session, EXPERIMENT_USER, "purchase", product_id, bought, "mobile", price)
                )
    insert_click_rows(conn, rows)
    return experiment_id
