"""End to end in a real browser: `pricing-platform dashboard` serves the app, headless Chromium (the
system's, driven by Playwright) opens every page, the key content is visible, and each page is saved as a
screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from pricing_platform.alerting.rules import (
    COMPETITOR_PRICE_MOVE,
    COMPETITOR_UNDERCUT,
    AlertRules,
    price_move_alert,
    undercut_alert,
)
from pricing_platform.alerting.store import sync_alerts
from pricing_platform.core.catalog import CATEGORY_NAMES, Stream
from pricing_platform.core.settings import Settings
from pricing_platform.localstack.ephemeral import wait_port
from pricing_platform.resources.dbt import DbtResource
from tests.support.factories import EXPERIMENT_USER, experiment_with_events
from tests.support.market import live_sessions_per_day
from tests.support.servers import free_port
from tests.support.workers import PlatformProcess, RelayProcess, WorkerProcess, wait_until

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a root, display-less machine with a closed network (see ../shared/STACK-NOTES.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# url path → text that proves the page rendered its data, not just its frame.
PAGES = {
    "": ("Overview", "Revenue today (UTC)"),
    "pricing": ("Pricing", "Review queue"),
    "policy": ("Pricing policy", "Policy per category"),
    "experiments": ("Price experiments", "Start an experiment"),
    "inventory": ("Inventory", "Stock per product × warehouse"),
    "competitors": ("Competitors", "Who undercuts most"),
    "funnel": ("Funnel", "Sessions by stage and category, last 7 days"),
    "elasticity": ("Price elasticity", "Revenue impact of following them"),
    "rfm": ("Customer segments (RFM)", "Top segment by revenue"),
    "forecast": ("Demand forecast", "Next 6 hours"),
}


@pytest.fixture(scope="module")
def dashboard(shop: str, artifacts_dir: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": shop, "DASHBOARD_REFRESH_S": "300"}
    env.pop("DASHBOARD_DATABASE_URL", None)
    log = (artifacts_dir / "dashboard.log").open("w")
    cli = Path(sys.executable).parent / "pricing-platform"
    process = subprocess.Popen(
        [str(cli), "dashboard", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    try:
        wait_port(port, timeout_s=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_every_page(dashboard: str, browser: Browser, artifacts_dir: Path) -> None:
    screenshots = artifacts_dir / "screenshots"
    screenshots.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    for path, (title, content) in PAGES.items():
        page.goto(f"{dashboard}/{path}")
        expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=60_000)
        expect(page.get_by_text(content, exact=True).first).to_be_visible(timeout=60_000)
        # Charts and tables draw after the page's text: wait for each to render before the screenshot.
        for chart in page.locator("[data-testid='stPlotlyChart']").all():
            expect(chart.locator(".main-svg").first).to_be_visible(timeout=30_000)
        for table in page.locator("[data-testid='stDataFrame']").all():
            expect(table.locator("canvas").first).to_be_visible(timeout=30_000)
        # The grid paints its cells on a canvas a moment after mounting; no DOM change tells when.
        page.wait_for_timeout(2000)
        # No Python traceback and no "cannot reach" on any page.
        expect(page.locator("[data-testid='stException']")).to_have_count(0)
        expect(page.get_by_text("Cannot reach the database")).to_have_count(0)
        page.screenshot(path=str(screenshots / f"{path or 'overview'}.png"), full_page=True)
    assert errors == []


def choose_first_queued(page: Page, dashboard: str, analyst: str) -> str:
    """On the Pricing page, choose the review queue's first recommendation and sign with `analyst`;
    returns its product id. The name reaches the server on Enter, and the rerun enables the buttons."""
    page.goto(f"{dashboard}/pricing")
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible(timeout=60_000)
    # The name first, then the choice, whose rerun carries both: in a full run at load ≈ 12 the other
    # order once left the button disabled for 30 s (the name's rerun arriving during the choice's).
    name = page.get_by_label("Your name (recorded in the audit trail)")
    name.fill(analyst)
    name.press("Enter")
    expect(name).to_have_value(analyst)
    page.locator("[data-testid='stSelectbox']").first.click()
    option = page.get_by_role("option").first
    product_id = option.inner_text().split()[0]
    option.click()
    return product_id


def test_an_analyst_approves_a_price_in_chromium(
    dashboard: str, browser: Browser, shop: str, artifacts_dir: Path
) -> None:
    """The whole approval path in a real browser: choose, name, click; the price and the audit row change.
    (The shop's other readers assert nothing an approved price would change.)"""
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    product_id = choose_first_queued(page, dashboard, "Ada Analyst")
    approve = page.get_by_role("button", name="Approve price change")
    expect(approve).to_be_enabled(timeout=30_000)
    approve.click()
    expect(page.get_by_text(f"Approved by Ada Analyst: {product_id} is now")).to_be_visible(timeout=30_000)
    page.screenshot(path=str(artifacts_dir / "screenshots" / "approved.png"), full_page=True)
    with psycopg.connect(shop) as conn:
        audit = conn.execute(
            "SELECT c.approved_by, c.new_price = p.current_price FROM price_changes c "
            "JOIN products p USING (product_id) WHERE c.product_id = %s",
            (product_id,),
        ).fetchall()
    assert audit == [("Ada Analyst", True)]


def test_an_analyst_rejects_a_move_and_stops_automatic_application_in_chromium(
    dashboard: str, browser: Browser, shop: str, artifacts_dir: Path
) -> None:
    """The review queue's reject (with a note) and the policy page's kill switch, in a real browser."""
    page = browser.new_page(viewport={"width": 1440, "height": 1600})
    try:
        product_id = choose_first_queued(page, dashboard, "Ada Analyst")
        note = page.get_by_label("Note (optional; a rejection needs one)")
        note.fill("brand campaign this week")
        note.press("Enter")
        reject = page.get_by_role("button", name="Reject")
        expect(reject).to_be_enabled(timeout=30_000)
        reject.click()
        expect(page.get_by_text(f"{product_id} rejected by Ada Analyst")).to_be_visible(timeout=30_000)
        page.screenshot(path=str(artifacts_dir / "screenshots" / "review-queue.png"), full_page=True)
        with psycopg.connect(shop) as conn:
            assert conn.execute(
                "SELECT decision, note, reviewed_by FROM recommendation_reviews WHERE product_id = %s",
                (product_id,),
            ).fetchall() == [("rejected", "brand campaign this week", "Ada Analyst")]
            queued = conn.execute("SELECT product_id FROM review_queue").fetchall()
        assert (product_id,) not in queued

        page.goto(f"{dashboard}/policy")
        stop = page.get_by_role("button", name="Stop automatic application")
        expect(stop).to_be_visible(timeout=60_000)
        switch_form = page.locator("[data-testid='stForm']").filter(has=stop)
        switch_form.get_by_label("Your name (recorded in the audit trail)").fill("Ada Analyst")
        stop.click()
        expect(page.get_by_text("Automatic application stopped by Ada Analyst.")).to_be_visible(
            timeout=30_000
        )
        expect(page.get_by_role("button", name="Resume automatic application")).to_be_visible()
        with psycopg.connect(shop) as conn:
            assert conn.execute("SELECT auto_apply_enabled FROM pricing_controls").fetchone() == (False,)
    finally:
        with psycopg.connect(shop) as conn:  # the shop is shared: leave it as it was
            conn.execute("DELETE FROM recommendation_reviews")
            conn.execute("UPDATE pricing_controls SET auto_apply_enabled = true")
            conn.execute("DELETE FROM policy_changes")


def test_an_analyst_previews_and_saves_a_category_policy_in_chromium(
    dashboard: str, browser: Browser, shop: str, artifacts_dir: Path
) -> None:
    """Edit a threshold, preview it on the latest cycle, save it under a name: the policy row and its audit
    row are in the database; a value out of range is refused on screen with the reason."""
    page = browser.new_page(viewport={"width": 1440, "height": 1800})
    page.goto(f"{dashboard}/policy")
    expect(page.get_by_role("heading", name="Edit a category")).to_be_visible(timeout=60_000)
    category = CATEGORY_NAMES[0]  # the page opens on the first
    policy_form = page.locator("[data-testid='stForm']").filter(
        has=page.get_by_role("button", name="Save policy")
    )
    step = page.get_by_role("spinbutton", name="max_step_pct", exact=True)
    try:
        step.fill("5.00")
        page.get_by_role("button", name="Preview").click()
        expect(page.get_by_text("Recommendations that change")).to_be_visible(timeout=30_000)
        expect(page.get_by_text(f"What-if for {category}")).to_be_visible()
        page.screenshot(path=str(artifacts_dir / "screenshots" / "policy-preview.png"), full_page=True)
        policy_form.get_by_label("Your name (recorded in the audit trail)").fill("Ada Analyst")
        page.get_by_role("button", name="Save policy").click()
        expect(
            page.get_by_text(f"Saved by Ada Analyst for {category}: max_step_pct 10 (default) → 5")
        ).to_be_visible(timeout=30_000)
        with psycopg.connect(shop) as conn:
            assert conn.execute(
                "SELECT max_step_pct FROM category_policies WHERE category = %s", (category,)
            ).fetchone() == (5.0,)
            assert conn.execute(
                "SELECT setting, old_value, new_value, changed_by FROM policy_changes WHERE subject = %s",
                (category,),
            ).fetchall() == [("max_step_pct", None, 5, "Ada Analyst")]
        page.get_by_role("spinbutton", name="max_step_pct", exact=True).fill("80.00")
        policy_form.get_by_label("Your name (recorded in the audit trail)").fill("Ada Analyst")
        page.get_by_role("button", name="Save policy").click()
        expect(page.get_by_text("max_step_pct must be above 0 and at most 50")).to_be_visible(timeout=30_000)
    finally:
        with psycopg.connect(shop) as conn:  # the shop is shared: leave it as it was
            conn.execute("DELETE FROM category_policies")
            conn.execute("DELETE FROM policy_changes")


def test_an_analyst_reads_an_experiments_results_and_starts_one_in_chromium(
    dashboard: str, browser: Browser, shop: str, artifacts_dir: Path
) -> None:
    """A running experiment's results (per arm, uplift, elasticity) on screen, then a new one started from
    the form: its arms are stored, and an arm beyond the max step is refused with the reason."""
    with psycopg.connect(shop, autocommit=True) as conn:
        experiment_with_events(conn, "P003", hours_ago=30)
    page = browser.new_page(viewport={"width": 1440, "height": 1700})
    try:
        page.goto(f"{dashboard}/experiments")
        expect(page.get_by_text("Implied elasticity")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("hour-slot pairs complete", exact=False)).to_be_visible()
        expect(page.locator("[data-testid='stException']")).to_have_count(0)
        page.wait_for_timeout(2000)  # the tables paint their canvas a moment after mounting
        page.screenshot(path=str(artifacts_dir / "screenshots" / "experiment-results.png"), full_page=True)

        form = page.locator("[data-testid='stForm']").filter(
            has=page.get_by_role("button", name="Start the experiment")
        )
        form.get_by_role("spinbutton", name="Arm B: change from today's price, %").fill("25.00")
        form.get_by_label("Name", exact=True).fill("too far")
        form.get_by_label("Your name (recorded in the audit trail)").fill("Ada Analyst")
        page.get_by_role("button", name="Start the experiment").click()
        expect(page.get_by_text("above the max step of 10 %", exact=False)).to_be_visible(timeout=30_000)
        form.get_by_role("spinbutton", name="Arm B: change from today's price, %").fill("-4.00")
        form.get_by_label("Name", exact=True).fill("Galaxy -4 %")
        form.get_by_label("Your name (recorded in the audit trail)").fill("Ada Analyst")
        page.get_by_role("button", name="Start the experiment").click()
        expect(
            page.get_by_text("(Galaxy -4 %) starts at the next block boundary", exact=False)
        ).to_be_visible(timeout=30_000)
        with psycopg.connect(shop) as conn:
            assert conn.execute(
                "SELECT a.product_id, a.test_price < a.control_price, e.created_by FROM price_experiments e "
                "JOIN price_experiment_arms a USING (experiment_id) WHERE e.name = 'Galaxy -4 %'"
            ).fetchall() == [("P001", True, "Ada Analyst")]
    finally:
        with psycopg.connect(shop) as conn:  # the shop is shared: leave it as it was
            conn.execute("DELETE FROM price_experiment_blocks")
            conn.execute("DELETE FROM price_experiment_arms")
            conn.execute("DELETE FROM price_experiments")
            conn.execute("DELETE FROM clickstream_events WHERE user_id = %s", (EXPERIMENT_USER,))


def test_open_alerts_on_the_overview_in_chromium(
    dashboard: str, browser: Browser, shop: str, artifacts_dir: Path
) -> None:
    """Alerts opened by the alerting code itself (an undercut on weak demand, a competitor's price move)
    are listed on the Overview, critical first; the screenshot shows the README's alerts workflow."""
    rules = AlertRules.from_settings(Settings())
    now = datetime.now(UTC)
    undercut = undercut_alert(
        "P007", "MacBook Pro 16-inch", "TechMart", Decimal("1999.99"), Decimal("1749.00"),
        Decimal("12.55"), 0, now,
    )  # fmt: skip
    move = price_move_alert(
        "P001", "Samsung Galaxy S24", "GadgetZone", Decimal("899.00"), Decimal("829.00"), now, rules
    )
    log = logging.getLogger("test")
    with psycopg.connect(shop, autocommit=True) as conn:
        sync_alerts(conn, COMPETITOR_UNDERCUT, [undercut], log)
        sync_alerts(conn, COMPETITOR_PRICE_MOVE, [move], log)
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    try:
        page.goto(dashboard)
        heading = page.get_by_role("heading", name="Open alerts")
        expect(heading).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Open alerts").first).to_be_visible()
        table = page.locator("[data-testid='stDataFrame']").last
        expect(table.locator("canvas").first).to_be_visible(timeout=30_000)
        page.wait_for_timeout(2000)  # the grid paints its cells a moment after mounting
        heading.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "screenshots" / "open-alerts.png"), full_page=True)
    finally:
        with psycopg.connect(shop) as conn:  # the shop is shared: leave it as it was
            conn.execute(
                "DELETE FROM alerts WHERE condition_key = ANY(%s)",
                ([undercut.condition_key, move.condition_key],),
            )


# --- the closed loop, from the analyst's click to the shop ------------------------------------------------


@pytest.fixture
def live_shop(
    topics: Settings,
    workers: Callable[..., WorkerProcess],
    artifacts_dir: Path,
    request: pytest.FixtureRequest,
) -> Iterator[tuple[Settings, int]]:
    """A live market (storefront included), its ingest workers and a price-feed relay, on this test's
    database and topics; yields the settings and the market's metrics port."""
    log_dir = artifacts_dir / "closed-loop"
    log_dir.mkdir(parents=True, exist_ok=True)
    for stream in Stream:
        workers(stream)
    metrics_port = free_port()
    lively = topics.model_copy(
        update={
            # A product is viewed every few seconds, at any hour.
            "market_sessions_per_day": live_sessions_per_day(8),
            "market_scrapes_per_hour": 720,  # and observed at each competitor every 5 s
            "simulator_metrics_port": metrics_port,
            "price_feed_poll_interval_s": 0.2,
        }
    )
    relay = RelayProcess(lively, log_dir, "relay").start()
    market = PlatformProcess(["simulate", "market", "--no-progress"], lively, log_dir, "market").start()
    try:
        yield lively, metrics_port
    finally:
        market.stop_quietly()
        relay.stop_quietly()


def storefront_price(metrics_port: int, product_id: str) -> float | None:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=3).read().decode()
    except OSError:
        return None
    match = re.search(rf'pricing_storefront_price{{product_id="{product_id}"}} ([0-9.e+]+)', text)
    return float(match.group(1)) if match else None


def test_an_approval_in_the_dashboard_reaches_the_shop_its_events_and_the_marts(
    live_shop: tuple[Settings, int], browser: Browser, artifacts_dir: Path
) -> None:
    settings, metrics_port = live_shop
    db = settings.database_conninfo
    product, new_price = "P013", Decimal("314.99")
    with psycopg.connect(db, autocommit=True) as conn:
        # A cycle that recommends lowering one product (the live market's competitors sit near our prices).
        conn.execute(
            "INSERT INTO pricing_recommendations (cycle_id, product_id, current_price, "
            "competitor_avg_price, competitors_seen, price_gap_pct, demand_velocity, recommendation, "
            "recommended_price, confidence, reason) SELECT gen_random_uuid(), product_id, current_price, "
            "current_price * 0.8, 3, 25, 0, 'lower', %s, 0.9, 'a test: competitors 20 %% below' "
            "FROM products WHERE product_id = %s",
            (new_price, product),
        )
    port = free_port()
    env = {**os.environ, **settings.environment(), "DASHBOARD_REFRESH_S": "300"}
    env.pop("DASHBOARD_DATABASE_URL", None)
    log = (artifacts_dir / "closed-loop" / "dashboard.log").open("w")
    cli = Path(sys.executable).parent / "pricing-platform"
    dashboard = subprocess.Popen([str(cli), "dashboard", "--host", "127.0.0.1", "--port", str(port)],
                                 env=env, stdout=log, stderr=log)  # fmt: skip
    try:
        wait_port(port, timeout_s=60)
        page = browser.new_page(viewport={"width": 1440, "height": 1400})
        page.goto(f"http://127.0.0.1:{port}/pricing")
        expect(page.get_by_role("heading", name="Review queue")).to_be_visible(timeout=60_000)
        page.locator("[data-testid='stSelectbox']").first.click()
        page.get_by_role("option").filter(has_text=product).first.click()
        name = page.get_by_label("Your name (recorded in the audit trail)")
        name.fill("Ada Analyst")
        name.press("Enter")
        approve = page.get_by_role("button", name="Approve price change")
        expect(approve).to_be_enabled(timeout=30_000)
        approve.click()
        expect(page.get_by_text(f"Approved by Ada Analyst: {product} is now")).to_be_visible(timeout=30_000)
        approved_at = time.monotonic()
    finally:
        dashboard.terminate()
        dashboard.wait(timeout=20)
        log.close()
    # Within seconds the storefront shows it...
    wait_until(lambda: storefront_price(metrics_port, product) == float(new_price), 15, "the storefront")
    assert time.monotonic() - approved_at < 15
    # ...the shop's next events carry it, and so do the competitor observations' our_price...
    with psycopg.connect(db) as conn:

        def landed(query: str) -> bool:
            return bool(conn.execute(query, (product, new_price)).fetchone()[0])  # type: ignore[index]

        shown = "SELECT count(*) FROM clickstream_events WHERE product_id = %s AND product_price = %s"
        observed = "SELECT count(*) FROM competitor_prices WHERE product_id = %s AND our_price = %s"
        wait_until(lambda: landed(shown), 60, "a shopper event at the new price")
        wait_until(lambda: landed(observed), 60, "a competitor observation of our new price")
    # ...and the marts, once rebuilt.
    built = DbtResource.from_settings(settings).run(["run", "--select", "+pricing_analysis"])
    assert built.returncode == 0, built.output[-3000:]
    with psycopg.connect(db) as conn:
        mart = conn.execute(
            "SELECT current_price FROM marts.pricing_analysis WHERE product_id = %s", (product,)
        ).fetchone()
    assert mart == (new_price,)
