"""The Slack-compatible message shapes, the alert model and the decisions behind hysteresis, price-move
re-notification, the first-run summary, the daily cap and the digest, without a database or a webhook."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pricing_platform.alerting.decisions import (
    Direction,
    Message,
    Pending,
    Plan,
    clears_now,
    digest_due,
    moved,
    plan_messages,
)
from pricing_platform.alerting.rules import AlertRules, price_moved_further
from pricing_platform.alerting.store import Alert, SyncResult
from pricing_platform.alerting.webhook import digest_payload, slack_payload, summary_payload
from pricing_platform.core.settings import Settings, default_settings


def stock_out() -> Alert:
    return Alert(
        condition_key="stock:P001:WH-LAGOS",
        kind="stock",
        severity="critical",
        title="Stock out: P001 (Samsung Galaxy S24) at WH-LAGOS",
        context={"product_id": "P001", "stock": 0, "units_per_h": 2.5, "hours_left": None},
    )


def test_open_alert_payload_is_slack_blocks_with_a_text_fallback() -> None:
    payload = slack_payload(stock_out(), opened_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC))

    json.dumps(payload)  # plain JSON
    assert payload["text"] == ":red_circle: *CRITICAL* Stock out: P001 (Samsung Galaxy S24) at WH-LAGOS"
    headline, details, footer = payload["blocks"]
    assert headline == {"type": "section", "text": {"type": "mrkdwn", "text": payload["text"]}}
    assert details["type"] == "section"
    assert [f["text"] for f in details["fields"]] == [
        "*product_id*\nP001",
        "*stock*\n0",
        "*units_per_h*\n2.5",
        "*hours_left*\nn/a",
    ]
    assert all(f["type"] == "mrkdwn" for f in details["fields"])
    assert footer["type"] == "context"
    assert footer["elements"] == [
        {"type": "mrkdwn", "text": "`stock:P001:WH-LAGOS` · stock · opened 2026-11-26T12:00:00+00:00"}
    ]


def test_resolved_payload() -> None:
    payload = slack_payload(stock_out(), resolved=True)
    assert payload["text"] == ":white_check_mark: *RESOLVED* Stock out: P001 (Samsung Galaxy S24) at WH-LAGOS"


def test_payload_respects_slack_limits_and_escapes_mrkdwn() -> None:
    alert = Alert(
        condition_key="asset_check:orders:x",
        kind="asset_check",
        severity="warning",
        title="<!channel> & friends",
        context={f"k{i}": "v" * 5000 for i in range(15)},
    )
    payload = slack_payload(alert)
    assert payload["text"] == ":large_orange_circle: *WARNING* &lt;!channel&gt; &amp; friends"
    fields = payload["blocks"][1]["fields"]
    assert len(fields) == 10
    assert all(len(f["text"]) <= 2000 for f in fields)


def test_payload_without_context_has_no_empty_fields_section() -> None:
    alert = Alert(condition_key="x:1", kind="x", severity="info", title="note")
    assert [b["type"] for b in slack_payload(alert)["blocks"]] == ["section", "context"]


def test_severity_is_validated() -> None:
    with pytest.raises(ValueError, match="severity"):
        Alert(condition_key="x:1", kind="x", severity="fatal", title="t")  # type: ignore[arg-type]


def test_summary_lists_the_most_severe_first() -> None:
    warning = Alert(
        condition_key="stock:P002:WH-PH", kind="stock", severity="warning", title="Low stock: P002"
    )
    result = SyncResult(opened=[warning], cleared=[], still_open=[stock_out()], notify_failures=1)
    assert result.summary("stock").splitlines() == [
        "2 open stock alert(s) (1 critical, 1 warning); opened 1, cleared 0 this evaluation; "
        "1 webhook post(s) failed, retried next evaluation",
        "- [critical] Stock out: P001 (Samsung Galaxy S24) at WH-LAGOS",
        "- [warning] Low stock: P002",
    ]


# --- hysteresis, price moves, first run, cap and digest (pure decisions) ------------------------------


@pytest.mark.parametrize(
    ("missed_before", "clear_after", "clears"),
    [(0, 1, True), (0, 3, False), (1, 3, False), (2, 3, True), (5, 3, True)],
)
def test_an_alert_clears_after_n_consecutive_misses(
    missed_before: int, clear_after: int, clears: bool
) -> None:
    assert clears_now(missed_before, clear_after) is clears


@pytest.mark.parametrize(
    ("reference", "price", "direction", "expected"),
    [
        (100.0, 100.0, "both", False),  # unchanged: never news
        (100.0, 95.0, "down", True),  # exactly the minimum
        (100.0, 95.01, "down", False),
        (100.0, 105.0, "down", False),  # the wrong way
        (100.0, 105.0, "up", True),
        (100.0, 95.0, "up", False),
        (100.0, 94.0, "both", True),
        (100.0, 106.0, "both", True),
        (0.0, 10.0, "both", False),  # no reference price to move from
    ],
)
def test_a_price_move_counts_in_the_watched_direction_from_the_minimum(
    reference: float, price: float, direction: Direction, expected: bool
) -> None:
    assert moved(reference, price, direction, 5.0) is expected


def rules(**override: object) -> AlertRules:
    return AlertRules.from_settings(default_settings().model_copy(update=override))


def move_alert(price: float) -> Alert:
    return Alert(
        "competitor_price_move:P001:TechMart",
        "competitor_price_move",
        "info",
        "TechMart moved its price of P001",
        {"competitor_price": price},
    )


def test_a_price_move_is_renotified_only_when_it_moves_the_minimum_further() -> None:
    down = rules(alert_price_move_direction="down", alert_price_move_min_pct=5.0)
    announced = {"competitor_price": 90.0}
    assert not price_moved_further(down, announced, move_alert(90.0))  # unchanged
    assert not price_moved_further(down, announced, move_alert(87.0))  # -3.3 %: not far enough
    assert price_moved_further(down, announced, move_alert(85.5))  # -5 % from what was announced
    assert not price_moved_further(down, announced, move_alert(99.0))  # back up: not a further drop
    assert price_moved_further(rules(alert_price_move_direction="both"), announced, move_alert(99.0))
    assert not price_moved_further(down, {}, move_alert(10.0))  # never announced: nothing to compare


def test_undercut_clear_threshold_must_be_below_the_open_one() -> None:
    with pytest.raises(ValueError, match=r"UNDERCUT_CLEAR_PCT .* must be below UNDERCUT_PCT"):
        Settings(_env_file=None, undercut_pct=10.0, undercut_clear_pct=10.0)  # type: ignore[call-arg]


def pending(alert_id: int, severity: str = "warning", resolved: bool = False) -> Pending:
    return Pending(alert_id, severity, resolved)


def plan(items: list[Pending], **state: object) -> Plan:
    args: dict[str, Any] = {
        "summary_due": False,
        "digest_due": False,
        "sent_today": 0,
        "daily_cap": 30,
        "cap_notice_sent": False,
        "max_posts": 20,
    }
    return plan_messages(items, **(args | state))


def test_first_run_sends_one_summary_of_every_open_alert() -> None:
    result = plan([pending(1, "critical"), pending(2), pending(3, "info")], summary_due=True)
    assert result.messages == [Message("summary", (1, 2, 3))]
    assert plan([], summary_due=True).messages == []


def test_one_message_per_alert_and_low_severity_waits_for_the_digest() -> None:
    items = [pending(1, "critical"), pending(2, "info"), pending(3, resolved=True), pending(4, "info", True)]
    assert plan(items).messages == [Message("alert", (1,)), Message("resolved", (3,))]
    assert plan(items, digest_due=True).messages == [
        Message("alert", (1,)),
        Message("resolved", (3,)),
        Message("digest", (2, 4)),
    ]
    assert plan([pending(1)], digest_due=True).messages == [Message("alert", (1,))], "no empty digest"


def test_the_daily_cap_holds_the_rest_back_with_one_notice_a_day() -> None:
    items = [pending(i) for i in range(1, 6)]
    capped = plan(items, sent_today=27)
    assert capped.messages == [
        Message("alert", (1,)),
        Message("alert", (2,)),
        Message("alert", (3,)),
        Message("cap_reached", (4, 5)),
    ]
    assert capped.held == (4, 5)
    # The notice went out already today: silence until tomorrow.
    assert plan(items, sent_today=30, cap_notice_sent=True) == Plan([], (1, 2, 3, 4, 5))
    # A digest counts as one message against the cap.
    digest = plan([pending(1, "info"), pending(2, "info")], digest_due=True, sent_today=29)
    assert digest.messages == [Message("digest", (1, 2))] and digest.held == ()


def test_posts_per_evaluation_are_bounded_without_counting_as_held() -> None:
    result = plan([pending(i) for i in range(1, 26)])
    assert len(result.messages) == 20 and result.held == ()


def test_digest_is_due_once_per_interval() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert digest_due(None, now, 3600)
    assert not digest_due(now - timedelta(minutes=59), now, 3600)
    assert digest_due(now - timedelta(minutes=60), now, 3600)
    assert digest_due(now, now, 0)


def test_summary_and_digest_payloads_list_the_alerts() -> None:
    move = Alert(
        "competitor_price_move:P001:TechMart",
        "competitor_price_move",
        "info",
        "TechMart moved its price of P001",
        {"summary": "100.00 → 90.00 (-10.0 % in 24 h)"},
    )
    summary = summary_payload("stock", [stock_out(), move])
    assert summary["text"] == ":bell: *2 stock alert(s) open at the first evaluation* (1 critical, 1 info)"
    assert summary["blocks"][1]["text"]["text"].splitlines() == [
        "• [critical] Stock out: P001 (Samsung Galaxy S24) at WH-LAGOS",
        "• [info] TechMart moved its price of P001: 100.00 → 90.00 (-10.0 % in 24 h)",
    ]
    digest = digest_payload("competitor_price_move", [move], [move])
    assert (
        digest["text"] == ":memo: *Digest of low-severity competitor price move alerts*: 1 open, 1 resolved"
    )
    assert digest["blocks"][1]["text"]["text"].splitlines()[1].startswith("• :white_check_mark: TechMart")
    many = summary_payload("stock", [stock_out()] * 30)["blocks"][1]["text"]["text"].splitlines()
    assert len(many) == 26 and many[-1] == "… and 5 more"
