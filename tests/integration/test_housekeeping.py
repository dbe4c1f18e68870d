"""The daily housekeeping job against real storage: old per-minute counts, old cleared alerts, outbox rows
published long ago and relays gone for good go; recent rows, open alerts of any age, unpublished outbox
rows, every price change's audit row and recent runs stay."""

import dagster as dg
import psycopg
import pytest

from pricing_platform.assets.housekeeping import housekeeping_job
from pricing_platform.core.settings import default_settings
from pricing_platform.resources import build_resources

pytestmark = pytest.mark.integration


def test_housekeeping_purges_old_rows_and_runs_and_keeps_the_rest(database: str) -> None:
    with psycopg.connect(database) as conn:
        conn.execute(
            "INSERT INTO ingest_throughput (stream, minute, events) VALUES "
            "('clickstream', now() - interval '31 days', 5), ('clickstream', now() - interval '29 days', 7)"
        )
        conn.execute(
            "INSERT INTO alerts (condition_key, kind, severity, title, opened_at, cleared_at) VALUES "
            "('old-cleared', 'stock', 'warning', 'a', now() - interval '40 days', "
            "now() - interval '31 days'), "
            "('recent-cleared', 'stock', 'warning', 'b', now() - interval '40 days', "
            "now() - interval '1 day'), "
            "('old-open', 'stock', 'critical', 'c', now() - interval '90 days', NULL)"
        )
        conn.execute(
            "INSERT INTO alert_notifications (kind, message, sent_at) VALUES "
            "('stock', 'alert', now() - interval '31 days'), ('stock', 'digest', now() - interval '1 day')"
        )
        for price in ("850.00", "860.00", "870.00"):
            conn.execute("SELECT apply_price_change('P001', %s, 'test', 'housekeeping')", (price,))
        conn.execute(  # the first published long ago, the second yesterday, the third never
            "UPDATE price_change_outbox SET published_at = now() - make_interval(days => d) "
            "FROM (VALUES (1, 31), (2, 1)) AS v(n, d) "
            "WHERE outbox_id = "
            "  (SELECT outbox_id FROM price_change_outbox ORDER BY outbox_id OFFSET v.n - 1 LIMIT 1)"
        )
        conn.execute(
            "INSERT INTO price_feed_relays (relay_id, seen_at) VALUES "
            "('gone', now() - interval '31 days'), ('alive', now())"
        )
        conn.execute(
            "INSERT INTO funnel_minutes (product_id, minute, product_category, product_views, cart_adds, "
            "purchases) VALUES "
            "('P001', date_trunc('minute', now()) - interval '31 days', 'phones', 3, 1, 0), "
            "('P001', date_trunc('minute', now()) - interval '1 day', 'phones', 4, 0, 0)"
        )
    with dg.instance_for_test() as instance:
        result = housekeeping_job.execute_in_process(
            resources=build_resources(default_settings().model_copy(update={"database_url": database})),
            instance=instance,
        )
        assert result.success
        assert result.output_for_node("purge_operational_rows") == {
            "ingest_throughput": 1,
            "alerts": 1,
            "alert_notifications": 1,
            "price_change_outbox": 1,
            "price_feed_relays": 1,
            "funnel_minutes": 1,
        }
        # Runs younger than the retention (7 days) stay, this job's own included.
        assert instance.get_run_by_id(result.run_id) is not None
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT sum(events) FROM ingest_throughput").fetchone() == (7,)
        kept = {row[0] for row in conn.execute("SELECT condition_key FROM alerts")}
        outbox = conn.execute(
            "SELECT published_at IS NULL FROM price_change_outbox ORDER BY outbox_id"
        ).fetchall()
        changes = conn.execute("SELECT count(*) FROM price_changes").fetchone()
        relays = conn.execute("SELECT relay_id FROM price_feed_relays").fetchall()
        messages = conn.execute("SELECT message FROM alert_notifications").fetchall()
        funnel = conn.execute("SELECT sum(product_views) FROM funnel_minutes").fetchone()
    assert funnel == (4,), "the funnel's minutes older than the retention go"
    assert messages == [("digest",)]
    assert kept == {"recent-cleared", "old-open"}
    assert outbox == [(False,), (True,)] and changes == (3,) and relays == [("alive",)]
