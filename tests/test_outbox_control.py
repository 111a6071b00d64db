"""The outbox under the analyst's control: resend what waits for another endpoint,
discard what should not be sent, and a history that knows what a retry delivered."""

from __future__ import annotations

import builtins
import time

import pytest
from conftest import SENTINEL_KEY, fast_client, run

from segment_magics.client import Outbox
from segment_magics.session import get_session

DEAD = "http://127.0.0.1:9/"
DEAD_KEY = "http://127.0.0.1:9/v1"  # how the outbox files that endpoint


@pytest.fixture
def stranded(make_shell, monkeypatch, outbox_path):
    """A notebook that sent a backfill to a dead endpoint, then came back to `local`."""
    monkeypatch.setenv("SEGMENT_WRITE_KEY", SENTINEL_KEY)
    shell = make_shell(max_retries=0)
    shell.user_ns["rows"] = [
        {"userId": f"u{i}", "n": i, "timestamp": f"2024-01-01T00:00:{i % 60:02d}Z"}
        for i in range(501)
    ]
    assert run(shell, f"%segment_connect {DEAD}").error is None
    out = run(shell, '%segment_track "Backfilled" --from rows --no-progress --run-id first')
    assert out.error is not None and out.result is None
    assert run(shell, "%segment_connect local").error is None
    return shell


def test_a_retry_says_where_messages_wait_and_how_to_bring_them_here(stranded, outbox_path):
    out = run(stranded, "%segment_retry")
    assert out.error is None and out.text.count("\n") == 1
    assert f"501 messages wait for {DEAD_KEY}: %segment_retry --kept-for {DEAD_KEY}" in out.text
    assert Outbox(outbox_path).count(DEAD_KEY) == 501


def test_kept_for_resends_them_here_with_their_ids_and_timestamps(stranded, outbox_path):
    kept = {p.message_id: p for p in Outbox(outbox_path).pending()}
    out = run(stranded, f"%segment_retry --kept-for {DEAD}")
    assert out.error is None and out.result.accepted == 501
    events = get_session(stranded).collector.events(limit=1000)
    assert {e["messageId"] for e in events} == set(kept)
    by_id = {e["messageId"]: e for e in events}
    assert all(by_id[m]["timestamp"].startswith("2024-01-01T00:00:") for m in kept)
    assert Outbox(outbox_path).count() == 0
    # the run that failed now reads as delivered, and --failed leaves it out
    history = run(stranded, "%segment_history").result.records()
    (backfill,) = [r for r in history if r["type"] == "track"]
    assert backfill["ErrorMessage"].startswith("delivered later, by a retry")
    assert not [r for r in run(stranded, "%segment_history --failed").result if r.run_id == "first"]


def test_kept_for_all_takes_every_endpoint(stranded, outbox_path):
    out = run(stranded, "%segment_retry --kept-for all")
    assert out.error is None and out.result.accepted == 501


def test_discard_says_what_it_removes_and_asks(stranded, outbox_path, monkeypatch):
    answers = iter(["n", "y"])
    asked = []
    monkeypatch.setattr(builtins, "input", lambda prompt: asked.append(prompt) or next(answers))
    out = run(stranded, f"%segment_retry --discard --kept-for {DEAD}")
    assert f"This removes 501 messages from the outbox (501 for {DEAD_KEY})" in out.text
    assert "Nothing was removed." in out.text and Outbox(outbox_path).count() == 501
    out = run(stranded, f"%segment_retry --discard --kept-for {DEAD}")
    assert "Removed 501 messages." in out.text and Outbox(outbox_path).count() == 0
    assert len(asked) == 2


def test_discard_by_run_id_and_yes_skips_the_question(stranded, outbox_path, monkeypatch):
    monkeypatch.setattr(builtins, "input", lambda prompt: pytest.fail("asked"))
    out = run(stranded, "%segment_retry --discard --kept-for all --run-id other --yes")
    assert "Nothing in the outbox matches" in out.text
    out = run(stranded, "%segment_retry --discard --kept-for all --run-id first --yes")
    assert "Removed 501 messages." in out.text


def test_python_retry_and_discard_take_the_same_choices(faults, dead_url, outbox_path):
    from fault_server import Step

    down = fast_client(dead_url, max_retries=0)
    down.send_many([{"event": "E", "userId": "u"}] * 3, "track", progress=False)
    faults.then(Step(400, body=b'{"message": "no"}'))
    refused = fast_client(faults.url, max_retries=0)
    refused.track("R", user_id="u")
    assert refused.discard_outbox(rejected=True, dry_run=True) == 1
    assert refused.kept_counts(kept_for="all") == {
        f"{dead_url}/v1": 3, f"{faults.url}/v1": 1,
    }  # fmt: skip
    assert refused.discard_outbox(rejected=True) == 1
    result = refused.retry_outbox(kept_for=dead_url)
    assert result.accepted == 3 and refused.discard_outbox(kept_for="all") == 0
    assert "client.retry_outbox" not in str(result)


def test_only_the_embedded_collector_needs_no_key(make_shell, monkeypatch):
    import getpass

    monkeypatch.delenv("SEGMENT_WRITE_KEY", raising=False)
    asked = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt: asked.append(prompt) or "typed-key")
    shell = make_shell()
    out = run(shell, f"%segment_connect {DEAD}")
    assert asked and "127.0.0.1:9" in asked[0]
    assert "not needed" not in out.text and "typed at the getpass prompt" in out.text
    out = run(shell, "%segment_connect local")
    assert "not needed (the embedded collector)" in out.text


# -- Ctrl-C at the edges of a resend -----------------------------------------------------
def _stranded_client(outbox_path, collector, n: int = 300):
    """n messages kept for a dead endpoint, and a client for the live collector that
    files the same endpoint name (so that its retry takes them)."""
    dead = fast_client(DEAD, outbox=outbox_path, outbox_key="shared", max_retries=0)
    result = dead.send_many([{"type": "track", "event": "E", "userId": f"u{i}"}
                             for i in range(n)], progress=False)  # fmt: skip
    assert result.failed == n
    ids = {p.message_id for p in Outbox(outbox_path).pending()}
    live = fast_client(collector.url, outbox=outbox_path, outbox_key="shared")
    return live, ids


def _no_escape(call):
    try:
        return call()
    except KeyboardInterrupt:
        pytest.fail("the KeyboardInterrupt escaped retry_outbox() instead of a summary")


def test_ctrl_c_right_after_the_claim_releases_it_and_returns_a_summary(
    outbox_path, collector, monkeypatch
):
    import os
    import signal

    live, ids = _stranded_client(outbox_path, collector)
    claim = Outbox.claim

    def claim_then_ctrl_c(self, *args, **kwargs):
        taken = claim(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, the instant the claim is made
        return taken

    monkeypatch.setattr(Outbox, "claim", claim_then_ctrl_c)
    first = _no_escape(live.retry_outbox)
    monkeypatch.setattr(Outbox, "claim", claim)
    assert first.interrupted and first.accepted == 0
    states = Outbox(outbox_path).counts()
    assert states == {("shared", "pending"): len(ids)}  # waiting again, not in flight
    second = live.retry_outbox()  # this kernel's next retry sends them all
    assert second.accepted == len(ids) and not second.interrupted
    assert {e["messageId"] for e in collector.events(limit=1000)} == ids
    assert Outbox(outbox_path).count() == 0


@pytest.mark.parametrize("after_ms", [0, 1, 2, 5, 10, 20, 40, 80, 120, 200])
def test_ctrl_c_at_any_moment_of_a_resend_loses_nothing(
    outbox_path, collector, monkeypatch, after_ms
):
    """A real Ctrl-C, this long after the claim began: whenever it lands, the resend
    returns a summary, and what it did not deliver waits again (the next retry sends it)."""
    import os
    import signal
    import threading

    live, ids = _stranded_client(outbox_path, collector, n=3_000)
    timers: list[threading.Timer] = []
    claim = Outbox.claim

    def claim_with_a_timer(self, *args, **kwargs):
        timers.append(threading.Timer(after_ms / 1000, os.kill, (os.getpid(), signal.SIGINT)))
        timers[0].start()
        return claim(self, *args, **kwargs)

    monkeypatch.setattr(Outbox, "claim", claim_with_a_timer)
    first = _no_escape(live.retry_outbox)
    monkeypatch.setattr(Outbox, "claim", claim)
    try:  # a Ctrl-C that lands after the resend returned is the notebook's, not ours
        timers[0].cancel()
        timers[0].join()
        time.sleep(0.01)
    except KeyboardInterrupt:
        pass
    assert first.accepted + Outbox(outbox_path).count() == len(ids)
    assert ("shared", "in_flight") not in Outbox(outbox_path).counts()
    second = live.retry_outbox()
    assert first.accepted + second.accepted == len(ids)
    assert {e["messageId"] for e in collector.events(limit=10_000)} == ids
    assert Outbox(outbox_path).count() == 0


def test_a_claim_by_a_dead_process_whose_pid_was_reused_is_taken_back(outbox_path, collector):
    """pid 1 runs, but it is not the process that claimed: its start time differs."""
    import socket
    import sqlite3

    from segment_magics.client.owners import owner_alive, start_time

    live, ids = _stranded_client(outbox_path, collector, n=20)
    impostor = f"{socket.gethostname()}:1:{int(start_time(1) or 0) + 12345}"
    assert not owner_alive(impostor, None)
    assert owner_alive(f"{socket.gethostname()}:1:{start_time(1)}", None)
    with sqlite3.connect(outbox_path) as db:
        db.execute("UPDATE messages SET state = 'in_flight', owner = ?", (impostor,))
    result = live.retry_outbox()
    assert result.accepted == len(ids)
    assert {e["messageId"] for e in collector.events(limit=100)} == ids


def test_ctrl_c_during_the_closing_bookkeeping_still_gets_a_summary(
    outbox_path, collector, monkeypatch
):
    """A real SIGINT while a resend counts what it delivered, and while a backfill notes
    its run as finished: both used to run after the guard, so the KeyboardInterrupt
    escaped (found by the timed test above, at 80 ms)."""
    import os
    import signal
    import time

    from segment_magics.client.outbox_ledger import RunLedger

    live, ids = _stranded_client(outbox_path, collector)
    waiting, finish = Outbox.waiting, RunLedger.finish_run

    def interrupted(real):
        def call(self, *args, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the signal lands here
            return real(self, *args, **kwargs)

        return call

    monkeypatch.setattr(Outbox, "waiting", interrupted(waiting))
    resent = _no_escape(live.retry_outbox)
    assert resent.accepted == len(ids) and collector.count() == len(ids)
    monkeypatch.setattr(RunLedger, "finish_run", interrupted(finish))
    sent = _no_escape(lambda: live.send_many([{"userId": "u", "n": 1}], "track", event="E",
                                             progress=False))  # fmt: skip
    assert sent.accepted == 1 and collector.count() == len(ids) + 1
