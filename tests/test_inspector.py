"""The event inspector's Python side, without a browser: what the kernel sends to the
widget for each thing the browser asks (filters, a selected row, older rows, pause),
how it follows the collector, and the history when the notebook sends to Segment."""

from __future__ import annotations

import time

import pytest
from conftest import run

from segment_magics import SegmentClient
from segment_magics.inspector import CollectorFeed, EventInspector, HistoryFeed
from segment_magics.inspector.feed import PAGE_ROWS
from segment_magics.inspector.widget import MAX_ROWS
from segment_magics.plan import PlanValidator, parse_compact
from segment_magics.session import get_session

PLAN = "Order Completed\n  total: number! >= 0\n  currency: string in [USD, EUR]\n"


@pytest.fixture
def checked(collector):
    collector.use_plan(PlanValidator(parse_compact(PLAN)))
    client = SegmentClient(endpoint=collector.url)
    client.track("Order Completed", user_id="ada", properties={"total": 5, "currency": "USD"})
    client.track("Order Completed", user_id="bob", properties={"total": -1, "currency": "GBP"})
    client.track("Order Completed", user_id="cy", properties={"total": -2, "currency": "USD"})
    client.identify("ada", traits={"plan": "pro"})
    return collector


def test_rows_filters_detail_and_groups(checked):
    widget = EventInspector(CollectorFeed(checked.store, "local"), live=False)
    assert widget.matching == 4 and len(widget.rows) == 4
    assert [r["label"] for r in widget.rows][:1] == [""]  # the identify, newest first
    widget.filters = {"verdict": "violations"}
    assert sorted(r["user"] for r in widget.rows) == ["bob", "cy"]
    assert all(any(b["kind"] == "bad" for b in r["badges"]) for r in widget.rows)
    bob = next(r for r in widget.rows if r["user"] == "bob")
    widget.selected = bob["id"]
    detail = widget.detail
    assert '"currency": "GBP"' in detail["payload"]
    by_path = {v["field"]: v for v in detail["violations"]}
    assert (
        by_path["properties.total"]["value"] == "-1"
        and "minimum" in by_path["properties.total"]["expected"]
    )
    assert by_path["properties.currency"]["value"] == '"GBP"'
    groups = {(g["event"], g["field"]): g for g in widget.groups}
    assert groups[("Order Completed", "properties.total")]["count"] == 2
    assert groups[("Order Completed", "properties.currency")]["count"] == 1
    widget.filters = {"field": "properties.currency"}  # what clicking that group does
    assert [r["user"] for r in widget.rows] == ["bob"]
    widget.filters = {"q": "ada", "type": "identify"}
    assert [r["type"] for r in widget.rows] == ["identify"]


def test_a_missing_member_is_told_from_a_null_one(checked):
    """The widget showed a missing required property's value as ``null``, where the
    collector's page says "(missing)"; an explicit null is still ``null``."""
    SegmentClient(endpoint=checked.url).track(
        "Order Completed", user_id="dee", properties={"currency": None}
    )
    widget = EventInspector(CollectorFeed(checked.store, "local"), live=False)
    widget.selected = next(r["id"] for r in widget.rows if r["user"] == "dee")
    values = {v["field"]: v["value"] for v in widget.detail["violations"]}
    assert values == {"properties.total": "(missing)", "properties.currency": "null"}


def test_pages_of_older_rows_and_a_bound_on_what_the_browser_holds(collector):
    client = SegmentClient(endpoint=collector.url)
    client.send_many([{"type": "track", "event": "Many", "userId": f"u{n}"} for n in range(1_500)],
                     progress=False)  # fmt: skip
    widget = EventInspector(CollectorFeed(collector.store, "local"), live=False)
    assert widget.matching == 1_500 and len(widget.rows) == PAGE_ROWS and widget.more
    for _ in range(20):
        widget.load_older()
    assert len(widget.rows) == MAX_ROWS and not widget.more
    ids = [r["id"] for r in widget.rows]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)


def test_live_updates_are_batched_and_pause_holds_them(collector):
    widget = EventInspector(CollectorFeed(collector.store, "local"), interval=0.1)
    refreshes = []
    original = widget.refresh
    widget.refresh = lambda: (refreshes.append(time.monotonic()), original())[1]  # type: ignore[method-assign]
    try:
        client = SegmentClient(endpoint=collector.url)
        started = time.monotonic()
        client.send_many([{"type": "track", "event": "Burst", "userId": f"u{n}"}
                          for n in range(20_000)], progress=False)  # fmt: skip
        took = time.monotonic() - started
        deadline = time.monotonic() + 5
        while widget.matching < 20_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert widget.matching == 20_000 and len(widget.rows) == PAGE_ROWS
        assert len(refreshes) <= (took + 1) * 10 + 2  # at most ten updates a second
        widget.paused = True
        client.track("While paused", user_id="p")
        time.sleep(0.4)
        assert widget.waiting == 1 and widget.rows[0]["label"] == "Burst"
        widget.paused = False
        assert widget.rows[0]["label"] == "While paused" and widget.waiting == 0
    finally:
        widget.close()


def test_the_magic_follows_the_session_and_its_plan(make_shell):
    """With the ecommerce template loaded, the collector checks what arrives against it:
    a backfill's violations are counted the same in the notebook and in the inspector."""
    shell = make_shell(progress=False)
    run(shell, "%segment_connect local")
    run(shell, "%segment_plan load ecommerce")
    shell.user_ns["rows"] = [{"userId": f"u{n}", "order_id": f"o{n}", "revenue": -n}
                             for n in range(1, 201)]  # fmt: skip
    sent = run(shell, '%segment_track "Order Completed" --from rows -o backfill')
    widget = run(shell, "%segment_debugger").result
    try:
        assert isinstance(widget, EventInspector) and "E-commerce" in widget.source
        result = shell.user_ns["backfill"]
        assert result.plan_violations == 200, sent.text
        assert widget.counts["invalid"] == result.plan_violations
        assert sum(g["count"] for g in widget.groups if g["field"] == "properties.revenue") == 200
    finally:
        widget.close()


def test_a_notebook_that_sends_to_segment_sees_its_history(make_shell, faults, monkeypatch):
    monkeypatch.setenv("SEGMENT_WRITE_KEY", "k")
    shell = make_shell(faults.url)
    run(shell, "%segment_plan load ecommerce")
    run(shell, '%segment_track "Order Completed" --user-id u1 --properties {"order_id": "o1"}')
    run(shell, "%segment_identify u1 --email ada@example.com")
    widget = run(shell, "%segment_debugger").result
    try:
        assert isinstance(widget._feed, HistoryFeed)
        assert "What this notebook sent to" in widget.source and faults.url in widget.source
        assert [r["type"] for r in widget.rows] == ["identify", "track"]
        widget.selected = widget.rows[1]["id"]
        assert '"order_id": "o1"' in widget.detail["payload"]
        widget.filters = {"type": "identify"}
        assert [r["type"] for r in widget.rows] == ["identify"]
        run(shell, '%segment_track "Signed Up" --user-id u2')
        deadline = time.monotonic() + 3
        while widget.matching < 1 + 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        widget.filters = {}
        time.sleep(0.3)
        assert widget.matching == 3
    finally:
        widget.close()


def test_the_debugger_function_is_the_same_as_the_magic(make_shell, monkeypatch):
    import IPython

    import segment_magics

    shell = make_shell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)  # the notebook's own shell
    run(shell, "%segment_connect local")
    widget = segment_magics.debugger()
    try:
        assert isinstance(widget, EventInspector)
        assert get_session(shell).collector is not None
    finally:
        widget.close()
