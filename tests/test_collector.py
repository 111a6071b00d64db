"""The local collector: Segment's answers, its limits, its read API and its debugger page."""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import socket
import subprocess
import sys
import threading
import time

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


def test_a_batch_item_without_a_type_is_accepted_and_would_be_dropped(collector):
    """Segment documents 400 for size and JSON errors only: it takes the request."""
    response = post(collector, "/v1/batch", {"batch": [{"event": "e", "userId": "u"}]})
    assert response.status_code == 200
    (record,) = collector.records(dropped=True)
    assert "no type" in record["verdict"]["dropped"]


def test_a_batch_item_that_is_not_an_object_is_400(collector):
    response = post(collector, "/v1/batch", {"batch": [1]})
    assert response.status_code == 400 and "batch[0]" in response.json()["message"]


def test_batch_envelope_context_is_merged_and_received_at_set(collector):
    body = {
        "batch": [{"type": "track", "event": "e", "userId": "u", "context": {"ip": "1.2.3.4"}}],
        "context": {"locale": "en-US"},
    }
    assert post(collector, "/v1/batch", body).json() == {"success": True}
    (record,) = collector.records()
    assert record["payload"]["context"] == {"locale": "en-US", "ip": "1.2.3.4"}
    assert record["receivedAt"].endswith("Z")


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
    assert [e["payload"]["type"] for e in response["events"]] == ["identify", "track", "track"]
    only = requests.get(f"{collector.url}/v1/events?type=track&userId=u2", timeout=5).json()
    assert [e["payload"]["event"] for e in only["events"]] == ["B"]
    limited = requests.get(f"{collector.url}/v1/events?limit=1", timeout=5).json()
    assert limited["count"] == 3 and len(limited["events"]) == 1
    bad = requests.get(f"{collector.url}/v1/events?colour=red", timeout=5)
    assert bad.status_code == 400
    assert requests.delete(f"{collector.url}/v1/events", timeout=5).json()["deleted"] == 3
    assert requests.get(f"{collector.url}/health", timeout=5).json() == {
        "status": "ok",
        "events": 0,
    }


def test_debugger_page_embeds_its_config_safely(collector):
    SegmentClient(endpoint=collector.url).track("<img src=x>", user_id="ada")
    page = requests.get(f"{collector.url}/", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<img src=x>" not in page.text and "http-equiv" not in page.text  # no reloads
    assert '"total":1' in page.text and "/v1/events" in page.text


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
    whole = gzip.compress(json.dumps({"event": "E", "userId": "u"}).encode())
    cut = post(collector, "/v1/track", whole[: len(whole) // 2],
               headers={"Content-Encoding": "gzip"})  # fmt: skip
    assert cut.status_code == 400 and "cut short" in cut.text, cut.text
    assert post(collector, "/v1/track", whole, headers={"Content-Encoding": "gzip"}).ok
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
    payload = events[0]["payload"]
    assert payload["event"] == "From CLI" and payload["messageId"] == result.message_id
    assert "segment-magics local collector" in requests.get(url, timeout=5).text


# -- Segment's answers, and what Segment would drop --------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/v1/track", {"event": "E"}, "no userId or anonymousId"),
        ("/v1/track", {"userId": "u"}, "track without event"),
        ("/v1/group", {"userId": "u"}, "group without groupId"),
        ("/v1/alias", {"userId": "u"}, "alias without previousId"),
        ("/v1/track", {"userId": "u", "event": "E", "messageId": "m" * 101},
         "messageId is 101 characters"),
        # Segment documents 400 for size and JSON errors only: these it takes, and drops
        ("/v1/track", {"type": "identify", "userId": "u"}, "type 'identify' sent to /v1/track"),
        ("/v1/track", {"event": "E", "userId": "u", "context": "x"}, "context is not an object"),
    ],
)  # fmt: skip
def test_what_segment_would_drop_is_200_and_kept_with_the_reason(collector, path, body, reason):
    response = post(collector, path, body)
    assert response.status_code == 200 and response.json() == {"success": True}
    (record,) = collector.records(dropped=True)
    assert reason in record["verdict"]["dropped"]
    assert collector.events(dropped=False) == []
    listed = requests.get(f"{collector.url}/v1/events?dropped=true", timeout=5).json()
    assert listed["count"] == 1 and reason in listed["events"][0]["verdict"]["dropped"]


def test_a_batch_over_2500_messages_is_accepted_and_every_message_would_be_dropped(collector):
    items = [{"type": "track", "event": "E", "userId": "u"}] * 2_501
    assert post(collector, "/v1/batch", {"batch": items}).status_code == 200
    assert collector.store.counts()["dropped"] == 2_501


def test_valid_messages_have_no_drop_verdict(collector):
    SegmentClient(endpoint=collector.url).track("Fine", user_id="u")
    (record,) = collector.records()
    assert record["verdict"]["dropped"] is None and collector.events(dropped=True) == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"event": "E", "userId": "u", "properties": {"x": NaN}}', "invalid_json"),
        (b'{"event": "E", "userId": "u", "properties": {"x": Infinity}}', "invalid_json"),
        (b'{"event": "E", "userId": "u", "properties": {"x": 123456789012345678901234}}',
         "invalid_json"),
        (b'{"event": "E", "userId": "u", "properties": {"x": "\\ud800"}}', "invalid_json"),
        (b'{"event": "E", "userId": "u", "properties": ' + b"[" * 2000 + b"]" * 2000 + b"}",
         "invalid_json"),
        (b'{"event": "E", "userId": "u", "properties": ' + b"[" * 300 + b"]" * 300 + b"}",
         "invalid_json"),  # deeper than a JSON writer goes
        (b'{"event": "E", "userId": "u", "properties": {"x": -9223372036854775809}}',
         "invalid_json"),  # just below 64 bits
        (b"[1, 2]", "invalid_json"),
    ],
)  # fmt: skip
def test_permanently_bad_input_is_400_never_500_and_never_stored(collector, body, code):
    response = post(collector, "/v1/track", body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["success"] is False and answer["code"] == code and answer["message"]
    assert collector.count() == 0
    assert requests.get(f"{collector.url}/v1/events", timeout=5).json()["count"] == 0


def test_big_numbers_inside_strings_are_fine(collector):
    body = {"event": "E", "userId": "u", "properties": {"id": "123456789012345678901234"}}
    assert post(collector, "/v1/track", body).status_code == 200


@pytest.mark.parametrize("limit", ["-1", "10000000", "many"])
def test_an_absurd_limit_is_400(collector, limit):
    response = requests.get(f"{collector.url}/v1/events?limit={limit}", timeout=5)
    assert response.status_code == 400 and response.json()["code"] == "invalid_request"


def test_error_bodies_carry_a_code_the_official_sdk_reports(collector):
    from segment.analytics import Client
    from segment.analytics.request import APIError

    errors = []
    client = Client("key", host=collector.url, sync_mode=True, max_retries=0,
                    on_error=lambda exc, batch: errors.append(exc))  # fmt: skip
    client.track(user_id="u", event="Fine", properties={"ok": 1})
    assert collector.count() == 1
    response = post(collector, "/v1/batch", b'{"batch": [}')
    assert response.json()["code"] == "invalid_json"
    error = APIError(response.status_code, response.json()["code"], response.json()["message"])
    assert "invalid_json" in str(error) and "unknown" not in str(error)


def test_write_keys_are_removed_everywhere_before_storing(collector):
    body = {
        "writeKey": "SECRET-top",
        "batch": [{"type": "track", "event": "E", "userId": "u", "writeKey": "SECRET-item",
                   "properties": {"nested": {"writeKey": "SECRET-deep"}}}],
    }  # fmt: skip
    assert post(collector, "/v1/batch", body, headers={"Authorization": ""}).status_code == 200
    stored = requests.get(f"{collector.url}/v1/events", timeout=5).text
    page = requests.get(f"{collector.url}/", timeout=5).text
    assert "SECRET" not in stored + page


def test_a_missing_write_key_is_400_invalid_write_key(collector):
    response = requests.post(f"{collector.url}/v1/track", json={"event": "E", "userId": "u"},
                             timeout=5)  # fmt: skip
    assert response.status_code == 400 and response.json()["code"] == "invalid_write_key"


# -- a hardened HTTP front -----------------------------------------------------------------
def raw_exchange(collector, data: bytes, wait: float = 2.0) -> bytes:
    """Send raw bytes; read until the server closes (or ``wait`` passes)."""
    with socket.create_connection((collector.host, collector.port), timeout=wait) as sock:
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except TimeoutError:
            return out + b"<still open>"
    return out + b"<closed>"


SMUGGLED = b"DELETE /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize(
    "length_header",
    [b"", b"Content-Length: -5\r\n", b"Content-Length: abc\r\n",
     b"Content-Length: 5\r\nContent-Length: 7\r\n"],
)  # fmt: skip
def test_bad_content_length_is_4xx_closes_and_never_runs_the_body(collector, length_header):
    SegmentClient(endpoint=collector.url).track("Keep me", user_id="u")
    request = (
        b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic a2V5Og==\r\n"
        + length_header + b"\r\n" + SMUGGLED
    )  # fmt: skip
    answer = raw_exchange(collector, request)
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500 and answer.endswith(b"<closed>")
    assert answer.count(b"HTTP/1.1 ") == 1  # the DELETE was never read as a request
    assert collector.count() == 1


def test_chunked_bodies_are_accepted(collector):
    body = json.dumps({"event": "Chunked", "userId": "u"}).encode()
    chunks = b"".join(f"{len(body[i:i + 7]):x}\r\n".encode() + body[i:i + 7] + b"\r\n"
                      for i in range(0, len(body), 7)) + b"0\r\n\r\n"  # fmt: skip
    request = (
        b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic a2V5Og==\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks
    )
    assert raw_exchange(collector, request).startswith(b"HTTP/1.1 200")
    assert collector.events()[0]["event"] == "Chunked"


def test_a_client_that_stalls_mid_body_is_dropped():
    from segment_magics import start_collector

    with start_collector(port=0, read_timeout=1) as running:
        started = time.monotonic()
        request = (b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n"
                   b'{"event": ')  # fmt: skip
        answer = raw_exchange(running, request, wait=10)
        assert answer.endswith(b"<closed>") and time.monotonic() - started < 5
        assert SegmentClient(endpoint=running.url).track("still up", user_id="u").ok


def test_the_default_read_timeout_is_a_few_seconds():
    from segment_magics.collector.server import READ_TIMEOUT

    assert 1 <= READ_TIMEOUT <= 10


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8787", "192.168.1.10"])
def test_only_loopback_host_names_are_answered(collector, host):
    response = requests.get(f"{collector.url}/v1/events", headers={"Host": host}, timeout=5)
    assert response.status_code == 403 and response.json()["code"] == "forbidden_host"
    response = post(collector, "/v1/track", {"event": "E", "userId": "u"}, headers={"Host": host})
    assert response.status_code == 403 and collector.count() == 0


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "localhost:1234", "[::1]:8787"])
def test_loopback_host_names_are_answered(collector, host):
    response = requests.get(f"{collector.url}/health", headers={"Host": host}, timeout=5)
    assert response.status_code == 200


def test_cross_origin_browser_requests_cannot_delete(collector):
    SegmentClient(endpoint=collector.url).track("Stays", user_id="u")
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        response = requests.delete(f"{collector.url}/v1/events", headers=headers, timeout=5)
        assert response.status_code == 403 and response.json()["code"] == "forbidden_origin"
    assert collector.count() == 1
    same = requests.delete(
        f"{collector.url}/v1/events", headers={"Origin": collector.url}, timeout=5
    )
    assert same.status_code == 200 and collector.count() == 0


@pytest.mark.parametrize("path", ["/v1/t", "/v1/batch", "/v1/import/", "/v1/track"])
def test_ingest_routes_answer_any_origin_like_segment(collector, path):
    preflight = requests.options(
        f"{collector.url}{path}",
        headers={"Origin": "http://shop.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type,authorization"},
        timeout=5,
    )  # fmt: skip
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "content-type" in allowed and "authorization" in allowed
    body: dict = {"type": "track", "event": "E", "anonymousId": "a", "writeKey": "k"}
    if "batch" in path or "import" in path:
        body = {"batch": [body]}
    sent = post(collector, path, body, headers={"Origin": "http://shop.example"})
    assert sent.status_code == 200 and sent.headers["Access-Control-Allow-Origin"] == "*"


def test_the_read_api_and_resets_have_no_cors_answer(collector):
    listed = requests.get(f"{collector.url}/v1/events", timeout=5)
    preflight = requests.options(
        f"{collector.url}/v1/events",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "DELETE"},
        timeout=5,
    )
    assert "Access-Control-Allow-Origin" not in listed.headers
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert preflight.status_code == 405


def test_a_catastrophic_pattern_in_the_plan_cannot_stall_the_collector():
    from segment_magics import start_collector

    plan = {"rules": [{"type": "TRACK", "key": "E", "version": 1, "jsonSchema": {
        "type": "object", "properties": {"properties": {"type": "object", "properties": {
            "code": {"type": "string", "pattern": "^(a+)+$"}}}}}}]}  # fmt: skip
    with start_collector(port=0, plan=plan) as checking:
        client = SegmentClient(endpoint=checking.url)
        started = time.monotonic()
        result = client.track("E", user_id="u", properties={"code": "a" * 5_000 + "!"})
        assert result.ok and time.monotonic() - started < 2
        (record,) = checking.records()
        verdict = record["verdict"]
        assert verdict["valid"] is False and "does not match" in verdict["violations"][0]["detail"]


def _free(port: int) -> bool:
    """Free as the collector binds (SO_REUSEADDR: a port in TIME_WAIT is free to it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_the_embedded_collector_prefers_its_port_and_falls_back_to_any():
    """8791, which no popular data tool takes by default (8787 is Dask's dashboard);
    another program may hold it on this machine: then any free port, never a failure."""
    from segment_magics import start_collector
    from segment_magics.collector import DEFAULT_PORT

    assert DEFAULT_PORT not in {8787, 8888, 8080, 8265, 5006, 4040, 8501, 6006}
    was_free = _free(DEFAULT_PORT)
    with start_collector() as first, start_collector() as second:
        assert first.port != second.port
        assert (DEFAULT_PORT in {first.port, second.port}) == was_free
    with socket.socket() as holder:  # held by someone else: any free port instead
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # (held already, by another program)
            holder.bind(("127.0.0.1", DEFAULT_PORT))
            holder.listen()
        with start_collector() as fallback:
            assert fallback.port != DEFAULT_PORT and fallback.running


def test_stop_closes_keep_alive_connections(collector):
    from segment_magics import start_collector

    running = start_collector(port=0)
    client = SegmentClient(endpoint=running.url, max_retries=0, timeout=2)
    assert client.track("Before", user_id="u").ok
    running.stop()
    result = client.track("After", user_id="u")
    assert result.status_code == 500 and running.store.count() == 1


def test_both_framings_at_once_are_refused_and_closed(collector):
    request = (
        b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic a2V5Og==\r\n"
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED
    )
    answer = raw_exchange(collector, request)
    assert answer.startswith(b"HTTP/1.1 400") and answer.endswith(b"<closed>")
    assert answer.count(b"HTTP/1.1 ") == 1


def test_a_client_that_drips_a_request_is_dropped(monkeypatch):
    from segment_magics import start_collector
    from segment_magics.collector import server

    monkeypatch.setattr(server, "REQUEST_DEADLINE", 2)
    with start_collector(port=0, read_timeout=1) as running:
        started = time.monotonic()
        with socket.create_connection((running.host, running.port), timeout=10) as sock:
            head = b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50\r\n\r\n"
            sock.sendall(head)
            try:
                for _ in range(20):  # a byte every 0.5 s: each read succeeds, the whole never does
                    sock.sendall(b"x")
                    time.sleep(0.5)
            except OSError:
                pass
        assert time.monotonic() - started < 6


def test_expect_100_continue_is_answered(collector):
    body = json.dumps({"event": "Curl", "userId": "u"}).encode()
    with socket.create_connection((collector.host, collector.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic a2V5Og==\r\n"
            b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        assert sock.recv(1024).startswith(b"HTTP/1.1 100")
        sock.sendall(body)
        assert b"200" in sock.recv(1024).split(b"\r\n")[0]
    assert collector.events()[0]["event"] == "Curl"


def test_the_store_lets_the_oldest_go_past_its_cap_and_counts_them():
    from segment_magics.collector.store import EventStore

    store = EventStore(max_bytes=100_000)
    message = {"type": "track", "event": "E", "userId": "u", "properties": {"x": "y" * 950}}
    for batch in range(30):
        pairs = []
        for n in range(10):
            m = {**message, "messageId": f"m{batch * 10 + n}"}
            pairs.append((m, json.dumps(m).encode()))
        store.add(pairs)
    kept = store.message_ids()
    counts = store.counts()
    assert counts["total"] + counts["trimmed"] == 300 and counts["trimmed"] > 0
    assert counts["total"] * 1000 <= 100_000  # within the cap
    newest = {f"m{n}" for n in range(300 - counts["total"], 300)}
    assert kept == newest  # the oldest went first, the newest are all there
    store.reset()
    assert store.counts()["trimmed"] == 0 and store.count() == 0


def test_flooding_the_collector_cannot_take_unbounded_memory():
    """A sender (any web page can post to the ingest routes) fills past --max-mb: the
    collector keeps the newest within the cap, says how many it let go, and keeps serving."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "segment_magics.collector", "--port", str(port), "--max-mb", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_collector(url)
        rows = [{"type": "track", "event": "Flood", "userId": "u", "messageId": f"f{n}",
                 "properties": {"blob": "z" * 2000}} for n in range(1500)]  # fmt: skip
        # one request at a time: the last row sent is then the last one received
        sent = SegmentClient(endpoint=url).send_many(rows, progress=False, workers=1)
        assert sent.accepted == 1500
        health = requests.get(f"{url}/health", timeout=5).json()
        assert health["trimmed"] > 0 and health["events"] + health["trimmed"] == 1500
        assert health["events"] * 2000 < 2**20
        newest = requests.get(f"{url}/v1/events", params={"limit": 1}, timeout=5).json()
        assert newest["events"][0]["payload"]["messageId"] == "f1499"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_collector_that_cannot_listen_says_where_and_what_to_give():
    """A taken port, an address not of this machine, a port that is not a number: one
    line naming the field (before: a raw OSError, gaierror or TypeError)."""
    from segment_magics import ValidationError, start_collector

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        cases = [
            ({"port": taken}, f"port: {taken} is taken on 127.0.0.1; give another port, or 0"),
            ({"host": "10.255.255.1", "port": 0}, "host: '10.255.255.1' is not an address of"),
            ({"host": "no-such-host.invalid", "port": 0}, "host: 'no-such-host.invalid' is not"),
            ({"port": "8791"}, "port: '8791' is not a port; give 1 to 65535"),
            ({"port": 70_000}, "port: 70000 is not a port"),
            ({"host": 127}, "host: must be text, not int"),
            ({"read_timeout": 0}, "read_timeout: 0 seconds is out of range"),
            ({"db": 5}, "db: must be a path (text or a pathlib.Path), not int"),
        ]
        for arguments, words in cases:
            with pytest.raises(ValidationError) as refused:
                start_collector(**arguments)
            assert str(refused.value).startswith(words), arguments


def test_the_collector_command_refuses_a_port_or_db_it_cannot_use_in_one_line(tmp_path):
    """``python -m segment_magics.collector --port 99999`` printed an OverflowError's
    traceback; a db under a file, or a folder as the db, named neither the option nor the
    fix."""
    (tmp_path / "a-file").write_text("")
    for args, words in [
        (["--port", "99999"], "error: port: 99999 is not a port; give 1 to 65535"),
        (["--port", "0", "--db", str(tmp_path / "a-file" / "events.sqlite")],
         "error: db: cannot keep events in"),
        (["--port", "0", "--db", str(tmp_path)], "error: db: cannot keep events in"),
    ]:  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "segment_magics.collector", *args],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert words in done.stderr
