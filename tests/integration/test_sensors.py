"""The alerting sensors against crafted rows in the real per-test database, announcing to a real HTTP
webhook on 127.0.0.1: what opens an alert, deduplication, clearing, a webhook that is down, and what makes
alerts trustworthy: hysteresis, price moves re-notified only when they move further, the first run's one
summary, the daily cap and the low-severity digest."""

# No `from __future__ import annotations`: the quality test defines Dagster assets and checks, whose
# type hints Dagster resolves at decoration time.

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg.rows import dict_row

from pricing_platform.core.catalog import PRODUCTS_BY_ID
from pricing_platform.core.settings import Settings
from pricing_platform.resources import build_resources
from pricing_platform.sensors.alerts import (
    competitor_price_move_sensor,
    competitor_undercut_sensor,
    quality_sensor,
    stock_out_sensor,
)
from tests.support.factories import price as competitor_price
from tests.support.servers import free_port
from tests.support.undercuts import UndercutDetector

pytestmark = pytest.mark.integration


class Webhook:
    """A real Slack-compatible endpoint on 127.0.0.1 that records every JSON body posted to it and answers
    with `status` (Slack answers 200 "ok")."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/services/T000/B000/XXXX"
        self.port = port
        self.status = 200
        self.posts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "Webhook":
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                assert self.headers["Content-Type"] == "application/json"
                status = hook.status
                if status == 200:
                    with hook._lock:
                        hook.posts.append(body)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"invalid_payload")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=10)
            self._server = None

    def texts(self) -> list[str]:
        with self._lock:
            return [post["text"] for post in self.posts]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(free_port()).start()
    yield hook
    hook.stop()


@pytest.fixture
def idle_webhook() -> Iterator[Webhook]:
    """A webhook address nobody listens on yet: the test starts it when the outage is over."""
    hook = Webhook(free_port())
    yield hook
    hook.stop()


def resources_for(settings: Settings, webhook_url: str | None, **alert_settings: object) -> dict[str, object]:
    return build_resources(settings.model_copy(update={"alert_webhook_url": webhook_url, **alert_settings}))


# The tests of what opens, refreshes and clears an alert take clearing at the first miss; hysteresis has
# its own test below.
AT_FIRST_MISS = {"alert_clear_after_evaluations": 1}


def evaluate(sensor: dg.SensorDefinition, resources: dict[str, object], **context: Any) -> str:
    # A context manager: the lake resource nests the S3Resource, which Dagster opens and closes.
    with dg.build_sensor_context(resources=resources, **context) as sensor_context:
        result = sensor(sensor_context)
    assert isinstance(result, dg.SkipReason), "alerting sensors launch no runs"
    assert result.skip_message is not None
    return result.skip_message


def past_first_run(sensor: dg.SensorDefinition, resources: dict[str, object], **context: Any) -> None:
    """Evaluate once while nothing holds: what opens afterwards is announced alert by alert (the first run
    announces what already holds as one summary; its own test below)."""
    assert "opened 0" in evaluate(sensor, resources, **context)


def execute(settings: Settings, query: str, params: tuple | list = ()) -> None:
    with psycopg.connect(settings.database_conninfo, autocommit=True) as conn:
        conn.execute(query, params)


def stored_alerts(settings: Settings, kind: str) -> list[dict[str, Any]]:
    with psycopg.connect(settings.database_conninfo) as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM alerts WHERE kind = %s ORDER BY alert_id", (kind,)).fetchall()


def by_key(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The open alert of each condition."""
    return {a["condition_key"]: a for a in alerts if a["cleared_at"] is None}


def set_stock(settings: Settings, product_id: str, warehouse_id: str, stock: int) -> None:
    execute(
        settings,
        "UPDATE inventory_state SET current_stock = %s, updated_at = now() "
        "WHERE product_id = %s AND warehouse_id = %s",
        (stock, product_id, warehouse_id),
    )


def record_sale(
    settings: Settings,
    product_id: str,
    warehouse_id: str,
    units: int,
    at: datetime,
    *,
    rejected: bool = False,
) -> None:
    execute(
        settings,
        "INSERT INTO inventory_events (event_id, product_id, warehouse_id, event_type, quantity_change, "
        "event_time, status, stock_after, reject_reason) VALUES (%s, %s, %s, 'sale', %s, %s, %s, 0, %s)",
        (
            uuid.uuid4(),
            product_id,
            warehouse_id,
            -units,
            at,
            "rejected" if rejected else "applied",
            "insufficient stock" if rejected else None,
        ),
    )


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def current_price(settings: Settings, product_id: str) -> Decimal:
    with psycopg.connect(settings.database_conninfo) as conn:
        row = conn.execute(
            "SELECT current_price FROM products WHERE product_id = %s", (product_id,)
        ).fetchone()
    assert row is not None
    return row[0]


def observe_competitor(
    settings: Settings, product_id: str, competitor: str, price: Decimal, at: datetime
) -> None:
    # our_price is deliberately the competitor's own price (a 0 % gap at observation time): the sensor
    # must compare with products.current_price, not with this column.
    execute(
        settings,
        """
        INSERT INTO competitor_prices_latest (product_id, competitor_name, event_id, competitor_price,
                                              our_price, price_difference, price_difference_pct, event_time)
        VALUES (%s, %s, %s, %s, %s, 0, 0, %s)
        ON CONFLICT (product_id, competitor_name) DO UPDATE
        SET competitor_price = EXCLUDED.competitor_price, event_time = EXCLUDED.event_time
        """,
        (product_id, competitor, uuid.uuid4(), price, price, at),
    )


class UndercutStream:
    """Competitor observations through the stream processor's detection: each is judged against our
    current price (the scrape's our_price) and a transition lands in competitor_undercuts."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.detector = UndercutDetector(settings)

    def observe(self, product_id: str, competitor: str, price: Decimal, at: datetime) -> str | None:
        observe_competitor(self.settings, product_id, competitor, price, at)
        ours = current_price(self.settings, product_id)
        event = competitor_price(product_id, competitor, price, at=at, ours=ours)
        with psycopg.connect(self.settings.database_conninfo, autocommit=True) as conn:
            return self.detector.feed(conn, event)


def record_purchases(settings: Settings, product_id: str, count: int, at: datetime) -> None:
    for _ in range(count):
        execute(
            settings,
            "INSERT INTO clickstream_events (event_id, user_id, session_id, event_type, product_id, "
            "device_type, event_time) VALUES (%s, 'U00001', %s, 'purchase', %s, 'mobile', %s)",
            (uuid.uuid4(), uuid.uuid4(), product_id, at),
        )


# --- stock --------------------------------------------------------------------------------------------


def test_stock_out_and_low_stock_alerts_dedup_escalate_and_clear(
    settings: Settings, webhook: Webhook
) -> None:
    resources = resources_for(settings, webhook.url, **AT_FIRST_MISS)
    past_first_run(stock_out_sensor, resources)
    set_stock(settings, "P001", "WH-LAGOS", 0)
    # P002 at WH-ABUJA: 30 left, 60 sold over the last 6 h = 10/h, so 3 h left (within the 24 h horizon).
    set_stock(settings, "P002", "WH-ABUJA", 30)
    for i in range(12):
        record_sale(settings, "P002", "WH-ABUJA", 5, ago(minutes=10 + 25 * i))
    # Not counted: a sale before the window, a rejected one, and one from another warehouse (whose 500 in
    # stock last 60 h at that rate).
    record_sale(settings, "P002", "WH-ABUJA", 500, ago(hours=7))
    record_sale(settings, "P002", "WH-ABUJA", 500, ago(minutes=20), rejected=True)
    record_sale(settings, "P002", "WH-PH", 50, ago(minutes=20))
    # P003 at WH-PH sells as fast but has 500 left: 50 h, beyond the horizon.
    for i in range(12):
        record_sale(settings, "P003", "WH-PH", 5, ago(minutes=10 + 25 * i))

    summary = evaluate(stock_out_sensor, resources)

    alerts = stored_alerts(settings, "stock")
    assert [a["condition_key"] for a in alerts] == ["stock:P001:WH-LAGOS", "stock:P002:WH-ABUJA"]
    out, low = alerts
    assert out["severity"] == "critical" and out["title"].startswith("Stock out: P001")
    assert out["context"]["stock"] == 0 and out["context"]["warehouse_id"] == "WH-LAGOS"
    assert low["severity"] == "warning" and low["title"].startswith("Low stock: P002")
    assert low["context"]["stock"] == 30
    assert low["context"]["units_per_h"] == 10.0
    assert low["context"]["hours_left"] == 3.0
    assert all(a["notified_at"] is not None and a["cleared_at"] is None for a in alerts)
    assert summary.startswith("2 open stock alert(s) (1 critical, 1 warning); opened 2, cleared 0")
    assert len(webhook.posts) == 2
    critical, warning = webhook.posts  # most severe first
    assert "CRITICAL" in critical["text"] and "Stock out: P001" in critical["text"]
    assert "WARNING" in warning["text"] and "Low stock: P002" in warning["text"]
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in warning["blocks"][1]["fields"]}
    assert fields["*hours_left*"] == "3" and fields["*units_per_h*"] == "10"

    # Dedup: the conditions still hold, so nothing new is stored or posted; the open rows are refreshed.
    time.sleep(0.05)
    summary = evaluate(stock_out_sensor, resources)
    again = stored_alerts(settings, "stock")
    assert [a["alert_id"] for a in again] == [a["alert_id"] for a in alerts]
    assert all(new["last_seen_at"] > old["last_seen_at"] for new, old in zip(again, alerts, strict=True))
    assert len(webhook.posts) == 2
    assert "opened 0, cleared 0" in summary

    # Restocked: the stock-out clears and "resolved" is posted; the low stock is unaffected.
    set_stock(settings, "P001", "WH-LAGOS", 200)
    summary = evaluate(stock_out_sensor, resources)
    cleared = stored_alerts(settings, "stock")[0]
    assert cleared["alert_id"] == out["alert_id"] and cleared["cleared_at"] is not None
    assert list(by_key(stored_alerts(settings, "stock"))) == ["stock:P002:WH-ABUJA"]
    assert len(webhook.posts) == 3
    assert "RESOLVED" in webhook.posts[2]["text"] and "P001" in webhook.posts[2]["text"]
    assert summary.startswith("1 open stock alert(s) (1 warning); opened 0, cleared 1")

    # Low stock that runs out: the same alert, escalated to critical and announced again.
    set_stock(settings, "P002", "WH-ABUJA", 0)
    evaluate(stock_out_sensor, resources)
    escalated = by_key(stored_alerts(settings, "stock"))["stock:P002:WH-ABUJA"]
    assert escalated["alert_id"] == low["alert_id"]
    assert escalated["severity"] == "critical" and escalated["title"].startswith("Stock out: P002")
    assert escalated["notified_at"] is not None
    assert len(webhook.posts) == 4 and "CRITICAL" in webhook.posts[3]["text"]

    # A cleared condition that comes back is a new alert.
    set_stock(settings, "P001", "WH-LAGOS", 0)
    evaluate(stock_out_sensor, resources)
    reopened = by_key(stored_alerts(settings, "stock"))["stock:P001:WH-LAGOS"]
    assert reopened["alert_id"] != out["alert_id"]
    assert len(stored_alerts(settings, "stock")) == 3
    assert len(webhook.posts) == 5


def test_webhook_down_keeps_alert_and_announces_it_later(settings: Settings, idle_webhook: Webhook) -> None:
    resources = resources_for(settings, idle_webhook.url)
    past_first_run(stock_out_sensor, resources)
    set_stock(settings, "P010", "WH-PH", 0)

    started = time.monotonic()
    summary = evaluate(stock_out_sensor, resources)
    assert time.monotonic() - started < 5, "a refused connection must not stall the sensor"
    [alert] = stored_alerts(settings, "stock")
    assert alert["condition_key"] == "stock:P010:WH-PH" and alert["notified_at"] is None
    assert "1 webhook post(s) failed" in summary

    # Up, but refusing the message: still pending.
    idle_webhook.status = 500
    idle_webhook.start()
    evaluate(stock_out_sensor, resources)
    [alert] = stored_alerts(settings, "stock")
    assert alert["notified_at"] is None and idle_webhook.posts == []

    # Healthy again: the open alert is announced once, without opening a new one.
    idle_webhook.status = 200
    summary = evaluate(stock_out_sensor, resources)
    [alert] = stored_alerts(settings, "stock")
    assert alert["notified_at"] is not None
    assert len(idle_webhook.posts) == 1 and "Stock out: P010" in idle_webhook.posts[0]["text"]
    assert "failed" not in summary
    evaluate(stock_out_sensor, resources)
    assert len(idle_webhook.posts) == 1


def test_resolution_is_retried_when_its_post_fails(settings: Settings, webhook: Webhook) -> None:
    resources = resources_for(settings, webhook.url, **AT_FIRST_MISS)
    past_first_run(stock_out_sensor, resources)
    set_stock(settings, "P011", "WH-LAGOS", 0)
    evaluate(stock_out_sensor, resources)
    assert len(webhook.posts) == 1

    set_stock(settings, "P011", "WH-LAGOS", 100)
    webhook.status = 503
    evaluate(stock_out_sensor, resources)
    [alert] = stored_alerts(settings, "stock")
    assert alert["cleared_at"] is not None and alert["notified_at"] < alert["cleared_at"]

    webhook.status = 200
    evaluate(stock_out_sensor, resources)
    assert len(webhook.posts) == 2 and "RESOLVED" in webhook.posts[1]["text"]
    evaluate(stock_out_sensor, resources)
    assert len(webhook.posts) == 2


def test_without_webhook_alerts_are_stored_only(settings: Settings) -> None:
    resources = resources_for(settings, None)
    set_stock(settings, "P012", "WH-ABUJA", 0)
    summary = evaluate(stock_out_sensor, resources)
    [alert] = stored_alerts(settings, "stock")
    assert alert["severity"] == "critical" and alert["notified_at"] is None
    assert summary.startswith("1 open stock alert(s) (1 critical)")


# --- competitor undercut ---------------------------------------------------------------------------------


def test_undercut_alerts_only_on_weak_demand_and_fresh_prices(settings: Settings, webhook: Webhook) -> None:
    resources = resources_for(settings, webhook.url, **AT_FIRST_MISS)
    past_first_run(competitor_undercut_sensor, resources)
    stream = UndercutStream(settings)
    p3, p4, p5 = (current_price(settings, p) for p in ("P003", "P004", "P005"))
    cents = Decimal("0.01")
    # P003: no purchases. TechMart 20 % below → alert; GadgetZone 5 % below → not an undercut;
    # ElectroHub 50 % below but observed 7 h ago (staleness limit 6 h) → ignored.
    assert (
        stream.observe("P003", "TechMart", (p3 * Decimal("0.80")).quantize(cents), ago(minutes=5)) == "opened"
    )
    assert (
        stream.observe("P003", "GadgetZone", (p3 * Decimal("0.95")).quantize(cents), ago(minutes=5)) is None
    )
    stream.observe("P003", "ElectroHub", (p3 * Decimal("0.50")).quantize(cents), ago(hours=7))
    # P004: undercut, but 3 purchases in the last hour (>= 2): strong demand → no alert.
    stream.observe("P004", "TechMart", (p4 * Decimal("0.80")).quantize(cents), ago(minutes=5))
    record_purchases(settings, "P004", 3, ago(minutes=30))
    # P005: undercut; 1 purchase in the last hour (the 5 two hours ago do not count) → weak → alert.
    stream.observe("P005", "TechMart", (p5 * Decimal("0.80")).quantize(cents), ago(minutes=5))
    record_purchases(settings, "P005", 1, ago(minutes=30))
    record_purchases(settings, "P005", 5, ago(hours=2))

    summary = evaluate(competitor_undercut_sensor, resources)

    alerts = by_key(stored_alerts(settings, "competitor_undercut"))
    assert sorted(alerts) == ["competitor_undercut:P003:TechMart", "competitor_undercut:P005:TechMart"]
    p3_alert = alerts["competitor_undercut:P003:TechMart"]
    assert p3_alert["severity"] == "warning"
    assert p3_alert["context"]["our_price"] == float(p3)
    assert p3_alert["context"]["competitor_price"] == float((p3 * Decimal("0.80")).quantize(cents))
    assert p3_alert["context"]["gap_pct"] == pytest.approx(20.0, abs=0.05)
    assert p3_alert["context"]["purchases_last_hour"] == 0
    assert alerts["competitor_undercut:P005:TechMart"]["context"]["purchases_last_hour"] == 1
    assert summary.startswith("2 open competitor undercut alert(s) (2 warning)")
    assert len(webhook.posts) == 2 and all("undercuts" in text for text in webhook.texts())

    # Demand picks up on P003: no longer an alert condition, cleared and resolved.
    record_purchases(settings, "P003", 2, ago(minutes=1))
    evaluate(competitor_undercut_sensor, resources)
    assert sorted(by_key(stored_alerts(settings, "competitor_undercut"))) == [
        "competitor_undercut:P005:TechMart"
    ]
    assert (
        len(webhook.posts) == 3
        and "RESOLVED" in webhook.posts[2]["text"]
        and "P003" in webhook.posts[2]["text"]
    )

    # We lower P005 to within 5 % of TechMart: the next scrape sees our new price and clears the undercut.
    their = (p5 * Decimal("0.80")).quantize(cents)
    execute(
        settings,
        "UPDATE products SET current_price = round(%s * 1.05, 2) WHERE product_id = 'P005'",
        (their,),
    )
    assert stream.observe("P005", "TechMart", their, ago(seconds=1)) == "cleared"
    summary = evaluate(competitor_undercut_sensor, resources)
    assert by_key(stored_alerts(settings, "competitor_undercut")) == {}
    assert len(webhook.posts) == 4 and "P005" in webhook.posts[3]["text"]
    assert summary.startswith("0 open competitor undercut alert(s); opened 0, cleared 1")


# --- hysteresis -----------------------------------------------------------------------------------------


def test_undercut_alert_holds_between_thresholds_and_clears_once_the_gap_narrows(
    settings: Settings, webhook: Webhook
) -> None:
    # The undercut opens above 10 % and holds above 7 % (UNDERCUT_*, judged by the stream processor); the
    # alert then clears after 3 evaluations without it (ALERT_CLEAR_AFTER_EVALUATIONS).
    resources = resources_for(settings, webhook.url)
    past_first_run(competitor_undercut_sensor, resources)
    stream = UndercutStream(settings)
    ours = current_price(settings, "P003")
    cents = Decimal("0.01")
    key = "competitor_undercut:P003:TechMart"

    def competitor_gap(pct: int) -> str:
        stream.observe("P003", "TechMart", (ours * (100 - pct) / 100).quantize(cents), ago(seconds=1))
        return evaluate(competitor_undercut_sensor, resources)

    competitor_gap(12)
    [opened] = stored_alerts(settings, "competitor_undercut")
    assert opened["cleared_at"] is None and len(webhook.posts) == 1

    # Hovering around the open threshold (the flapping seen live): the undercut stays open, the alert
    # holds and is refreshed, nothing more is posted.
    for pct in (9, 11, 8, 9):
        competitor_gap(pct)
        [alert] = stored_alerts(settings, "competitor_undercut")
        assert alert["cleared_at"] is None and alert["missed_evaluations"] == 0
        assert alert["context"]["gap_pct"] == pytest.approx(pct, abs=0.05)
    assert len(webhook.posts) == 1

    # Below the clear threshold: the undercut clears; the alert after three evaluations without it.
    for missed in (1, 2):
        summary = competitor_gap(5 - missed)
        [alert] = stored_alerts(settings, "competitor_undercut")
        assert alert["cleared_at"] is None and alert["missed_evaluations"] == missed
        assert "1 no longer seen, clearing" in summary
    summary = competitor_gap(3)
    [alert] = stored_alerts(settings, "competitor_undercut")
    assert alert["alert_id"] == opened["alert_id"] and alert["cleared_at"] is not None
    assert "cleared 1" in summary
    assert len(webhook.posts) == 2 and "RESOLVED" in webhook.posts[1]["text"]

    # Only a gap above the open threshold opens again (a new alert).
    competitor_gap(9)
    assert by_key(stored_alerts(settings, "competitor_undercut")) == {}
    competitor_gap(11)
    assert by_key(stored_alerts(settings, "competitor_undercut"))[key]["alert_id"] != opened["alert_id"]
    assert len(webhook.posts) == 3


def test_stock_alert_clears_after_n_evaluations_without_the_condition(settings: Settings) -> None:
    resources = resources_for(settings, None, alert_clear_after_evaluations=2)
    set_stock(settings, "P013", "WH-PH", 0)
    evaluate(stock_out_sensor, resources)
    set_stock(settings, "P013", "WH-PH", 500)
    evaluate(stock_out_sensor, resources)
    [alert] = stored_alerts(settings, "stock")
    assert alert["cleared_at"] is None and alert["missed_evaluations"] == 1
    evaluate(stock_out_sensor, resources)
    [alert] = stored_alerts(settings, "stock")
    assert alert["cleared_at"] is not None


# --- competitor price moves --------------------------------------------------------------------------------


def observe_price(settings: Settings, product_id: str, competitor: str, price: Decimal, at: datetime) -> None:
    """An observation as ingest stores it: in the raw history, and as the newest price of the pair."""
    execute(
        settings,
        "INSERT INTO competitor_prices (event_id, product_id, competitor_name, competitor_price, our_price, "
        "price_difference, price_difference_pct, event_time) VALUES (%s, %s, %s, %s, %s, 0, 0, %s)",
        (uuid.uuid4(), product_id, competitor, price, price, at),
    )
    observe_competitor(settings, product_id, competitor, price, at)


def test_price_move_alert_follows_its_direction_and_renotifies_only_on_a_further_move(
    settings: Settings, webhook: Webhook
) -> None:
    resources = resources_for(
        settings,
        webhook.url,
        alert_price_move_direction="down",
        alert_price_move_min_pct=5.0,
        alert_price_move_severity="warning",
    )
    sensor = competitor_price_move_sensor
    # Yesterday's prices (before the 24 h window), then today's.
    observe_price(settings, "P003", "GadgetZone", Decimal("200.00"), ago(hours=30))
    observe_price(settings, "P003", "TechMart", Decimal("100.00"), ago(hours=30))
    observe_price(settings, "P004", "TechMart", Decimal("100.00"), ago(hours=30))
    past_first_run(sensor, resources)

    observe_price(settings, "P003", "GadgetZone", Decimal("188.00"), ago(minutes=5))  # -6 %: an alert
    observe_price(settings, "P003", "TechMart", Decimal("97.00"), ago(minutes=5))  # -3 %: too small
    observe_price(settings, "P004", "TechMart", Decimal("110.00"), ago(minutes=5))  # +10 %: not watched
    # Moved 20 % down, but observed 7 h ago: stale (the pricing engine's 6 h), ignored.
    observe_price(settings, "P005", "TechMart", Decimal("100.00"), ago(hours=40))
    observe_price(settings, "P005", "TechMart", Decimal("80.00"), ago(hours=7))
    evaluate(sensor, resources)

    [alert] = stored_alerts(settings, "competitor_price_move")
    assert alert["condition_key"] == "competitor_price_move:P003:GadgetZone"
    assert alert["severity"] == "warning"
    assert alert["context"]["price_before"] == 200.0 and alert["context"]["competitor_price"] == 188.0
    assert alert["context"]["change_pct"] == -6.0
    assert len(webhook.posts) == 1
    assert "GadgetZone moved its price of P003" in webhook.texts()[0]

    # The same price observed again, and a move of less than the minimum further: no notification.
    for price in ("188.00", "188.00", "180.00"):
        observe_price(settings, "P003", "GadgetZone", Decimal(price), ago(seconds=1))
        evaluate(sensor, resources)
    assert len(webhook.posts) == 1

    # 5 % below the announced 188: the same open alert, announced again with the new price.
    observe_price(settings, "P003", "GadgetZone", Decimal("178.60"), ago(seconds=1))
    evaluate(sensor, resources)
    [again] = stored_alerts(settings, "competitor_price_move")
    assert again["alert_id"] == alert["alert_id"] and again["cleared_at"] is None
    assert again["context"]["competitor_price"] == 178.6
    assert len(webhook.posts) == 2
    fields = {
        f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in webhook.posts[1]["blocks"][1]["fields"]
    }
    assert fields["*competitor_price*"] == "178.6" and fields["*change_pct*"] == "-10.7"
    # Measured from 178.60 now: 172 is 3.7 % further, not news.
    observe_price(settings, "P003", "GadgetZone", Decimal("172.00"), ago(seconds=1))
    evaluate(sensor, resources)
    assert len(webhook.posts) == 2


# --- first run, daily cap, digest ------------------------------------------------------------------------


def notifications(settings: Settings, kind: str) -> list[tuple[str, list[int]]]:
    with psycopg.connect(settings.database_conninfo) as conn:
        rows = conn.execute(
            "SELECT message, alert_ids FROM alert_notifications WHERE kind = %s ORDER BY notification_id",
            (kind,),
        ).fetchall()
    return [(message, list(ids)) for message, ids in rows]


def test_first_run_opens_what_already_holds_and_sends_one_summary(
    settings: Settings, webhook: Webhook
) -> None:
    resources = resources_for(settings, webhook.url)
    for product in ("P020", "P021", "P022"):
        set_stock(settings, product, "WH-LAGOS", 0)
    set_stock(settings, "P023", "WH-ABUJA", 10)
    for i in range(6):
        record_sale(settings, "P023", "WH-ABUJA", 10, ago(minutes=10 + 30 * i))  # 10/h: 1 h left

    # The webhook is down for the first run: the summary waits, nothing is lost.
    webhook.status = 503
    summary = evaluate(stock_out_sensor, resources)
    assert "opened 4" in summary and "first run: one summary for all" in summary
    assert len(stored_alerts(settings, "stock")) == 4 and webhook.posts == []

    webhook.status = 200
    evaluate(stock_out_sensor, resources)
    alerts = stored_alerts(settings, "stock")
    assert len(alerts) == 4 and all(a["notified_at"] is not None for a in alerts)
    [post] = webhook.posts
    assert post["text"] == ":bell: *4 stock alert(s) open at the first evaluation* (3 critical, 1 warning)"
    listed = post["blocks"][1]["text"]["text"].splitlines()
    assert len(listed) == 4 and listed[0].startswith("• [critical] Stock out: P020")
    assert listed[-1].startswith("• [warning] Low stock: P023")
    assert notifications(settings, "stock") == [("summary", sorted(a["alert_id"] for a in alerts))]

    # Afterwards: no repeat of the summary, and each new condition has its own message.
    evaluate(stock_out_sensor, resources)
    assert len(webhook.posts) == 1
    set_stock(settings, "P024", "WH-PH", 0)
    evaluate(stock_out_sensor, resources)
    assert len(webhook.posts) == 2 and webhook.texts()[1].startswith(
        ":red_circle: *CRITICAL* Stock out: P024"
    )


def test_daily_cap_holds_messages_back_with_one_notice_until_the_next_day(
    settings: Settings, webhook: Webhook
) -> None:
    resources = resources_for(settings, webhook.url, alert_daily_cap=3)
    past_first_run(stock_out_sensor, resources)
    products = ("P025", "P026", "P027", "P028", "P029")
    for product in products:
        set_stock(settings, product, "WH-LAGOS", 0)

    evaluate(stock_out_sensor, resources)
    texts = webhook.texts()
    assert len(texts) == 4
    assert [p for p in products for t in texts[:3] if f"Stock out: {p}" in t] == ["P025", "P026", "P027"]
    assert texts[3].startswith(":no_bell: *Daily cap reached*: 3 stock message(s) posted today; 2 more")
    held = by_key(stored_alerts(settings, "stock"))
    assert [k for k, a in held.items() if a["notified_at"] is None] == [
        "stock:P028:WH-LAGOS",
        "stock:P029:WH-LAGOS",
    ]

    # Still today: silence (the notice said so once), and the held alerts stay pending.
    set_stock(settings, "P030", "WH-LAGOS", 0)
    evaluate(stock_out_sensor, resources)
    assert len(webhook.posts) == 4

    # The next UTC day (today's messages moved back a day): the held alerts go out.
    execute(settings, "UPDATE alert_notifications SET sent_at = sent_at - interval '1 day'")
    evaluate(stock_out_sensor, resources)
    assert len(webhook.posts) == 7
    assert all(a["notified_at"] is not None for a in by_key(stored_alerts(settings, "stock")).values())


def test_low_severity_alerts_are_posted_as_one_digest_per_interval(
    settings: Settings, webhook: Webhook
) -> None:
    # Price moves are info by default: digested, at most one digest an hour.
    resources = resources_for(settings, webhook.url, alert_digest_interval_s=3600)
    sensor = competitor_price_move_sensor
    for product in ("P014", "P015", "P016"):
        observe_price(settings, product, "TechMart", Decimal("100.00"), ago(hours=30))
    past_first_run(sensor, resources)

    observe_price(settings, "P014", "TechMart", Decimal("90.00"), ago(minutes=1))
    observe_price(settings, "P015", "TechMart", Decimal("110.00"), ago(minutes=1))
    evaluate(sensor, resources)
    [digest] = webhook.posts
    assert digest["text"] == ":memo: *Digest of low-severity competitor price move alerts*: 2 open"
    assert digest["blocks"][1]["text"]["text"].splitlines() == [
        "• TechMart moved its price of P014 (" + PRODUCTS_BY_ID["P014"].name + "): 100.00 → 90.00 "
        "(-10.0 % in 24 h)",
        "• TechMart moved its price of P015 (" + PRODUCTS_BY_ID["P015"].name + "): 100.00 → 110.00 "
        "(+10.0 % in 24 h)",
    ]

    # Another move within the hour waits for the next digest.
    observe_price(settings, "P016", "TechMart", Decimal("80.00"), ago(minutes=1))
    evaluate(sensor, resources)
    assert len(webhook.posts) == 1
    waiting = by_key(stored_alerts(settings, "competitor_price_move"))["competitor_price_move:P016:TechMart"]
    assert waiting["notified_at"] is None

    # An hour later: one digest with it.
    execute(settings, "UPDATE alert_notifications SET sent_at = sent_at - interval '1 hour'")
    evaluate(sensor, resources)
    assert len(webhook.posts) == 2
    assert webhook.texts()[1].endswith("alerts*: 1 open")
    assert "P016" in webhook.posts[1]["blocks"][1]["text"]["text"]
    assert [m for m, _ in notifications(settings, "competitor_price_move")] == ["digest", "digest"]


# --- asset checks --------------------------------------------------------------------------------------


def test_quality_sensor_alerts_on_failing_checks_until_they_pass(
    settings: Settings, webhook: Webhook
) -> None:
    outcome: dict[str, Any] = {"passed": False, "severity": dg.AssetCheckSeverity.ERROR, "crash": False}

    @dg.asset
    def orders() -> int:
        return 1

    @dg.asset_check(asset=orders)
    def orders_not_empty() -> dg.AssetCheckResult:
        if outcome["crash"]:
            raise RuntimeError("warehouse unreachable")
        return dg.AssetCheckResult(
            passed=outcome["passed"],
            severity=outcome["severity"],
            metadata={"row_count": 0, "table": "orders"},
            description="orders must not be empty",
        )

    @dg.asset_check(asset=orders)
    def orders_unique() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True, metadata={"duplicates": 0})

    @dg.asset_check(asset=orders)
    def orders_never_run() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False)

    defs = dg.Definitions(assets=[orders], asset_checks=[orders_not_empty, orders_unique, orders_never_run])
    resources = resources_for(settings, webhook.url)
    key = "asset_check:orders:orders_not_empty"

    with dg.DagsterInstance.ephemeral() as instance:

        def run_checks() -> None:
            dg.materialize(
                [orders, orders_not_empty, orders_unique],
                instance=instance,
                raise_on_error=not outcome["crash"],
            )

        def check() -> str:
            return evaluate(
                quality_sensor, resources, instance=instance, repository_def=defs.get_repository_def()
            )

        check()  # past the first run: nothing evaluated yet
        run_checks()
        summary = check()
        [alert] = stored_alerts(settings, "asset_check")
        assert alert["condition_key"] == key and alert["severity"] == "critical"
        assert alert["title"] == "Asset check orders_not_empty on orders failed"
        assert alert["context"]["check_severity"] == "ERROR"
        assert alert["context"]["metadata"] == {"row_count": 0, "table": "orders"}
        assert alert["context"]["description"] == "orders must not be empty"
        assert alert["notified_at"] is not None
        assert summary.startswith("1 open asset check alert(s) (1 critical)")
        assert len(webhook.posts) == 1 and "orders_not_empty" in webhook.posts[0]["text"]

        # Evaluated again with the same outcome: nothing new.
        check()
        assert len(stored_alerts(settings, "asset_check")) == 1 and len(webhook.posts) == 1

        # Still failing, now as a WARN check: the same alert at warning severity, announced again.
        outcome["severity"] = dg.AssetCheckSeverity.WARN
        run_checks()
        check()
        [alert] = stored_alerts(settings, "asset_check")
        assert alert["severity"] == "warning" and alert["cleared_at"] is None
        assert len(webhook.posts) == 2 and "WARNING" in webhook.posts[1]["text"]

        # The check crashes before reporting: its latest record is only "planned", with no outcome, so
        # the alert stays open as it was (not even refreshed).
        outcome["crash"] = True
        run_checks()
        check()
        [crashed] = stored_alerts(settings, "asset_check")
        assert crashed["cleared_at"] is None and crashed["last_seen_at"] == alert["last_seen_at"]
        assert len(webhook.posts) == 2

        # Passing again: cleared, resolved.
        outcome.update(crash=False, passed=True)
        check()  # past the first run: nothing evaluated yet
        run_checks()
        summary = check()
        [alert] = stored_alerts(settings, "asset_check")
        assert alert["cleared_at"] is not None
        assert len(webhook.posts) == 3 and "RESOLVED" in webhook.posts[2]["text"]
        assert summary.startswith("0 open asset check alert(s); opened 0, cleared 1")
