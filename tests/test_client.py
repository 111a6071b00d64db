"""SegmentClient against real servers on 127.0.0.1: what arrives, and every status case."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time

import pytest
import requests
from conftest import SENTINEL_KEY, Step, fast_client

from segment_magics import SegmentClient, __version__
from segment_magics.client import resolve_endpoint
from segment_magics.errors import ValidationError
from segment_magics.messages import MAX_BATCH_MESSAGES


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def test_track_lands_on_the_collector_with_auth_and_fields(faults):
    client = fast_client(faults.url)
    result = client.track(
        "Order Completed",
        user_id="u1",
        properties={"order_id": "ord_987", "total": 99.0},
        context={"ip": "8.8.8.8"},
        timestamp="2024-01-15T10:30:00Z",
    )
    assert result.ok and result.to_dict() == {
        "Sent": True,
        "ResponseBody": {"success": True},
        "OriginalStatusCode": 200,
        "StatusCode": 200,
        "ErrorMessage": "",
    }
    (request,) = faults.received
    assert request.path == "/v1/track"
    assert request.headers["Authorization"] == basic(SENTINEL_KEY)
    assert request.headers["User-Agent"] == f"segment-magics/{__version__}"
    assert request.headers["Content-Type"] == "application/json"
    body = request.body
    assert body["type"] == "track" and body["event"] == "Order Completed"
    assert body["userId"] == "u1"
    assert body["properties"] == {"order_id": "ord_987", "total": 99.0}
    assert body["context"]["ip"] == "8.8.8.8"
    assert body["timestamp"] == "2024-01-15T10:30:00.000Z"
    assert body["messageId"] == result.message_id
    assert body["sentAt"].endswith("Z")
    assert "writeKey" not in body


@pytest.mark.parametrize(
    ("method", "args", "fields", "path", "expect"),
    [
        ("identify", ("u1",), {"email": "a@b.c", "traits": {"plan": "pro"}}, "identify",
         {"traits": {"plan": "pro", "email": "a@b.c"}}),
        ("page", ("Pricing",), {"user_id": "u1", "category": "Docs",
                                "properties": {"path": "/pricing"}}, "page",
         {"name": "Pricing", "category": "Docs", "properties": {"path": "/pricing"}}),
        ("screen", ("Home",), {"anonymous_id": "a1"}, "screen",
         {"name": "Home", "anonymousId": "a1"}),
        ("group", ("acme",), {"user_id": "u1", "traits": {"employees": 50}}, "group",
         {"groupId": "acme", "traits": {"employees": 50}}),
        ("alias", ("anon-1", "u1"), {}, "alias", {"previousId": "anon-1", "userId": "u1"}),
    ],
)  # fmt: skip
def test_every_call_reaches_its_route(collector, method, args, fields, path, expect):
    client = SegmentClient(endpoint=collector.url)
    result = getattr(client, method)(*args, **fields)
    assert result.ok, result.error_message
    (stored,) = collector.events()
    assert stored["type"] == path
    for key, value in expect.items():
        assert stored[key] == value
    assert stored["messageId"] == result.message_id


def test_503_twice_then_200_is_one_delivery_with_one_message_id(faults):
    faults.then(Step(503), Step(503))
    result = fast_client(faults.url).track("Signed Up", user_id="u1")
    assert result.ok and result.attempts == 3
    ids = {r.body["messageId"] for r in faults.received}
    assert ids == {result.message_id}
    assert [r.headers.get("X-Retry-Count") for r in faults.received] == [None, "1", "2"]
    sent_ats = [r.body["sentAt"] for r in faults.received]
    assert len(sent_ats) == 3  # sentAt recomputed on every attempt


def test_429_honours_retry_after(faults):
    faults.then(Step(429, headers={"Retry-After": "1"}, body=b'{"message": "slow down"}'))
    start = time.monotonic()
    result = fast_client(faults.url).track("e", user_id="u")
    assert result.ok and result.attempts == 2
    assert time.monotonic() - start >= 0.95


def test_retry_after_beyond_the_budget_gives_up_as_500(faults):
    faults.then(Step(429, headers={"Retry-After": "60"}))
    client = fast_client(faults.url, max_retry_after=60, budget=2)
    start = time.monotonic()
    result = client.track("e", user_id="u")
    assert time.monotonic() - start < 1.5
    assert result.status_code == 500 and result.original_status_code == 429
    assert result.sent and not result.ok
    assert "budget" in result.error_message


def test_5xx_until_retries_run_out_is_500(faults):
    faults.then(*[Step(502)] * 10)
    result = fast_client(faults.url, max_retries=2).track("e", user_id="u")
    assert result.status_code == 500 and result.original_status_code == 502
    assert len(faults.received) == 3
    assert "gave up after 3 attempts" in result.error_message
    once = fast_client(faults.url, max_retries=0).track("e", user_id="u")
    assert "gave up after 1 attempt" in once.error_message
    assert "1 attempts" not in once.error_message


@pytest.mark.parametrize("status", [501, 505])
def test_501_and_505_are_not_retried(faults, status):
    faults.then(Step(status, body=b"nope"))
    result = fast_client(faults.url).track("e", user_id="u")
    assert len(faults.received) == 1
    assert result.status_code == 200 and result.original_status_code == status
    assert not result.ok


def test_400_with_json_message_is_200_with_the_api_message(faults):
    body = json.dumps({"success": False, "message": "An invalid write key was provided"})
    faults.then(Step(400, body=body.encode()))
    result = fast_client(faults.url).track("e", user_id="u")
    assert len(faults.received) == 1
    assert result.to_dict() == {
        "Sent": True,
        "ResponseBody": {"success": False, "message": "An invalid write key was provided"},
        "OriginalStatusCode": 400,
        "StatusCode": 200,
        "ErrorMessage": "400: An invalid write key was provided",
    }
    assert not result.ok


def test_400_with_non_json_body_carries_the_status_text(faults):
    faults.then(Step(400, body=b"Bad Request"))
    result = fast_client(faults.url).track("e", user_id="u")
    assert result.response_body == {}
    assert result.error_message == "400 Bad Request"
    assert result.status_code == 200 and not result.ok


def test_connection_refused_is_500_and_not_sent(dead_url):
    result = fast_client(dead_url, max_retries=1).track("e", user_id="u")
    assert result.status_code == 500 and result.original_status_code == 0
    assert result.sent is False
    assert "refused" in result.error_message


def test_slow_response_times_out_then_retry_succeeds(faults):
    faults.then(Step(delay=1.5))
    client = fast_client(faults.url, timeout=0.5)
    result = client.track("e", user_id="u")
    assert result.ok and result.attempts == 2
    assert {r.body["messageId"] for r in faults.received} == {result.message_id}


def test_timeout_every_time_is_500_and_sent(faults):
    faults.then(*[Step(delay=1.0)] * 3)
    result = fast_client(faults.url, timeout=0.3, max_retries=1).track("e", user_id="u")
    assert result.status_code == 500 and result.sent is True
    assert "no complete answer within the 0.3 s timeout" in result.error_message


def test_dropped_connection_is_retried(faults):
    faults.then(Step(drop=True))
    result = fast_client(faults.url).track("e", user_id="u")
    assert result.ok and result.attempts == 2


def test_validation_error_sends_nothing(faults):
    result = fast_client(faults.url).track("", user_id="u")
    assert result.to_dict() == {
        "Sent": False,
        "ResponseBody": {},
        "OriginalStatusCode": 0,
        "StatusCode": -1,
        "ErrorMessage": "event: track needs a non-empty event name, e.g. 'Order Completed'",
    }
    assert faults.received == []


def test_unknown_keyword_is_a_validation_error(faults):
    result = fast_client(faults.url).track("e", user_id="u", propertys={})
    assert result.status_code == -1 and "propertys" in result.error_message
    assert faults.received == []


def test_dry_run_builds_but_sends_nothing(faults):
    result = fast_client(faults.url).track("e", user_id="u", dry_run=True)
    assert result.to_dict() == {
        "Sent": False,
        "ResponseBody": {},
        "OriginalStatusCode": 0,
        "StatusCode": 200,
        "ErrorMessage": "",
    }
    assert result.ok and result.message["event"] == "e"
    assert faults.received == []


def test_remote_endpoint_without_key_is_a_validation_error(monkeypatch):
    monkeypatch.delenv("SEGMENT_WRITE_KEY", raising=False)
    result = SegmentClient(endpoint="https://api.segment.io").track("e", user_id="u")
    assert result.status_code == -1 and not result.sent
    assert "SEGMENT_WRITE_KEY" in result.error_message


def test_write_key_from_environment(monkeypatch, faults):
    monkeypatch.setenv("SEGMENT_WRITE_KEY", "from-env-key")
    client = SegmentClient(endpoint=faults.url)
    assert client.track("e", user_id="u").ok
    assert faults.received[0].headers["Authorization"] == basic("from-env-key")
    assert client.key_source == "$SEGMENT_WRITE_KEY"


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("timeout", "x", "timeout: 'x' is not a number of seconds"),
        ("timeout", -1, "timeout: -1 seconds is out of range"),
        ("timeout", 0, "give more than 0 to 86400"),
        ("timeout", float("inf"), "timeout: inf is not a number of seconds"),
        ("timeout", float("nan"), "timeout: nan is not a number"),
        ("timeout", True, "timeout: True is not a number"),
        ("max_retries", -1, "max_retries: -1 is not a number of retries; give 0 to 100"),
        ("max_retries", "3", "max_retries: '3' is not a number of retries"),
        ("retry_budget", -5, "retry_budget: -5 seconds is out of range; give 0 to 86400"),
        ("max_retry_after", -1, "max_retry_after: -1 seconds is out of range"),
        ("gzip", "no", "gzip: 'no' is not True or False"),
        ("dry_run", 1, "dry_run: 1 is not True or False"),
        ("write_key", 5, "write_key: must be text, not int"),
    ],
)
def test_a_setting_out_of_range_is_refused_by_name_before_anything_is_sent(
    faults, setting, value, words
):
    """Before: a timeout of -1 failed every send with "ValueError", "x" and inf raised
    from our code on the first call, and negative retries or budgets were taken."""
    with pytest.raises(ValidationError) as refused:
        SegmentClient(**{"write_key": "key", "endpoint": faults.url, setting: value})
    assert str(refused.value).startswith(words) or words in str(refused.value)
    assert faults.received == []


def test_settings_in_range_are_taken():
    import numpy as np

    client = SegmentClient("key", endpoint="http://127.0.0.1:9", timeout=np.float64(2.5),
                           max_retries=np.int64(0), retry_budget=0)  # fmt: skip
    assert client.timeout == 2.5 and client.policy.max_retries == 0


def test_endpoints_resolve():
    assert resolve_endpoint("us") == "https://api.segment.io/v1"
    assert resolve_endpoint("EU") == "https://events.eu1.segmentapis.com/v1"
    assert resolve_endpoint("http://127.0.0.1:8787/") == "http://127.0.0.1:8787/v1"
    assert resolve_endpoint("https://dp.example.com/v1") == "https://dp.example.com/v1"
    with pytest.raises(ValueError, match="'us', 'eu'"):
        resolve_endpoint("ftp://x")


def test_gzip_bodies_are_accepted_by_the_collector(collector):
    client = SegmentClient(endpoint=collector.url, gzip=True)
    assert client.track("Compressed", user_id="u").ok
    assert collector.events()[0]["event"] == "Compressed"


def test_batch_posts_to_v1_batch_and_reports_each_message(faults):
    messages = [{"type": "track", "event": f"E{i}", "userId": f"u{i}"} for i in range(3)]
    messages.append({"type": "identify", "userId": "u0", "traits": {"plan": "pro"}})
    result = fast_client(faults.url).batch(messages)
    assert result.ok and result.requests == 1 and len(result.results) == 4
    (request,) = faults.received
    assert request.path == "/v1/batch"
    assert [m["type"] for m in request.body["batch"]] == ["track"] * 3 + ["identify"]
    assert "sentAt" in request.body
    assert [r.message_id for r in result.results] == [m["messageId"] for m in request.body["batch"]]


def test_batch_with_one_invalid_message_sends_nothing_and_names_it(faults):
    messages = [{"type": "track", "event": "ok", "userId": "u"}, {"type": "track", "userId": "u"}]
    result = fast_client(faults.url).batch(messages)
    assert result.status_code == -1 and "batch[1].event" in result.error_message
    assert faults.received == []


def test_batch_splits_by_count_and_by_size(collector):
    client = SegmentClient(endpoint=collector.url)
    many = [
        {"type": "track", "event": "e", "userId": str(i)} for i in range(MAX_BATCH_MESSAGES + 10)
    ]
    result = client.batch(many)
    assert result.ok and result.requests == 2
    big = [
        {"type": "track", "event": "e", "userId": str(i), "properties": {"blob": "x" * 30_000}}
        for i in range(40)
    ]
    result = client.batch(big)
    assert result.ok and result.requests == 3  # 40 x ~30 KB needs three requests of <= 500 KB
    assert collector.count() == MAX_BATCH_MESSAGES + 10 + 40


def test_batch_failure_is_reported_per_message(dead_url):
    result = fast_client(dead_url, max_retries=0).batch(
        [{"type": "track", "event": "e", "userId": "u"}]
    )
    assert result.status_code == 500 and not result.ok
    assert result.results[0].status_code == 500


def test_client_is_thread_safe(collector):
    client = SegmentClient(endpoint=collector.url)
    results = []

    def worker(n: int) -> None:
        for i in range(10):
            results.append(client.track("Threaded", user_id=f"{n}-{i}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.ok for r in results) and len(results) == 80
    assert len({e["messageId"] for e in collector.events()}) == 80
    assert len(client.history) == 80


def test_result_html_escapes_and_marks_failures(faults):
    faults.then(Step(400, body=b'{"message": "<script>alert(1)</script>"}'))
    result = fast_client(faults.url).track("<b>Order</b>", user_id="u")
    html = result._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>Order</b>" not in html and "&lt;b&gt;Order&lt;/b&gt;" in html
    assert "sm-fail" in html and "rejected by the API" in html
    text = str(result)
    assert "StatusCode" in text and "400" in text and "<script>" in text


def test_success_table_shows_payload_and_status():
    result = SegmentClient(endpoint="http://127.0.0.1:9").track("Viewed", user_id="u", dry_run=True)
    html = result._repr_html_()
    assert "sm-ok" in html and "dry run" in html
    assert "&quot;event&quot;: &quot;Viewed&quot;" in html


def test_history_records_every_call(collector):
    client = SegmentClient(endpoint=collector.url)
    client.track("A", user_id="u")
    client.track("", user_id="u")
    client.page("Home", user_id="u", dry_run=True)
    view = client.history.select()
    assert [r.type for r in view] == ["page", "track", "track"]
    assert [r.label for r in client.history.select(failed=True)] == [""]
    frame = view.to_pandas()
    assert list(frame["StatusCode"]) == [200, -1, 200]


def test_collector_requires_a_key_over_http(collector):
    response = requests.post(
        f"{collector.url}/v1/track", json={"event": "e", "userId": "u"}, timeout=5
    )
    assert response.status_code == 400 and "write key" in response.json()["message"]
    assert response.json()["code"] == "invalid_write_key"
    ok = requests.post(
        f"{collector.url}/v1/track", json={"event": "e", "userId": "u", "writeKey": "k"}, timeout=5
    )
    assert ok.json() == {"success": True}
    assert "writeKey" not in collector.events()[0]


def test_collector_gzip_over_raw_http(collector):
    body = gzip.compress(
        json.dumps({"batch": [{"type": "track", "event": "z", "userId": "u"}]}).encode()
    )
    response = requests.post(
        f"{collector.url}/v1/batch",
        data=body,
        headers={"Content-Encoding": "gzip", "Authorization": basic("k")},
        timeout=5,
    )
    assert response.status_code == 200
    assert collector.events(event="z")


def test_backfill_and_outbox_arguments_of_the_wrong_kind_are_refused_by_name(collector):
    """Before: AttributeError, TypeError or sqlite's OverflowError from our code, or an
    "outbox cannot be used" for a run id that was a list."""
    client = SegmentClient(endpoint=collector.url)
    rows = [{"userId": "u", "n": 1}]
    cases = [
        (lambda: client.send_many(rows, "track", event=5), "event: must be text, not int"),
        (lambda: client.send_many(rows, "track", event="E", run_id=10**30),
         "run_id: must be text, not int"),
        (lambda: client.send_many(rows, "track", event="E", columns="userId"),
         "columns: give a dict such as {'user_id': 'customer'}, not str"),
        (lambda: client.send_many(rows, "track", event="E", columns={"user_id": 5}),
         "columns['user_id']: give a column name, not int"),
        (lambda: client.send_many(rows, "track", event="E", body_columns="n"),
         "body_columns: give a list of names, e.g. ['n'], not one text"),
        (lambda: client.send_many(rows, "track", event="E", defaults=[1]),
         "defaults: give a dict such as"),
        (lambda: client.send_many(rows, "track", event="E", problems_path=1),
         "problems_path: must be a path"),
        (lambda: client.send_many(rows, "track", event="E", progress="no"),
         "progress: 'no' is not True or False"),
        (lambda: client.retry_outbox(kept_for=1), "kept_for: must be text, not int"),
        (lambda: client.retry_outbox(workers=0), "workers: 0 is not a number of requests"),
        (lambda: client.discard_outbox(run_id=[]), "run_id: must be text, not list"),
        (lambda: client.discard_outbox(dry_run="yes"), "dry_run: 'yes' is not True or False"),
    ]  # fmt: skip
    for call, words in cases:
        with pytest.raises(ValidationError) as refused:
            call()
        assert str(refused.value).startswith(words), words
    assert collector.events() == []
