"""An undercut reprices its product within seconds, end to end on the real broker and PostgreSQL: the
competitor ingest worker lands the observations, the stream processor detects the undercuts, the repricer
writes one recommendation per undercut citing it, priced from that observation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Producer
from streamlit.testing.v1 import AppTest

from pricing_platform.core.catalog import PRODUCTS, TOPICS, Stream
from pricing_platform.core.events import ENCODER, CompetitorPriceEvent
from pricing_platform.core.settings import Settings
from pricing_platform.streaming.processor import processor_group
from tests.support.factories import price
from tests.support.workers import PlatformProcess, WorkerProcess, wait_until

pytestmark = pytest.mark.integration

PAGES_DIR = Path(__file__).resolve().parents[2] / "pricing_platform" / "dashboard" / "views"

CENTS = Decimal("0.01")


def _scrape(product_index: int, factor: str, at: datetime) -> CompetitorPriceEvent:
    product = PRODUCTS[product_index]
    return price(
        product.product_id, "TechMart", (product.base_price * Decimal(factor)).quantize(CENTS), at=at
    )


def test_each_undercut_reprices_its_product_once_from_that_observation(
    topics: Settings, tmp_path: Path, artifacts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = topics.model_copy(
        update={
            "stream_state_dir": tmp_path / "stream-state",
            "stream_commit_interval_s": 0.2,
            "stream_metrics_port": 0,
        }
    )
    log_dir = artifacts_dir / "undercut-repricing"
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = [
        WorkerProcess(Stream.COMPETITOR, settings, log_dir, "competitor").start(),
        PlatformProcess(["stream-processor", "--processor-id", "undercut-test"], settings, log_dir,
                        "processor").start(),
        PlatformProcess(["repricer", "--worker-id", "repricer", "--metrics-port", "0"], settings, log_dir,
                        "repricer").start(),
    ]  # fmt: skip
    topic = TOPICS[Stream.COMPETITOR].name
    producer = Producer({**settings.kafka_common_config(), "enable.idempotence": True})
    start = datetime.now(UTC) - timedelta(minutes=10)
    # Per product, TechMart's scrapes as factors of our price: the first three products are undercut (20 %
    # below), the first goes lower still, the second comes back within 5 %; the others move within 5 %.
    script = {
        0: ["0.98", "0.80", "0.75"],
        1: ["0.98", "0.80", "0.96"],
        2: ["0.80"],
        3: ["0.98", "0.97"],
        4: ["1.05", "0.96"],
    }
    expected: dict[uuid.UUID, tuple[str, str, Decimal]] = {}  # event id → (product, state, their price)
    # Per product, TechMart's prices in order: a recommendation is priced from its undercut's observation
    # or, when a newer one has landed meanwhile, from the newer one, never from an older one.
    prices: dict[str, list[Decimal]] = {}
    try:
        for step in range(3):
            for index, factors in script.items():
                if step < len(factors):
                    scrape = _scrape(index, factors[step], start + timedelta(minutes=step))
                    producer.produce(topic, ENCODER.encode(scrape), scrape.product_id.encode())
                    prices.setdefault(scrape.product_id, []).append(scrape.competitor_price)
                    state = {(0, 1): "opened", (0, 2): "deepened", (1, 1): "opened", (1, 2): "cleared",
                             (2, 0): "opened"}.get((index, step))  # fmt: skip
                    if state:
                        expected[scrape.event_id] = (scrape.product_id, state, scrape.competitor_price)
        producer.produce(topic, b"{not json", b"P001")
        assert producer.flush(10) == 0

        def undercuts() -> list[tuple]:
            with psycopg.connect(settings.database_conninfo) as conn:
                return conn.execute(
                    "SELECT u.event_id, u.product_id, u.state, u.outcome, r.triggered_by, "
                    "r.competitor_avg_price, r.product_id, (SELECT count(*) FROM pricing_recommendations c "
                    "WHERE c.cycle_id = r.cycle_id AND c.trigger_event_id IS NULL) "
                    "FROM competitor_undercuts u "
                    "LEFT JOIN pricing_recommendations r ON r.recommendation_id = u.recommendation_id"
                ).fetchall()

        wait_until(
            lambda: len(undercuts()) == len(expected) and all(row[3] != "pending" for row in undercuts()),
            90,
            "every undercut recorded and repriced",
            lambda: f"{undercuts()}\n{processes[2].log()[-3000:]}\n{processes[1].log()[-2000:]}",
        )
        rows = {row[0]: row[1:] for row in undercuts()}
        assert set(rows) == set(expected)
        for event_id, (product, state, their_price) in expected.items():
            got_product, got_state, outcome, triggered_by, competitor_avg, priced, scheduled = rows[event_id]
            assert (got_product, got_state, outcome, triggered_by) == (product, state, "repriced", "undercut")
            # Priced from the observation that caused it or a newer one (TechMart is the only competitor
            # seen), in an event-driven cycle with no scheduled row.
            newer = prices[product][prices[product].index(their_price) :]
            assert priced == product and competitor_avg in newer and scheduled == 0
        with psycopg.connect(settings.database_conninfo) as conn:
            cited = conn.execute(
                "SELECT trigger_event_id, count(*) FROM pricing_recommendations GROUP BY 1"
            ).fetchall()
            letters = conn.execute(
                "SELECT error_kind FROM dead_letters WHERE consumer_group = %s AND topic = %s",
                (processor_group(settings), topic),
            ).fetchall()
        # One recommendation per undercut, and none for the scrapes that cross no threshold.
        assert dict(cited) == dict.fromkeys(expected, 1)
        assert letters == [("malformed",)]
        assert all("Traceback" not in p.log() for p in processes)

        # The Competitors page lists them with the recommendation each led to.
        monkeypatch.setenv("DATABASE_URL", settings.database_conninfo)
        for variable in ("DASHBOARD_DATABASE_URL", "APPROVALS_DATABASE_URL"):
            monkeypatch.delenv(variable, raising=False)
        app = AppTest.from_file(str(PAGES_DIR / "competitors.py"), default_timeout=60)
        app.run()
        assert not app.exception, [e.message for e in app.exception]
        shown = app.dataframe[-1].value
        assert len(shown) == len(expected) and set(shown["state"]) == {"opened", "deepened", "cleared"}
        assert shown["recommendation"].notna().all() and (shown["outcome"] == "repriced").all()
    finally:
        for process in processes:
            process.stop_quietly()
