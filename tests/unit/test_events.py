"""The event contract: schema errors from msgspec, business rules from `contract_violation`."""

from __future__ import annotations

import json
from decimal import Decimal

import msgspec
import pytest

from pricing_platform.core import catalog
from pricing_platform.core.events import (
    DECODERS,
    ENCODER,
    ClickstreamEvent,
    CompetitorPriceEvent,
    InventoryEvent,
    contract_violation,
)
from tests.support.factories import click, movement, price

RULES = {
    "known_products": frozenset(catalog.PRODUCTS_BY_ID),
    "warehouses": catalog.WAREHOUSES,
    "competitors": catalog.COMPETITORS,
}


def violation(event: ClickstreamEvent | InventoryEvent | CompetitorPriceEvent) -> str | None:
    return contract_violation(event, **RULES)


def reencode(event: object, **changes: object) -> bytes:
    payload = json.loads(ENCODER.encode(event))
    payload.update(changes)
    return json.dumps(payload).encode()


def test_valid_events_round_trip_with_exact_money_and_utc_time() -> None:
    event = price("P001", "TechMart", "799.95")
    decoded = DECODERS[CompetitorPriceEvent].decode(ENCODER.encode(event))
    assert decoded == event
    assert decoded.competitor_price == Decimal("799.95")
    assert b'"competitor_price":799.95' in ENCODER.encode(event), "money is a JSON number on the wire"
    assert violation(decoded) is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"event_type": "checkout"}, r"Invalid enum value 'checkout' - at `\$.event_type`"),
        ({"device_type": "smart_tv"}, r"Invalid enum value 'smart_tv' - at `\$.device_type`"),
        ({"event_id": "not-a-uuid"}, r"Invalid UUID - at `\$.event_id`"),
        ({"timestamp": "2026-11-26T10:00:00"}, r"timezone component - at `\$.timestamp`"),
        ({"product_price": "cheap"}, r"Invalid decimal string - at `\$.product_price`"),
    ],
)
def test_schema_errors_name_the_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        DECODERS[ClickstreamEvent].decode(reencode(click("P001", "purchase"), **changes))


def test_missing_field_is_a_schema_error() -> None:
    payload = json.loads(ENCODER.encode(movement("P001", "WH-PH", "sale", -1)))
    del payload["warehouse_id"]
    with pytest.raises(msgspec.ValidationError, match="warehouse_id"):
        DECODERS[InventoryEvent].decode(json.dumps(payload).encode())


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (click(None, "purchase"), "purchase needs a product_id"),
        (click("P001", "purchase").__replace__(product_id="P999"), "unknown product_id 'P999'"),
        (click("P001", "add_to_cart").__replace__(product_price=None), "add_to_cart needs a product_price"),
        (click("P001", "purchase").__replace__(product_price=Decimal("-1")), "positive amount"),
        (movement("P001", "WH-KANO", "sale", -1), "unknown warehouse_id 'WH-KANO'"),
        (movement("P001", "WH-PH", "sale", 3), "sale needs a negative quantity_change"),
        (movement("P001", "WH-PH", "stock_received", -3), "stock_received needs a positive"),
        (movement("P001", "WH-PH", "manual_adjustment", 0), "non-zero"),
        (price("P001", "MegaStore", "800.00"), "unknown competitor_name 'MegaStore'"),
        (price("P001", "TechMart", "800.00").__replace__(price_difference=Decimal("5")), "price_difference"),
        (
            price("P001", "TechMart", "800.00").__replace__(price_difference_pct=Decimal("-1")),
            "price_difference_pct",
        ),
    ],
)
def test_business_rules_explain_themselves(event: object, reason: str) -> None:
    assert reason in (violation(event) or "")  # type: ignore[arg-type]


def test_page_view_without_product_is_valid() -> None:
    assert violation(click(None, "page_view")) is None
    assert violation(click("P001", "page_view")) is None
