"""Segment's official SDKs, unmodified, against the local collector: every call they make
arrives once under its own messageId, with no write key kept, and with the plan's verdict.
The Node SDK comes from npm (`make node-sdk`, run by `make test`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import SENTINEL_KEY

from segment_magics import start_collector
from segment_magics.collector import Collector
from segment_magics.plan import parse_compact

NODE_SDK = Path(__file__).resolve().parents[1] / "build" / "node-sdk"
PLAN = parse_compact("""\
Order Completed
  order_id: string!
  total: number >= 0
""")


@pytest.fixture
def checking() -> Iterator[Collector]:
    with start_collector(port=0, plan=PLAN) as running:
        yield running


def stored(collector: Collector) -> list[dict[str, Any]]:
    response = requests.get(f"{collector.url}/v1/events", params={"limit": 1000}, timeout=5)
    events: list[dict[str, Any]] = [r["payload"] for r in response.json()["events"]]
    return events


def assert_arrived_once(collector: Collector, ids: list[str]) -> list[dict[str, Any]]:
    events = stored(collector)
    arrived = [e["messageId"] for e in events]
    assert sorted(arrived) == sorted(ids)
    raw = requests.get(f"{collector.url}/v1/events", params={"limit": 1000}, timeout=5).text
    assert SENTINEL_KEY not in raw
    return events


def every_call() -> list[tuple[str, dict[str, Any]]]:
    """Each of the six calls (track twice: one breaks the plan), in the SDKs' camelCase
    field names."""
    return [
        ("identify", {"userId": "ada", "traits": {"plan": "pro", "born": "1990-01-02"}}),
        ("track", {"userId": "ada", "event": "Order Completed",
                   "properties": {"order_id": "o1", "total": 5}}),
        ("track", {"userId": "bob", "event": "Order Completed", "properties": {"total": -1}}),
        ("page", {"anonymousId": "anon-1", "name": "Pricing", "properties": {"path": "/pricing"}}),
        ("screen", {"userId": "ada", "name": "Checkout"}),
        ("group", {"userId": "ada", "groupId": "g1", "traits": {"seats": 3}}),
        ("alias", {"userId": "ada", "previousId": "anon-1"}),
    ]  # fmt: skip


def with_ids(calls: list[tuple[str, dict[str, Any]]], prefix: str) -> list[str]:
    """Give every call a known messageId, to count on arrival."""
    ids = []
    for n, (_, params) in enumerate(calls):
        params["messageId"] = f"{prefix}-{n}"
        ids.append(params["messageId"])
    return ids


def check_verdicts(records: list[dict[str, Any]], prefix: str) -> None:
    by_id = {r["payload"]["messageId"]: r["verdict"] for r in records}
    assert by_id[f"{prefix}-1"]["valid"] is True
    assert by_id[f"{prefix}-2"]["valid"] is False
    assert [v for v in by_id.values() if v["dropped"]] == []  # Segment would keep every one


@pytest.mark.parametrize("gzip", [False, True])
def test_analytics_python_every_call_arrives_once(checking, gzip):
    from segment.analytics import Client

    calls = every_call()
    ids = with_ids(calls, f"py-{gzip}")
    errors: list[Exception] = []
    client = Client(SENTINEL_KEY, host=checking.url, gzip=gzip, sync_mode=True, max_retries=0,
                    on_error=lambda exc, batch: errors.append(exc))  # fmt: skip
    python_names = {"userId": "user_id", "anonymousId": "anonymous_id", "messageId": "message_id",
                    "groupId": "group_id", "previousId": "previous_id"}  # fmt: skip
    for method, params in calls:
        getattr(client, method)(**{python_names.get(k, k): v for k, v in params.items()})
    assert errors == []
    assert_arrived_once(checking, ids)
    check_verdicts(checking.records(), f"py-{gzip}")


NODE_SCRIPT = """
const { Analytics } = require("@segment/analytics-node");
const [host, writeKey] = [process.argv[1], process.env.SEGMENT_WRITE_KEY];
const calls = JSON.parse(require("fs").readFileSync(0, "utf8"));
const analytics = new Analytics({ writeKey, host, maxEventsInBatch: 3, maxRetries: 0 });
const statuses = [];
analytics.on("error", (err) => {
  console.error(err.code + ": " + String(err.reason && (err.reason.stack || err.reason.message) || err.reason));
  process.exitCode = 3;
});
analytics.on("http_request", (r) => statuses.push(r.method + " " + r.url));
for (const [method, params] of calls) analytics[method](params);
analytics.closeAndFlush().then(() => console.log(JSON.stringify(statuses)));
"""


def run_node(collector: Collector, calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    done = subprocess.run(
        [shutil.which("node") or "node", "-e", NODE_SCRIPT, collector.url],
        input=json.dumps(calls), capture_output=True, text=True, timeout=60,
        env={**os.environ, "NODE_PATH": str(NODE_SDK / "node_modules"),
             "SEGMENT_WRITE_KEY": SENTINEL_KEY},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    requests_made: list[str] = json.loads(done.stdout)
    return requests_made


node_sdk = pytest.mark.skipif(
    not (NODE_SDK / "node_modules" / "@segment" / "analytics-node").exists()
    and not os.environ.get("CI"),
    reason="the Node SDK is not installed (make test installs it; CI never skips)",
)


@node_sdk
def test_analytics_node_every_call_arrives_once_in_batches(checking):
    calls = every_call()
    ids = with_ids(calls, "node")
    requests_made = run_node(checking, calls)
    # seven calls, at most three per batch: three POSTs to /v1/batch with Basic auth
    assert requests_made == [f"POST {checking.url}/v1/batch"] * 3
    events = assert_arrived_once(checking, ids)
    check_verdicts(checking.records(), "node")
    assert all(e["context"]["library"]["name"] == "@segment/analytics-node" for e in events)
    assert all("writeKey" not in e for e in events)


@node_sdk
def test_analytics_node_many_events_all_arrive(collector):
    calls = [("track", {"userId": f"u{n % 7}", "event": "Viewed", "messageId": f"bulk-{n}",
                        "properties": {"n": n, "blob": "x" * 200}}) for n in range(1200)]  # fmt: skip
    run_node(collector, calls)
    assert collector.message_ids() == {f"bulk-{n}" for n in range(1200)}
    assert collector.count() == 1200
