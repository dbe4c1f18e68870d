"""The Slack-compatible message shape and the alert model, without a database or a webhook."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pricing_platform.alerting.store import Alert, SyncResult
from pricing_platform.alerting.webhook import slack_payload


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
