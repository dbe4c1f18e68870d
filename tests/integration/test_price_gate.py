"""The competitor price gate on a real PostgreSQL, through ingest's own write path (the competitor sink),
the engine's input query and the undercut alert: an injected ×10 or ÷10 scrape error is never priced from
nor alerted on, a genuine promotion is priced from once a second observation confirms it, and the gate's
memory is the observations before the newest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from ingest_workers.sinks import GATE_MEMORY, CompetitorSink
from pricing_platform.alerting.rules import AlertRules, price_move_alerts, undercut_alerts
from pricing_platform.core.settings import default_settings
from pricing_platform.pricing.cycle import load_inputs
from pricing_platform.pricing.rules import PricingRules
from tests.support.factories import price
from tests.support.undercuts import UndercutDetector

pytestmark = pytest.mark.integration

RULES = PricingRules.defaults()  # jump 40 %, market 50 %, confirm 5 %
START = datetime.now(UTC) - timedelta(hours=2)


class Scraper:
    """Observations landed one ingest batch at a time, a minute apart; the stream processor's undercut
    detection sees each."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.at = START
        self.undercuts = UndercutDetector(default_settings())

    def observe(self, competitor: str, value: str) -> None:
        self.at += timedelta(minutes=1)
        event = price("P001", competitor, value, at=self.at)
        with self.conn.cursor() as cur:
            CompetitorSink().write(cur, [event])
        self.undercuts.feed(self.conn, event)

    def observe_batch(self, competitor: str, *values: str) -> None:
        """Several observations landed by one ingest batch (a backlog caught up)."""
        events = []
        for value in values:
            self.at += timedelta(minutes=1)
            events.append(price("P001", competitor, value, at=self.at))
        with self.conn.cursor() as cur:
            CompetitorSink().write(cur, events)

    def market(self) -> tuple[float, int]:
        inputs = load_inputs(self.conn, RULES, datetime.now(UTC))
        (index,) = [i for i, pid in enumerate(inputs["product_id"]) if pid == "P001"]
        return round(float(inputs["competitor_avg"][index]), 2), int(inputs["competitors_seen"][index])


@pytest.fixture
def scraper(database: str) -> Iterator[Scraper]:
    with psycopg.connect(database, autocommit=True) as conn:
        scraper = Scraper(conn)
        for value in ("880.00", "882.00", "878.00", "881.00", "879.00", "880.00"):
            for competitor in ("TechMart", "GadgetZone", "ElectroHub"):
                scraper.observe(competitor, value)
        yield scraper


def test_ingest_remembers_the_observations_before_the_newest(scraper: Scraper) -> None:
    row = scraper.conn.execute(
        "SELECT competitor_price, previous_price, recent_prices, recent_median FROM competitor_prices_latest "
        "WHERE product_id = 'P001' AND competitor_name = 'TechMart'"
    ).fetchone()
    assert row is not None
    newest, previous, recent, median = row
    assert (str(newest), str(previous)) == ("880.00", "879.00")
    assert [str(p) for p in recent] == ["879.00", "881.00", "878.00", "882.00", "880.00"][:GATE_MEMORY]
    assert str(median) == "880.00"


def test_scrape_errors_are_never_priced_from(scraper: Scraper) -> None:
    assert scraper.market() == (880.0, 3)
    scraper.observe("TechMart", "8800.00")  # ×10
    assert scraper.market() == (880.0, 2)
    scraper.observe("TechMart", "880.00")  # the next scrape is right again: judged against the median
    assert scraper.market() == (880.0, 3)
    scraper.observe("GadgetZone", "88.00")  # ÷10
    assert scraper.market() == (880.0, 2)
    scraper.observe("GadgetZone", "8.80")  # wrong again, differently: still no confirmation
    assert scraper.market() == (880.0, 2)


def test_a_real_promotion_is_priced_from_at_its_second_observation(scraper: Scraper) -> None:
    scraper.observe("ElectroHub", "500.00")  # −43 %: held until confirmed
    assert scraper.market() == (880.0, 2)
    scraper.observe("ElectroHub", "499.00")  # the second observation agrees within 5 %
    assert scraper.market() == (round((880 + 880 + 499) / 3, 2), 3)
    scraper.observe("ElectroHub", "880.00")  # the promotion ends: back at the median, used at once
    assert scraper.market() == (880.0, 3)


def test_a_price_far_from_the_other_competitors_is_held_even_without_history(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        scraper = Scraper(conn)
        scraper.observe("TechMart", "880.00")
        scraper.observe("GadgetZone", "890.00")
        scraper.observe("ElectroHub", "99.00")  # a first observation, 89 % below the product's median
        assert scraper.market() == (885.0, 2)
        scraper.observe("ElectroHub", "99.50")
        assert scraper.market() == (round((880 + 890 + 99.5) / 3, 2), 3)


def test_no_alert_on_a_scrape_error_but_alerts_on_a_confirmed_cut(scraper: Scraper) -> None:
    rules = AlertRules.from_settings(default_settings())
    assert undercut_alerts(scraper.conn, rules).alerts == []
    assert price_move_alerts(scraper.conn, rules).alerts == []
    scraper.observe("TechMart", "89.00")  # ÷10: 90 % below us, held back
    assert undercut_alerts(scraper.conn, rules).alerts == []
    assert price_move_alerts(scraper.conn, rules).alerts == []
    scraper.observe("TechMart", "90.00")  # a second observation confirms the cut: alerted
    (alert,) = undercut_alerts(scraper.conn, rules).alerts
    assert alert.context["competitor"] == "TechMart" and alert.context["competitor_price"] == 90.0
    (move,) = price_move_alerts(scraper.conn, rules).alerts
    assert move.context["competitor"] == "TechMart"


def test_observations_landed_in_one_batch_count_for_the_gate(scraper: Scraper) -> None:
    scraper.observe_batch("ElectroHub", "500.00", "499.00")  # a promotion seen twice, caught up at once
    assert scraper.market() == (round((880 + 880 + 499) / 3, 2), 3)
    row = scraper.conn.execute(
        "SELECT previous_price, recent_prices[1:2] FROM competitor_prices_latest "
        "WHERE product_id = 'P001' AND competitor_name = 'ElectroHub'"
    ).fetchone()
    assert row is not None and str(row[0]) == "500.00" and [str(p) for p in row[1]] == ["500.00", "880.00"]
