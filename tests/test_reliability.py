"""Nothing lost, nothing misdated: event time, poison rows, Ctrl-C, kill -9, two kernels.

Everything runs against real servers on 127.0.0.1; interrupts are real SIGINTs
delivered to this process (by the server thread, at the moment a request
arrives), crashes are real subprocesses killed with SIGKILL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SENTINEL_KEY, Step, fast_client, run

from segment_magics import SegmentClient
from segment_magics.client import Outbox
from segment_magics.collector import wait_for_collector
from segment_magics.messages.ids import RowIds

ROOT = Path(__file__).resolve().parent.parent


def sigint() -> None:
    """What Ctrl-C in a terminal or a kernel interrupt does: SIGINT to the process."""
    os.kill(os.getpid(), signal.SIGINT)


def rows(n: int, **extra) -> list[dict]:
    return [{"userId": f"u{i % 97}", "n": i, **extra} for i in range(n)]


def ids(result_or_server) -> set[str]:
    return set(result_or_server.stored)


# -- event time -----------------------------------------------------------------------
def test_every_message_carries_its_event_time_and_sent_at_per_attempt(faults):
    before = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")[:23]
    faults.then(Step(503), Step(200))
    client = fast_client(faults.url)
    single = client.track("Timed", user_id="u")
    client.batch([{"type": "identify", "userId": "u"}])
    client.send_many([{"event": "Bulk", "userId": "u"}], "track", progress=False)
    first, second, batch, bulk = (r.body for r in faults.received)
    stamps = [first["timestamp"], batch["batch"][0]["timestamp"], bulk["batch"][0]["timestamp"]]
    assert all(s.endswith("Z") and s[:23] >= before for s in stamps)
    assert first["timestamp"] == second["timestamp"] == single.message["timestamp"]
    assert first["messageId"] == second["messageId"]
    assert first["sentAt"] <= second["sentAt"]  # sentAt is per attempt; the event time is not


def test_resent_message_keeps_its_original_timestamp(dead_url, collector, outbox_path):
    lost = fast_client(dead_url, max_retries=0, outbox_key=collector.endpoint)
    result = lost.track("Later", user_id="u")
    time.sleep(0.05)
    SegmentClient(endpoint=collector.url).retry_outbox()
    (record,) = collector.records()
    assert record["payload"]["timestamp"] == result.message["timestamp"]
    assert record["receivedAt"] > record["payload"]["timestamp"]


def test_the_form_dates_its_calls_too(collector):
    from segment_magics.widgets import SegmentForm

    form = SegmentForm(SegmentClient(endpoint=collector.url).send, "page", name="Home")
    result = form.send()
    assert result is not None and result.ok
    assert collector.events()[0]["timestamp"] == result.message["timestamp"]


# -- one bad row never stops a run ----------------------------------------------------
POISON = {
    "big int": 2**70,
    "lone surrogate": "caf\udce9",
    "too deep": None,  # built below: a dict nested 300 levels
    "recursive": None,
    "raising": None,
}


class Exploding:
    """An object whose conversion to JSON raises (its ``to_dict`` is broken)."""

    __module__ = "pandas.fake"

    def to_pydatetime(self):
        raise RuntimeError("broken converter")


def poison(kind: str):
    if kind == "too deep":
        value: dict = {}
        for _ in range(300):
            value = {"x": value}
        return value
    if kind == "recursive":
        loop: dict = {}
        loop["self"] = loop
        return loop
    if kind == "raising":
        return Exploding()
    return POISON[kind]


@pytest.mark.parametrize("kind", list(POISON))
def test_a_poison_row_is_listed_and_the_rest_go_out(collector, kind):
    data = rows(20_000)
    data[15_000]["payload"] = poison(kind)
    result = SegmentClient(endpoint=collector.url).send_many(
        data, "track", event="Poison", progress=False
    )
    assert (result.rows_read, result.accepted, result.invalid) == (20_000, 19_999, 1)
    (problem,) = [p for p in result.problems if p.status == "invalid"]
    assert problem.row == 15_000 and "properties.payload" in problem.reason
    assert collector.count() == 19_999


@pytest.mark.parametrize("kind", list(POISON))
def test_client_methods_never_raise_for_bad_input(faults, kind):
    client = fast_client(faults.url)
    result = client.track("Bad", user_id="u", properties={"payload": poison(kind)})
    assert result.status_code == -1 and "properties.payload" in result.error_message
    batch = client.batch([{"type": "track", "event": "x", "userId": "u"},
                          {"type": "track", "event": "y", "properties": {"p": poison(kind)}}])  # fmt: skip
    assert batch.status_code == -1 and "batch[1]" in batch.error_message
    assert faults.received == []
    assert client.track("Odd", user_id="u", properties=["not", "a", "dict"]).status_code == -1
    assert client.send("track", event="E", nonsense=1).status_code == -1


def test_magic_shows_one_line_for_a_poison_value(ip):
    ip.user_ns["loop"] = poison("recursive")
    out = run(ip, '%segment_track "Loop" --user-id u --properties {"p": loop}')
    assert out.error is not None and len(out.error._render_traceback_()) == 1
    assert "nests more than 250 levels" in str(out.error)


# -- Ctrl-C -------------------------------------------------------------------------------
def accounted(faults, outbox_path, expected: set[str]) -> tuple[set[str], set[str]]:
    delivered = ids(faults)
    kept = {p.message_id for p in Outbox(outbox_path).pending()}
    assert delivered | kept == expected  # nothing lost
    return delivered, kept


def test_ctrl_c_while_reading_rows(faults, outbox_path):
    def source():
        for i, row in enumerate(rows(9000, messageId=None)):
            if i == 6000:
                sigint()
            yield {**row, "messageId": f"m{i}"}

    result = fast_client(faults.url).send_many(source(), "track", event="E", progress=False)
    assert result.interrupted and not result.ok
    delivered, kept = accounted(faults, outbox_path, {f"m{i}" for i in range(result.rows_read)})
    assert result.accepted == len(delivered) and result.failed == len(kept)
    assert 6000 <= result.rows_read < 9000


def test_ctrl_c_while_requests_are_in_flight(faults, outbox_path):
    faults.then(Step(), Step(hook=sigint, delay=8), Step(delay=8), Step(delay=8))
    data = [{**row, "messageId": f"m{i}"} for i, row in enumerate(rows(30_000))]
    started = time.monotonic()
    result = fast_client(faults.url, timeout=20).send_many(data, "track", event="E", progress=False)
    assert time.monotonic() - started < 7  # in-flight requests got a second, not eight
    assert result.interrupted and result.not_read == 30_000 - result.rows_read
    _, kept = accounted(faults, outbox_path, {f"m{i}" for i in range(result.rows_read)})
    assert result.failed == len(kept) and kept
    assert "rows were never read" in result.error_message


def test_ctrl_c_while_waiting_between_retries(faults, outbox_path):
    faults.then(Step(503, headers={"Retry-After": "5"}, hook=sigint))
    client = fast_client(faults.url, max_retry_after=10, budget=20)
    started = time.monotonic()
    result = client.send_many(
        [{"event": "E", "userId": "u", "messageId": "only"}], "track", progress=False
    )
    assert time.monotonic() - started < 2 and result.interrupted
    assert {p.message_id for p in Outbox(outbox_path).pending()} == {"only"}


def test_ctrl_c_during_a_single_call_keeps_it_and_raises(faults, outbox_path):
    faults.then(Step(hook=sigint, delay=3))
    client = fast_client(faults.url)
    with pytest.raises(KeyboardInterrupt):
        client.track("Interrupted", user_id="u", message_id="single")
    assert [p.message_id for p in Outbox(outbox_path).pending()] == ["single"]
    (recorded,) = client.history
    assert recorded.interrupted and recorded.status_code == 500


def test_ctrl_c_during_batch(faults, outbox_path):
    faults.then(Step(), Step(hook=sigint, delay=3))
    messages = [
        {"type": "track", "event": "E", "userId": "u", "messageId": f"b{i}", "properties":
         {"pad": "x" * 300}} for i in range(4000)
    ]  # fmt: skip
    result = fast_client(faults.url).batch(messages)
    assert result.interrupted and not result.ok
    delivered, kept = accounted(faults, outbox_path, {f"b{i}" for i in range(4000)})
    assert delivered and kept


def test_ctrl_c_during_retry_deletes_nothing_undelivered(faults, dead_url, outbox_path):
    fast_client(dead_url, max_retries=0, outbox_key=faults.url + "/v1").send_many(
        [{**row, "messageId": f"r{i}"} for i, row in enumerate(rows(12_000))],
        "track", event="E", progress=False,
    )  # fmt: skip
    assert Outbox(outbox_path).count() == 12_000
    faults.then(Step(), Step(hook=sigint, delay=3), Step(delay=3), Step(delay=3))
    result = fast_client(faults.url).retry_outbox()
    assert result.interrupted
    _, kept = accounted(faults, outbox_path, {f"r{i}" for i in range(12_000)})
    assert kept and {p.state for p in Outbox(outbox_path).pending()} == {"pending"}
    result = fast_client(faults.url).retry_outbox()
    assert (
        result.ok
        and Outbox(outbox_path).count() == 0
        and ids(faults) == {f"r{i}" for i in range(12_000)}
    )


def test_ctrl_c_during_from_magic(make_shell, faults, outbox_path):
    shell = make_shell(faults.url)
    shell.user_ns["rows"] = [{**row, "messageId": f"f{i}"} for i, row in enumerate(rows(20_000))]
    faults.then(Step(), Step(hook=sigint, delay=3))
    out = run(shell, "%segment_track E --from rows --no-progress")
    assert out.error is not None and len(out.error._render_traceback_()) == 1
    assert "Interrupted" in out.text and "Never read" in out.text
    accounted(faults, outbox_path, {f"f{i}" for i in range(out.error.result.rows_read)})


# -- kill -9 --------------------------------------------------------------------------------
SENDER = """
import json, sys
from segment_magics import SegmentClient
url, run_id, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rows = [{"userId": f"u{i % 97}", "n": i} for i in range(n)]
client = SegmentClient(endpoint=url, timeout=5)
if mode == "recover":
    resent = client.retry_outbox()
    print("resent", resent.accepted, file=sys.stderr)
result = client.send_many(rows, "track", event="Crash", run_id=run_id, progress=False)
print(json.dumps({"accepted": result.accepted, "skipped": result.skipped,
                  "failed": result.failed, "resumed": result.resumed}))
"""


@pytest.fixture
def collector_process(tmp_path):
    """A collector in its own process, keeping events in a sqlite file we can read."""
    db = tmp_path / "events.sqlite"
    port_file = tmp_path / "port"
    code = (
        "import sys; from segment_magics.collector import make_server; "
        f"s = make_server(port=0, db={str(db)!r}); "
        f"open({str(port_file)!r}, 'w').write(str(s.port)); s.serve_forever()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 15
    while not port_file.exists() or not port_file.read_text():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port_file.read_text()}"
    wait_for_collector(url)
    yield url, db
    proc.kill()
    proc.wait()


def received(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [mid for (mid,) in conn.execute("SELECT message_id FROM events")]


def count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


@pytest.mark.parametrize("moment", [0.02, 0.4, 0.75])
def test_kill_9_mid_backfill_then_recover(collector_process, tmp_path, moment, outbox_path):
    url, db = collector_process
    script = tmp_path / "sender.py"
    script.write_text(SENDER)
    n, run_id = 50_000, f"crash-{moment}"
    env = {**os.environ, "SEGMENT_MAGICS_OUTBOX": str(outbox_path)}
    sender = subprocess.Popen([sys.executable, str(script), url, run_id, str(n), "send"], env=env)
    target = max(1, int(n * moment))
    deadline = time.monotonic() + 60
    while count(db) < target:
        assert sender.poll() is None, "the sender finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    sender.send_signal(signal.SIGKILL)
    sender.wait()
    before = len(received(db))
    assert before < n  # it really died mid-run
    ledger = Outbox(outbox_path)
    (unfinished,) = ledger.unfinished_runs()
    assert unfinished.run_id == run_id and unfinished.rows_read <= n
    done = subprocess.run(
        [sys.executable, str(script), url, run_id, str(n), "recover"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert (report["resumed"] and report["skipped"] > 0) or moment < 0.1
    got = received(db)
    expected = {RowIds(run_id)(i) for i in range(n)}
    assert set(got) == expected  # every row, and nothing under an id we did not mean
    assert len(got) - n <= 8 * 2_500  # copies (same id) only of batches that were in flight
    assert ledger.count() == 0 and ledger.unfinished_runs() == []


RETRIER = """
import json, sys
from segment_magics import SegmentClient
result = SegmentClient(endpoint=sys.argv[1]).retry_outbox()
print(json.dumps({"accepted": result.accepted, "failed": result.failed}))
"""


def test_two_kernels_retrying_at_once_deliver_each_message_once(
    collector_process, dead_url, tmp_path, outbox_path
):
    url, db = collector_process
    data = [{**row, "messageId": f"k{i}"} for i, row in enumerate(rows(8_000))]
    fast_client(dead_url, max_retries=0, outbox_key=url + "/v1").send_many(
        data, "track", event="E", progress=False
    )
    assert Outbox(outbox_path).count() == 8_000
    script = tmp_path / "retrier.py"
    script.write_text(RETRIER)
    env = {**os.environ, "SEGMENT_MAGICS_OUTBOX": str(outbox_path)}
    procs = [
        subprocess.Popen([sys.executable, str(script), url], env=env, stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    reports = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    got = received(db)
    assert sorted(got) == sorted(f"k{i}" for i in range(8_000))  # each exactly once
    assert sum(r["accepted"] for r in reports) == 8_000
    assert Outbox(outbox_path).count() == 0


# -- the outbox ---------------------------------------------------------------------------
def test_4xx_is_kept_as_rejected_and_resent_only_on_request(make_shell, faults, outbox_path):
    shell = make_shell(faults.url, max_retries=0)
    faults.then(Step(400, body=b'{"success": false, "message": "bad payload", "code": "x"}'))
    out = run(shell, "%segment_track Refused --user-id u")
    assert out.error is not None and "bad payload" in str(out.error)
    (kept,) = Outbox(outbox_path).pending()
    assert (kept.state, kept.status, kept.error) == ("rejected", 400, "400: bad payload")
    failed = run(shell, "%segment_history --failed").result
    assert [r.message_id for r in failed] == [kept.message_id]
    out = run(shell, "%segment_retry")
    assert out.error is None and faults.stored == []
    assert out.text.count("\n") == 1
    assert "1 rejected message waits here: %segment_retry --rejected" in out.text
    out = run(shell, "%segment_retry --rejected")
    assert out.error is None and faults.stored == [kept.message_id]
    assert Outbox(outbox_path).count() == 0


def test_bulk_4xx_is_rejected_like_a_single_call(faults, outbox_path):
    faults.then(Step(400, body=b'{"success": false, "message": "no"}'))
    result = fast_client(faults.url).send_many(rows(10), "track", event="E", progress=False)
    assert result.rejected == 10 and result.failed == 0 and not result.ok
    assert {p.state for p in Outbox(outbox_path).pending()} == {"rejected"}
    assert "rejected by the API" in result.error_message


def test_local_entries_survive_a_kernel_restart(make_shell, outbox_path):
    first = make_shell()
    assert run(first, "%segment_track Before --user-id u").error is None
    from segment_magics.session import get_session

    get_session(first).collector.stop()  # an outage of the local collector
    out = run(first, "%segment_track During --user-id u")
    assert out.error is not None
    assert [p.endpoint for p in Outbox(outbox_path).pending()] == ["local"]
    second = make_shell()  # a new kernel: a new collector, on another port
    out = run(second, "%segment_retry")
    assert out.error is None and out.result.accepted == 1
    events = get_session(second).collector.events()
    assert [e["event"] for e in events] == ["During"]
    out = run(second, "%segment_retry")
    assert out.text.startswith("Nothing to resend") and out.text.count("\n") == 1


def test_outbox_and_collector_files_are_private(tmp_path, dead_url, monkeypatch):
    box = tmp_path / "private" / "outbox.sqlite"
    monkeypatch.setenv("SEGMENT_MAGICS_OUTBOX", str(box))
    client = fast_client(dead_url, max_retries=0)  # kept open: sqlite deletes -wal and
    client.track("Kept", user_id="u")  # -shm when the last connection closes
    assert stat.S_IMODE(box.parent.stat().st_mode) == 0o700
    files = [box, box.with_name(box.name + "-wal"), box.with_name(box.name + "-shm")]
    assert all(f.exists() and stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    from segment_magics import start_collector

    db = tmp_path / "collector" / "events.sqlite"
    with start_collector(db=db) as running:
        SegmentClient(endpoint=running.url).track("Stored", user_id="u")
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700


def test_existing_files_we_write_into_are_made_private(tmp_path, dead_url, monkeypatch):
    """An outbox or --db file someone created with 0644 holds messages once we write:
    it (and a leftover -wal) loses group and other access."""
    box, wal, db = tmp_path / "outbox.sqlite", tmp_path / "outbox.sqlite-wal", tmp_path / "ev.db"
    for path in (box, wal, db):
        path.touch()
        path.chmod(0o644)
    monkeypatch.setenv("SEGMENT_MAGICS_OUTBOX", str(box))
    fast_client(dead_url, max_retries=0).track("Kept", user_id="u")
    from segment_magics import start_collector

    with start_collector(db=db) as running:
        SegmentClient(endpoint=running.url).track("Stored", user_id="u")
    # (sqlite deletes the -wal when the last connection closes, as on Python 3.10 here)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in (box, wal, db) if p.exists()} == {
        "outbox.sqlite": 0o600, "ev.db": 0o600,
        **({"outbox.sqlite-wal": 0o600} if wal.exists() else {}),
    }  # fmt: skip


def test_an_outbox_written_by_version_0_1_is_read(tmp_path, collector):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE outbox (message_id TEXT, endpoint TEXT, type TEXT, label TEXT, "
            "row TEXT, payload BLOB, error TEXT, failed_at TEXT, PRIMARY KEY (endpoint, "
            "message_id))"
        )
        payload = json.dumps({"type": "track", "event": "Old", "userId": "u",
                              "messageId": "old-1"}).encode()  # fmt: skip
        conn.execute(
            "INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ("old-1", collector.endpoint, "track", "Old", "", payload, "down",
             "2026-01-01T00:00:00+00:00"),
        )  # fmt: skip
    result = SegmentClient(endpoint=collector.url, outbox=path).retry_outbox()
    assert result.accepted == 1 and collector.events()[0]["messageId"] == "old-1"


# -- timeouts and secrets -----------------------------------------------------------------
def test_timeout_bounds_a_whole_attempt_against_a_dripping_server(faults):
    faults.then(Step(drip=0.2))  # one byte every 0.2 s: each read succeeds, the whole never does
    started = time.monotonic()
    result = fast_client(faults.url, max_retries=0, timeout=1).track("Slow", user_id="u")
    assert time.monotonic() - started < 2.0
    assert result.status_code == 500 and "within the 1 s timeout" in result.error_message


def test_credentials_in_the_endpoint_url_are_the_key_and_never_kept(faults, dead_url, outbox_path):
    url = faults.url.replace("http://", f"http://{SENTINEL_KEY}@")
    client = SegmentClient(endpoint=url)
    result = client.track("Keyed", user_id="u")
    import base64

    sent = faults.received[0].headers["Authorization"]
    assert sent == "Basic " + base64.b64encode(f"{SENTINEL_KEY}:".encode()).decode()
    assert client.key_source == "the endpoint URL"
    shown = repr(client) + str(result) + result._repr_html_() + client.endpoint
    assert SENTINEL_KEY not in shown
    lost = SegmentClient(endpoint=dead_url.replace("http://", f"http://{SENTINEL_KEY}@"),
                         max_retries=0)  # fmt: skip
    lost.track("Kept", user_id="u")
    assert SENTINEL_KEY.encode() not in outbox_path.read_bytes()
    assert all(SENTINEL_KEY not in p.endpoint for p in Outbox(outbox_path).pending())


def test_no_traceback_mode_shows_the_key(make_shell, faults, monkeypatch):
    import base64

    monkeypatch.setenv("SEGMENT_WRITE_KEY", SENTINEL_KEY)
    token = base64.b64encode(f"{SENTINEL_KEY}:".encode()).decode()
    shell = make_shell(faults.url, short_errors=False, max_retries=0)
    run(shell, "%xmode Verbose")
    faults.then(Step(hook=sigint, delay=3))
    out = run(shell, "%segment_track Slow --user-id u")  # Ctrl-C during a slow send
    assert isinstance(out.error, KeyboardInterrupt)
    faults.then(Step(500))
    out2 = run(shell, "%segment_track Failing --user-id u")
    shell.user_ns["client"] = SegmentClient(endpoint=faults.url, max_retries=0)
    out3 = run(shell, "client.track('x', user_id='u', properties=1/0)")
    for cell in (out, out2, out3):
        text = cell.stdout + cell.stderr + cell.text + cell.html
        assert SENTINEL_KEY not in text and token not in text


def test_the_sentinel_key_is_nowhere_in_the_outbox(faults, outbox_path, monkeypatch):
    monkeypatch.setenv("SEGMENT_WRITE_KEY", SENTINEL_KEY)
    faults.then(Step(503), Step(503), Step(503), Step(503))
    SegmentClient(endpoint=faults.url, max_retries=0).send_many(rows(5), "track", event="E",
                                                               progress=False)  # fmt: skip
    data = b"".join(p.read_bytes() for p in outbox_path.parent.glob("outbox.sqlite*"))
    assert SENTINEL_KEY.encode() not in data and Outbox(outbox_path).count() == 5


def test_module_docs_mention_resume():
    text = (ROOT / "README.md").read_text()
    assert "--run-id" in text and "kill -9" in text
