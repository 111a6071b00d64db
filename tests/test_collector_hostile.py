"""The collector against hostile input, as a real ``python -m segment_magics.collector``
process: forged verdicts, floods of bytes, connections and reads, pathological JSON,
duplicate messageIds, a stalled client, and a page that no payload can blank.

Any web page can post to the ingest routes (CORS ``*``, as Segment's API allows), so
everything here is what a page on any origin could send.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from segment_magics.collector import wait_for_collector

AUTH = {"Authorization": "Basic " + base64.b64encode(b"key:").decode()}
PLAIN = {"Content-Type": "text/plain"}  # what a page sends without a CORS preflight
CHROMIUM = "/usr/bin/chromium"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def collector_process(*args: str):
    port = _port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "segment_magics.collector", "--port", str(port), *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_collector(url)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def cli():
    with collector_process() as (url, _proc):
        yield url


def post(url: str, path: str, body: bytes | dict, headers: dict | None = None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(url + path, data=data, headers={**PLAIN, **(headers or {})}, timeout=10)


def records(url: str, **params) -> dict:
    return requests.get(f"{url}/v1/events", params={"limit": 1000, **params}, timeout=10).json()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


# -- verdicts that cannot be forged --------------------------------------------------------
FORGED = {"type": "track", "event": "Forged", "userId": "u", "messageId": "forged-1",
          "writeKey": "key", "_dropped": "<b>spoofed</b>", "_valid": True,
          "_violations": [None], "_id": 999999, "receivedAt": "1970-01-01T00:00:00Z"}  # fmt: skip


def test_a_payload_cannot_pass_for_the_collectors_verdict(cli):
    assert post(cli, "/v1/track", FORGED).status_code == 200
    assert post(cli, "/v1/track", {"event": "Fine", "userId": "u", "writeKey": "k"}).ok
    listing = records(cli)
    forged = next(r for r in listing["events"] if r["payload"]["event"] == "Forged")
    assert forged["verdict"]["dropped"] is None and forged["verdict"]["valid"] is None
    assert forged["id"] != 999999 and forged["receivedAt"] != "1970-01-01T00:00:00Z"
    # the payload is shown whole, its own underscore fields included
    assert forged["payload"]["_dropped"] == "<b>spoofed</b>"
    assert forged["payload"]["_violations"] == [None]
    assert records(cli, dropped="true")["count"] == 0


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium (make test)")
def test_no_payload_can_blank_the_page_or_forge_a_badge(cli, tmp_path):
    from playwright.sync_api import expect, sync_playwright
    from test_browser import ARTIFACTS, CHROMIUM_ARGS

    weird = [FORGED, {"event": "Null violations", "userId": "u", "_violations": [None]},
             {"event": {"nested": True}, "userId": ["a"], "properties": [1, 2],
              "_verdict": "x", "messageId": 5},
             {"event": "After them all", "userId": "u"}]  # fmt: skip
    for body in weird:
        assert post(cli, "/v1/track", {**body, "writeKey": "k"}).status_code == 200
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(cli + "/")
        rows = page.locator("tr.event")
        expect(rows).to_have_count(len(weird), timeout=10_000)
        expect(page.locator("[data-testid=label]", has_text="After them all")).to_be_visible()
        assert "spoofed" not in page.locator("[data-testid=verdict]").all_inner_texts().__str__()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "collector-hostile-payloads.png"), full_page=True)
        browser.close()
    assert errors == []


# -- bad input is a 400, never a 500 ------------------------------------------------------
@pytest.mark.parametrize("depth", [253, 254, 300, 600, 1022, 1500])
def test_json_nested_deep_is_400(cli, depth):
    body = (
        b'{"event": "E", "userId": "u", "properties": {"x": ' + b"[" * depth + b"]" * depth + b"}}"
    )
    response = post(cli, "/v1/track", body, AUTH)
    assert response.status_code == 400 and response.json()["code"] == "invalid_json"


@pytest.mark.parametrize("number", ["-9223372036854775809", "18446744073709551616",
                                    "-99999999999999999999"])  # fmt: skip
def test_integers_outside_64_bits_are_400(cli, number):
    body = b'{"event": "E", "userId": "u", "properties": {"x": ' + number.encode() + b"}}"
    response = post(cli, "/v1/track", body, AUTH)
    assert response.status_code == 400 and "64 bits" in response.json()["message"]
    edge = b'{"event": "E", "userId": "u", "properties": {"x": -9223372036854775808}}'
    assert post(cli, "/v1/track", edge, AUTH).status_code == 200


def test_a_write_key_spelled_with_escapes_is_taken_and_never_stored(cli):
    secret = "escaped-write-key-31f9"
    body = ('{"event": "E", "userId": "u", "writ\\u0065Key": "' + secret + '", '
            '"context": {"\\u0077riteKey": "' + secret + '"}}').encode()  # fmt: skip
    assert post(cli, "/v1/track", body).status_code == 200  # the key was found
    raw = requests.get(f"{cli}/v1/events", timeout=10).text
    assert secret not in raw and "writeKey" not in raw


def test_a_client_that_stalls_while_sending_headers_is_dropped_after_5_s(cli):
    host, port = cli.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and then nothing
        started = time.monotonic()
        sock.settimeout(15)
        answer = sock.recv(4096)
        waited = time.monotonic() - started
    assert 4 < waited < 7, waited
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408")


# -- Segment's deduplication -----------------------------------------------------------------
def test_a_duplicate_messageid_is_kept_marked_and_left_out_of_the_counts(cli):
    message = {"event": "Once", "userId": "u", "messageId": "same-id", "writeKey": "k"}
    for _ in range(3):
        assert post(cli, "/v1/track", message).status_code == 200
    batch = {"batch": [{**message, "type": "track"}, {**message, "type": "track",
                                                      "messageId": "other"}]}  # fmt: skip
    assert post(cli, "/v1/batch", batch, AUTH).status_code == 200
    health = requests.get(f"{cli}/health", timeout=10).json()
    assert health["events"] == 2 and health["duplicates"] == 3
    listing = records(cli)
    assert listing["count"] == 2
    assert sorted(r["payload"]["messageId"] for r in listing["events"]) == ["other", "same-id"]
    dropped = records(cli, dropped="true")
    assert dropped["count"] == 3
    assert all("duplicate messageId" in r["verdict"]["dropped"] for r in dropped["events"])
    assert all(r["verdict"]["duplicate"] for r in dropped["events"])
    page = requests.get(cli + "/", timeout=10).text
    assert '"duplicates":3' in page


# -- reads from other sites ------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"},
                                     {"Sec-Fetch-Site": "same-site"},
                                     {"Origin": "http://evil.example"}])  # fmt: skip
def test_other_sites_cannot_make_the_collector_build_a_read(cli, headers):
    started = time.monotonic()
    response = requests.get(
        f"{cli}/v1/events", params={"limit": 10000}, headers=headers, timeout=10
    )
    assert response.status_code == 403 and time.monotonic() - started < 1
    own = requests.get(f"{cli}/v1/events", headers={"Sec-Fetch-Site": "same-origin"}, timeout=10)
    assert own.status_code == 200


# -- bodies, connections and memory ----------------------------------------------------------
def test_each_route_takes_the_body_it_needs(cli):
    big = b'{"batch": [' + b",".join([b'{"type":"track","event":"E","userId":"u","x":"' +
                                      b"z" * 20_000 + b'"}'] * 35) + b"]}"  # fmt: skip
    too_big = post(cli, "/v1/batch", big, AUTH)  # 700 KB: Segment's own answer
    assert too_big.status_code == 400 and too_big.json()["code"] == "payload_too_large"
    deleting = requests.delete(f"{cli}/v1/events", data=b"x" * 100_000, timeout=10)
    assert deleting.status_code == 413
    huge = requests.post(f"{cli}/v1/batch", data=b"x" * (9 * 1024 * 1024), headers=AUTH,
                         timeout=10)  # fmt: skip
    assert huge.status_code == 413


def test_a_flood_stays_within_the_cap_and_health_stays_quick():
    """--max-mb 50: 300 MB injected from several connections while readers ask for the
    largest pages; the process grows by less than twice the cap, /health stays quick."""
    with collector_process("--max-mb", "50") as (url, proc):
        time.sleep(0.5)
        baseline = rss_mb(proc.pid)
        blob = "x" * 1500
        body = json.dumps({"batch": [{"type": "track", "event": "Flood", "userId": "u",
                                      "properties": {"blob": blob, "n": n}} for n in range(300)]})  # fmt: skip
        stop = threading.Event()
        sent = [0]
        peaks = [0.0]
        slowest = [0.0]

        def sender() -> None:
            with requests.Session() as session:
                while sent[0] < 300 * 2**20 and not stop.is_set():
                    answer = session.post(f"{url}/v1/batch", data=body, headers=AUTH, timeout=30)
                    assert answer.status_code in {200, 503}
                    sent[0] += len(body)

        def reader() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    session.get(f"{url}/v1/events", params={"limit": 10000}, timeout=30)

        def watcher() -> None:
            while not stop.is_set():
                started = time.monotonic()
                assert requests.get(f"{url}/health", timeout=5).ok
                slowest[0] = max(slowest[0], time.monotonic() - started)
                peaks[0] = max(peaks[0], rss_mb(proc.pid))
                time.sleep(0.05)

        threads = [threading.Thread(target=f, daemon=True)
                   for f in (sender, sender, sender, sender, reader, reader, watcher)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads[:4]:
            thread.join(timeout=600)
        stop.set()
        for thread in threads[4:]:
            thread.join(timeout=60)
        growth = peaks[0] - baseline
        health = requests.get(f"{url}/health", timeout=5).json()
        assert sent[0] >= 300 * 2**20 and health["trimmed"] > 0
        assert growth < 100, f"grew {growth:.0f} MB for a 50 MB cap"
        assert slowest[0] < 0.1, f"/health took {slowest[0] * 1000:.0f} ms"


def test_many_connections_at_once_are_served_or_told_to_retry(cli):
    """A burst of connections (an SDK flushing in parallel, or a page flooding): each is
    served, or answered 503 (retry) when no slot frees up in time; none is left hanging."""
    results: list[int] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        answer = requests.post(f"{cli}/v1/track", data=json.dumps(
            {"event": "Burst", "userId": f"u{n}", "messageId": f"burst-{n}"}),
            headers={**PLAIN, **AUTH}, timeout=30)  # fmt: skip
        with lock:
            results.append(answer.status_code)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(300)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 300 and set(results) <= {200, 503}
    assert requests.get(f"{cli}/health", timeout=10).json()["events"] == results.count(200)


def test_keep_alive_clients_in_a_burst_are_never_cut_off(cli):
    """150 clients at once, more than the collector serves at a time, each opening its
    connection a moment before its first request (as undici does) and sending 4 batches
    on it (keep-alive, as an SDK flushing in parallel does): every batch is answered,
    none is cut off mid-request, and every messageId arrives."""
    host, port = cli.removeprefix("http://").split(":")
    answered: list[tuple[int, list[str]]] = []
    failed: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.connect()
        time.sleep(0.05)
        for k in range(4):
            ids = [f"ka-{n}-{k}-{j}" for j in range(3)]
            body = {"batch": [{"type": "track", "event": "Burst", "userId": "u",
                               "messageId": i} for i in ids]}  # fmt: skip
            try:
                connection.request("POST", "/v1/batch", json.dumps(body), {**PLAIN, **AUTH})
                answer = connection.getresponse()
                answer.read()
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    failed.append(repr(exc))
                connection.close()
                continue
            with lock:
                answered.append((answer.status, ids))
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(150)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failed == []
    assert {status for status, _ in answered} == {200}
    arrived = {r["payload"]["messageId"] for r in records(cli, limit=5000)["events"]}
    assert arrived == {i for _, ids in answered for i in ids}


def test_connections_that_never_send_cannot_hold_every_slot(cli):
    """More silent connections than the collector serves at once (slowloris): a real
    request still gets through, at once, and the silent ones are let go."""
    silent = [socket.create_connection(("127.0.0.1", int(cli.rsplit(":", 1)[1])))
              for _ in range(80)]  # fmt: skip
    try:
        time.sleep(0.5)
        started = time.monotonic()
        answer = requests.post(f"{cli}/v1/track", data=json.dumps(
            {"event": "Through", "userId": "u", "messageId": "through-1"}),
            headers={**PLAIN, **AUTH}, timeout=30)  # fmt: skip
        assert answer.status_code == 200
        assert time.monotonic() - started < 4.5  # they yield after 2 s (not the 30 s idle)
    finally:
        for sock in silent:
            sock.close()
