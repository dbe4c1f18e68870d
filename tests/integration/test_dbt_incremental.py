"""Incremental marts equal a full rebuild: after new, late and out-of-order events (the contract accepts
any past timestamp), and after a batch that committed later than the newest row the marts had seen."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pricing_platform.assets.dbt import JOB_ARGS
from pricing_platform.core.settings import Settings
from pricing_platform.resources.dbt import DbtResource
from tests.support.factories import click_row, insert_click_rows

pytestmark = pytest.mark.integration

# Columns that move with the clock between two builds.
CLOCK_COLUMNS = {"purchases_last_24h", "revenue_last_24h", "age_s", "is_fresh"}


def session(user: str, start: datetime, steps: list[tuple[str, str | None]]) -> list[tuple]:
    sid = uuid.uuid4()
    return [click_row(sid, user, kind, product, start + timedelta(minutes=i), "mobile")
            for i, (kind, product) in enumerate(steps)]  # fmt: skip


def relations(conn: psycopg.Connection, schema: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = %s AND table_type = 'BASE TABLE' ORDER BY 1", (schema,))]  # fmt: skip


def differences(conn: psycopg.Connection, schema: str, snapshot: str) -> dict[str, int]:
    out = {}
    for name in relations(conn, snapshot):
        columns = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (schema, name)) if r[0] not in CLOCK_COLUMNS]  # fmt: skip
        c = sql.SQL(", ").join(map(sql.Identifier, columns))
        a, b = sql.Identifier(schema, name), sql.Identifier(snapshot, name)
        out[name] = conn.execute(sql.SQL(
            "SELECT count(*) FROM ((SELECT {c} FROM {a} EXCEPT ALL SELECT {c} FROM {b}) "
            "UNION ALL (SELECT {c} FROM {b} EXCEPT ALL SELECT {c} FROM {a})) AS d").format(c=c, a=a, b=b)
        ).fetchone()[0]  # fmt: skip
    return out


def build(dbt: DbtResource, args: list[str], target: Path) -> dict[str, int]:
    result = dbt.run([*args, "--target-path", str(target)])
    assert result.returncode == 0, result.output[-4000:]
    return {
        r["unique_id"].split(".")[-1]: r["adapter_response"].get("rows_affected", -1)
        for r in json.loads((target / "run_results.json").read_text())["results"]
        if r["unique_id"].startswith("model.")
    }


def test_incremental_marts_equal_a_full_rebuild_after_late_and_out_of_order_events(
    settings: Settings, tmp_path: Path
) -> None:
    db = settings.database_conninfo
    dbt = DbtResource.from_settings(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    day = timedelta(days=1)
    moved = session("U1", now - day, [("page_view", None), ("product_view", "P007"), ("add_to_cart", "P007")])
    history = [
        *moved,  # the only session starting yesterday: a late earlier event moves it to 3 days ago
        *session(
            "U2", now - 2 * day, [("product_view", "P001"), ("add_to_cart", "P001"), ("purchase", "P001")]
        ),
        *session("U3", now - 5 * day, [("page_view", None), ("page_view", None)]),
        *session("U4", now - timedelta(hours=2), [("product_view", "P013"), ("purchase", "P013")]),
    ]
    with psycopg.connect(db) as conn:
        insert_click_rows(conn, history)
        # History landed as it happened (beyond the lookback of the runs that follow).
        conn.execute("UPDATE clickstream_events SET ingested_at = event_time + interval '1 second'")
    build(dbt, ["build", "--full-refresh"], tmp_path / "first")

    moved_session, moved_user = moved[0][2], moved[0][1]
    late = [
        # an earlier first event for yesterday's session, arriving now
        click_row(moved_session, moved_user, "product_view", "P002", now - 3 * day, "mobile"),
        # a burst for last week in reverse time order, a new product for an old session
        *reversed(
            session(
                "U5", now - 6 * day, [("product_view", "P003"), ("add_to_cart", "P003"), ("purchase", "P003")]
            )
        ),
        click_row(history[3][2], "U2", "product_view", "P004", now - 2 * day + timedelta(hours=1), "tablet"),
        # and the present
        *session("U6", now - timedelta(minutes=3), [("page_view", None), ("product_view", "P009")]),
    ]
    with psycopg.connect(db) as conn:
        insert_click_rows(conn, late)
        # A batch whose transaction began before the newest row the marts hold and committed after their
        # run: it landed "in the past", within the lookback.
        newest = conn.execute("SELECT max(landed_through) FROM marts.hourly_demand").fetchone()[0]
        straggler = session("U7", now - 4 * day, [("product_view", "P005"), ("purchase", "P005")])
        conn.cursor().executemany(
            "INSERT INTO clickstream_events (event_id, user_id, session_id, event_type, product_id, "
            "product_name, product_category, product_price, device_type, event_time, ingested_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(*row, newest - timedelta(seconds=60)) for row in straggler],
        )

    rows = build(dbt, list(JOB_ARGS), tmp_path / "incremental")
    with psycopg.connect(db, autocommit=True) as conn:
        held = conn.execute("SELECT count(*) FROM marts.int_session_funnel").fetchone()[0]
        assert 0 < rows["int_session_funnel"] < held, "the run must only rewrite the changed sessions"
        conn.execute("CREATE SCHEMA incremental")
        for name in relations(conn, "marts"):
            conn.execute(sql.SQL("CREATE TABLE {} AS SELECT * FROM {}").format(
                sql.Identifier("incremental", name), sql.Identifier("marts", name)))  # fmt: skip
        funnel_days = {r[0] for r in conn.execute("SELECT event_date FROM incremental.daily_funnel_metrics")}
        moved_days = {
            r[0]
            for r in conn.execute(
                "SELECT session_date FROM incremental.int_session_funnel WHERE session_id = %s",
                (moved_session,),
            )
        }
    # By the session's own day, not by "yesterday" being empty: within two hours after midnight UTC another
    # session of this test starts yesterday too.
    assert moved_days == {(now - 3 * day).date()}, "yesterday's session now starts 3 days ago"
    assert (now - 3 * day).date() in funnel_days

    build(dbt, ["run", "--full-refresh"], tmp_path / "rebuild")
    with psycopg.connect(db) as conn:
        assert differences(conn, "marts", "incremental") == dict.fromkeys(relations(conn, "incremental"), 0)
