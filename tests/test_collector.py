"""The local collector: Segment's answers, its limits, its read API and its debugger page."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading

import pytest
import requests

from segment_magics import SegmentClient
from segment_magics.collector import wait_for_collector
from segment_magics.messages import MAX_MESSAGE_BYTES

AUTH = {"Authorization": "Basic " + base64.b64encode(b"key:").decode()}


def post(collector, path, body, **kwargs):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**AUTH, "Content-Type": "application/json", **kwargs.pop("headers", {})}
    return requests.post(f"{collector.url}{path}", data=data, headers=headers, timeout=5, **kwargs)


def test_invalid_json_is_400_with_a_json_error(collector):
    response = post(collector, "/v1/track", b"{not json")
    assert response.status_code == 400
    assert response.json()["success"] is False and "invalid JSON" in response.json()["message"]
    assert collector.count() == 0


def test_message_over_32_kb_is_400(collector):
    body = {"event": "big", "userId": "u", "properties": {"x": "y" * MAX_MESSAGE_BYTES}}
    response = post(collector, "/v1/track", body)
    assert response.status_code == 400 and "32 KB" in response.json()["message"]
    assert collector.count() == 0


def test_request_over_500_kb_is_400(collector):
    items = [{"type": "track", "event": "e", "userId": "u", "properties": {"x": "y" * 30_000}}] * 20
    response = post(collector, "/v1/batch", {"batch": items})
    assert response.status_code == 400 and "500,000" in response.json()["message"]
    assert collector.count() == 0


def test_batch_items_need_a_type(collector):
    response = post(collector, "/v1/batch", {"batch": [{"event": "e", "userId": "u"}]})
    assert response.status_code == 400 and "batch[0]" in response.json()["message"]


def test_batch_envelope_context_is_merged_and_received_at_set(collector):
    body = {
        "batch": [{"type": "track", "event": "e", "userId": "u", "context": {"ip": "1.2.3.4"}}],
        "context": {"locale": "en-US"},
    }
    assert post(collector, "/v1/batch", body).json() == {"success": True}
    (event,) = collector.events()
    assert event["context"] == {"locale": "en-US", "ip": "1.2.3.4"}
    assert event["receivedAt"].endswith("Z")


def test_unknown_route_is_404(collector):
    assert post(collector, "/v1/nothing", {}).status_code == 404
    assert requests.get(f"{collector.url}/nope", timeout=5).status_code == 404


def test_events_api_filters_newest_first_and_resets(collector):
    client = SegmentClient(endpoint=collector.url)
    client.track("A", user_id="u1")
    client.track("B", user_id="u2")
    client.identify("u1", traits={"plan": "pro"})
    response = requests.get(f"{collector.url}/v1/events", timeout=5).json()
    assert response["count"] == 3
    assert [e["type"] for e in response["events"]] == ["identify", "track", "track"]
    only = requests.get(f"{collector.url}/v1/events?type=track&userId=u2", timeout=5).json()
    assert [e["event"] for e in only["events"]] == ["B"]
    limited = requests.get(f"{collector.url}/v1/events?limit=1", timeout=5).json()
    assert limited["count"] == 3 and len(limited["events"]) == 1
    bad = requests.get(f"{collector.url}/v1/events?colour=red", timeout=5)
    assert bad.status_code == 400
    assert requests.delete(f"{collector.url}/v1/events", timeout=5).json()["deleted"] == 3
    assert requests.get(f"{collector.url}/health", timeout=5).json() == {
        "status": "ok",
        "events": 0,
    }


def test_debugger_page_lists_events_escaped(collector):
    SegmentClient(endpoint=collector.url).track("<img src=x>", user_id="ada")
    page = requests.get(f"{collector.url}/", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "&lt;img src=x&gt;" in page.text and "<img src=x>" not in page.text
    assert "ada" in page.text and "http-equiv='refresh'" in page.text


def test_garbage_does_not_crash_the_server(collector):
    for junk in (
        b"\x00\xff garbage\r\n\r\n",
        b"POST /v1/track HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    ):
        with socket.create_connection((collector.host, collector.port), timeout=5) as sock:
            sock.sendall(junk)
            sock.recv(1024)
    response = post(collector, "/v1/track", b"\xff\xfe", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert SegmentClient(endpoint=collector.url).track("still up", user_id="u").ok


def test_concurrent_clients_are_all_stored(collector):
    errors: list[str] = []

    def worker(n: int) -> None:
        client = SegmentClient(endpoint=collector.url)
        for i in range(25):
            result = client.track("Concurrent", user_id=f"{n}-{i}")
            if not result.ok:
                errors.append(result.error_message)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and collector.count() == 200


def test_file_database_keeps_events(tmp_path):
    from segment_magics import start_collector

    db = tmp_path / "events.sqlite"
    with start_collector(db=db) as first:
        SegmentClient(endpoint=first.url).track("Persisted", user_id="u")
    with start_collector(db=db) as second:
        assert [e["event"] for e in second.events()] == ["Persisted"]


@pytest.fixture
def cli_collector():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "segment_magics.collector", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_collector(url)
    yield url, proc
    proc.terminate()
    proc.wait(timeout=5)


def test_python_m_collector_serves_and_shows_the_event(cli_collector):
    url, _proc = cli_collector
    result = SegmentClient(endpoint=url).track("From CLI", user_id="cli-user")
    assert result.ok
    events = requests.get(f"{url}/v1/events", timeout=5).json()["events"]
    assert events[0]["event"] == "From CLI" and events[0]["messageId"] == result.message_id
    assert "From CLI" in requests.get(url, timeout=5).text
