"""The CI stage of `make test` (tests/support/asset_check_stage.py) fails on a bad row: run as CI runs it,
against a copy of the test shop with one crafted clickstream event, it prints the failing ERROR checks
(the great-expectations check and the dbt test that both guard the device type) and exits 1."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from pricing_platform.core.catalog import PRODUCTS_BY_ID
from tests.support.servers import PostgresProcess

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_the_stage_fails_when_an_error_check_fails(shop: str, postgres: PostgresProcess) -> None:
    copy = postgres.create_database(f"stage_{uuid.uuid4().hex[:8]}", template=shop.rsplit("/", 1)[1])
    product = PRODUCTS_BY_ID["P001"]
    with psycopg.connect(copy) as conn:  # a valid product view but for its device type
        conn.execute(
            "INSERT INTO clickstream_events (event_id, user_id, session_id, event_type, product_id, "
            "product_name, product_category, product_price, device_type, event_time) "
            "VALUES (%s, 'U00042', %s, 'product_view', %s, %s, %s, %s, 'smart_tv', now())",
            (
                uuid.uuid4(),
                uuid.uuid4(),
                product.product_id,
                product.name,
                product.category,
                product.base_price,
            ),
        )
    stage = subprocess.run(
        [sys.executable, "-m", "tests.support.asset_check_stage", "--database-url", copy],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    out = stage.stdout
    assert stage.returncode == 1, out[-4000:] + stage.stderr[-4000:]
    failed = {
        match.group(1) for match in re.finditer(r"^│ FAIL +│ ERROR +│ \S+ +│ (\S+) ", out, re.MULTILINE)
    }
    assert "clickstream_valid_device_types" in failed, out[-4000:]
    assert any(name.startswith("accepted_values_stg_clickstream_device_type") for name in failed), failed
    assert len(failed) == 2, failed
    assert re.search(
        r"^│ PASS +│ ERROR +│ inventory_state +│ inventory_stock_not_negative ", out, re.MULTILINE
    )
    assert "2 ERROR check(s) failed:" in out, out[-3000:]
    # dbt build skips the tests downstream of the failed staging test: no result is a failure too.
    assert re.search(r"^│ NO RESULT │ — +│ daily_funnel_metrics ", out, re.MULTILINE), out[-3000:]
