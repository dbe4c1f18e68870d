"""End to end in a real browser: `pricing-platform dashboard` serves the app, headless Chromium (the
system's, driven by Playwright) opens every page, the key content is visible, and each page is saved as a
screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from pricing_platform.localstack.ephemeral import wait_port
from tests.support.servers import free_port

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
    "pricing": ("Pricing", "Approve a recommendation"),
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


def test_an_analyst_approves_a_price_in_chromium(
    dashboard: str, browser: Browser, shop: str, artifacts_dir: Path
) -> None:
    """The whole approval path in a real browser: choose, name, click; the price and the audit row change.
    (The shop's other readers assert nothing an approved price would change.)"""
    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    page.goto(f"{dashboard}/pricing")
    expect(page.get_by_role("heading", name="Approve a recommendation")).to_be_visible(timeout=60_000)
    page.locator("[data-testid='stSelectbox']").first.click()
    option = page.get_by_role("option").first
    product_id = option.inner_text().split()[0]
    option.click()
    name = page.get_by_label("Your name (recorded in the audit trail)")
    name.fill("Ada Analyst")
    name.press("Enter")
    # The name reaches the server on Enter, and the rerun that follows enables the button.
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
