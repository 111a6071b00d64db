"""No secret in any frame: a sentinel token and key, real servers on 127.0.0.1, real SIGINTs.

What an analyst can reach after a failed or interrupted cell is checked the way
they would reach it: the cell's output under ``%xmode Verbose`` (every frame's local
variables), ``%tb``, and ``sys.last_traceback`` as ``%debug`` walks it, through
``__context__`` and ``__cause__`` too. The sentinel must appear in none of them, in
clear or base64-encoded as HTTP Basic auth sends it.
"""

from __future__ import annotations

import base64
import getpass
import os
import signal
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from conftest import SENTINEL_KEY, Step, run
from public_api_server import PublicApiServer

from segment_magics.client.keys import ApiToken, WriteKey

SENTINEL_TOKEN = "SENTINEL-api-token-5be1a9c07d3e"
PLAN_ID = "tp_sentinel"
FORMS = [
    SENTINEL_TOKEN,
    SENTINEL_KEY,
    base64.b64encode(f"{SENTINEL_KEY}:".encode()).decode(),  # the Basic auth header's form
]


def sigint() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def _values(value: Any, depth: int = 0) -> list[str]:
    """What a debugger shows of a value: its repr and str, and those of what it holds."""
    shown = [repr(value), str(value)]
    if isinstance(value, str):
        shown.append(str.__str__(value))  # the characters themselves, whatever the class says
    if depth < 2:
        items: list[Any] = []
        if isinstance(value, dict):
            items = [*value.keys(), *value.values()]
        elif isinstance(value, list | tuple | set):
            items = list(value)
        for item in items[:200]:
            shown.extend(_values(item, depth + 1))
    return shown


def _frames_text(error: BaseException | None, tb: TracebackType | None) -> str:
    """Every local of every frame reachable from an exception, as a debugger shows them."""
    seen: set[int] = set()
    texts: list[str] = []
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        texts.extend(_values(error.args))
        trace = tb if tb is not None else error.__traceback__
        tb = None
        while trace is not None:
            for name, value in trace.tb_frame.f_locals.items():
                texts.append(name)
                texts.extend(_values(value))
            trace = trace.tb_next
        error = error.__cause__ or error.__context__
    return "\n".join(texts)


def assert_nowhere(*texts: str) -> None:
    everything = "\n".join(texts)
    for form in FORMS:
        assert form not in everything, f"{form[:12]}... leaked"


@pytest.fixture
def api(monkeypatch):
    server = PublicApiServer(token=SENTINEL_TOKEN)
    server.url = server.start()
    server.add_plan(PLAN_ID, "Production", [])
    yield server
    server.stop()


@pytest.fixture(params=["environment", "getpass"])
def token_from(request, monkeypatch):
    if request.param == "environment":
        monkeypatch.setenv("SEGMENT_PUBLIC_API_TOKEN", SENTINEL_TOKEN)
    else:
        monkeypatch.delenv("SEGMENT_PUBLIC_API_TOKEN", raising=False)
        monkeypatch.setattr(getpass, "getpass", lambda prompt: SENTINEL_TOKEN)
    return request.param


def _shell(make_shell, endpoint: str, short_errors: bool, api: PublicApiServer | None = None):
    shell = make_shell(endpoint, short_errors=short_errors)
    run(shell, "%xmode Verbose")
    if api is not None:
        run(shell, f'%config SegmentMagics.public_api = "{api.url}"')
    return shell


def _after(shell, cell) -> str:
    """What the analyst can see and reach after the cell: its output, %tb, the last
    traceback's frames."""
    tb = run(shell, "%tb")
    reach = _frames_text(getattr(sys, "last_value", None), getattr(sys, "last_traceback", None))
    return "\n".join([cell.text, cell.html, cell.stderr, str(cell.error), repr(cell.error),
                      tb.text, tb.stderr, reach])  # fmt: skip


def _forget_last() -> None:
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            delattr(sys, name)


@pytest.mark.parametrize("short_errors", [True, False])
def test_ctrl_c_during_a_pull_or_push_leaves_the_token_nowhere(
    make_shell, collector, api, token_from, short_errors
):
    shell = _shell(make_shell, collector.url, short_errors, api)
    for line in (f"%segment_plan pull {PLAN_ID}", f"%segment_plan push {PLAN_ID} --update"):
        _forget_last()
        if "push" in line:
            run(shell, "%segment_plan load ecommerce")
        api.hook, api.delay = sigint, 3.0
        cell = run(shell, line)
        assert isinstance(cell.error, KeyboardInterrupt) or "interrupt" in str(cell.error).lower()
        assert sys.last_traceback is not None  # there is something to walk
        assert_nowhere(_after(shell, cell))


@pytest.mark.parametrize("short_errors", [True, False])
def test_a_401_that_echoes_the_token_shows_it_nowhere(
    make_shell, collector, api, token_from, short_errors
):
    api.echo_auth = True
    api.token = "another-token"  # ours is refused, and the server quotes it back
    shell = _shell(make_shell, collector.url, short_errors, api)
    for line in (f"%segment_plan pull {PLAN_ID}", f"%segment_plan push {PLAN_ID} --update"):
        _forget_last()
        if "push" in line:
            run(shell, "%segment_plan load ecommerce")
        cell = run(shell, line)
        assert cell.error is not None and "401" in str(cell.error)
        assert_nowhere(_after(shell, cell))


@pytest.mark.parametrize("short_errors", [True, False])
def test_ctrl_c_during_a_send_leaves_the_key_nowhere(make_shell, faults, short_errors, monkeypatch):
    monkeypatch.setenv("SEGMENT_WRITE_KEY", SENTINEL_KEY)
    shell = _shell(make_shell, faults.url, short_errors)
    shell.user_ns["rows"] = [{"userId": f"u{i}", "n": i} for i in range(50)]
    cells = ("%segment_track Slow --user-id u", "%segment_track Slow --from rows")
    for line in cells:
        _forget_last()
        faults.then(Step(hook=sigint, delay=3))
        cell = run(shell, line)
        assert cell.error is not None
        assert_nowhere(_after(shell, cell))
    # a refused key, echoed back by a hostile server, and an unreachable one
    faults.then(
        Step(401, body=f'{{"success": false, "message": "bad key {SENTINEL_KEY}"}}'.encode())
    )
    cell = run(shell, "%segment_track Refused --user-id u")
    assert cell.error is not None
    assert_nowhere(_after(shell, cell))


def test_a_key_in_the_endpoint_url_is_taken_and_not_kept(make_shell, collector):
    address = collector.url.split("://", 1)[1]
    shell = make_shell()
    cell = run(shell, f"%segment_connect http://{SENTINEL_KEY}@{address}")
    assert cell.error is None, cell.error
    configured = run(shell, "%config SegmentMagics")
    assert shell.run_line_magic("config", "SegmentMagics.endpoint") == collector.url
    sent = run(shell, "%segment_track Keyed --user-id u")
    assert sent.error is None
    (event,) = collector.events()
    assert event["event"] == "Keyed"
    assert_nowhere(configured.text, cell.text, cell.html, sent.text, sent.html)
    run(shell, f"%config SegmentMagics.endpoint = 'http://{SENTINEL_KEY}@{address}'")
    assert_nowhere(run(shell, "%config SegmentMagics").text)


def test_secret_headers_are_masked_and_still_sent():
    header = WriteKey(SENTINEL_KEY, "test").basic_auth_header()
    assert_nowhere(repr(header), str(header), f"{header}", repr({"Authorization": header}))
    assert header.encode("latin-1") == b"Basic " + FORMS[2].encode()
    bearer = ApiToken(SENTINEL_TOKEN, "test").bearer_header()
    assert_nowhere(repr(bearer), str(bearer), "%s" % bearer)  # noqa: UP031


@pytest.mark.parametrize(
    "cell",
    [
        'SegmentClient(read_key(), endpoint="ftp://nowhere")',
        "SegmentClient(read_key(), endpoint=URL, naive_timezone='Mars/Base')",
        "SegmentClient(read_key() + ' x', endpoint=URL)",  # a key pasted with a space
        "SegmentClient(read_key(), endpoint=URL, plan='/no/such/plan.json')",
        "SegmentClient(endpoint=URL.replace('//', '//' + read_key() + '@'), naive_timezone='?')",
        "SegmentClient(read_key(), endpoint=URL, proxy='ftp://u:' + read_key() + '@proxy')",
        "SegmentClient(endpoint=URL)",  # the key from $SEGMENT_WRITE_KEY, pasted with a tab
    ],
)
def test_a_failed_construction_leaves_the_key_in_no_frame(make_shell, collector, cell, monkeypatch):
    """A constructor given a key (or a URL or proxy with one) that then refuses another
    argument: its verbose traceback and the frames %debug walks hold no key."""
    monkeypatch.setenv("SEGMENT_WRITE_KEY", f"{SENTINEL_KEY}\tx")
    shell = _shell(make_shell, collector.url, True)
    shell.user_ns.update(URL=collector.url, read_key=lambda: SENTINEL_KEY)
    run(shell, "from segment_magics import SegmentClient")
    _forget_last()
    failed = run(shell, cell)
    assert failed.error is not None and sys.last_traceback is not None
    assert_nowhere(_after(shell, failed))


def test_a_refused_magic_line_leaves_its_key_in_no_frame(make_shell, collector):
    """A key typed into a URL that a magic refuses: the one-line error and the frames of
    ours under it hold none of it (the notebook's own history keeps what was typed)."""
    import segment_magics

    ours = str(Path(segment_magics.__file__).parent)
    shell = _shell(make_shell, collector.url, True)
    for line in (f"%segment_connect ftp://{SENTINEL_KEY}@127.0.0.1:9",
                 f"%segment_connect http://{SENTINEL_KEY}@[::1"):  # fmt: skip
        _forget_last()
        failed = run(shell, line)
        assert failed.error is not None and sys.last_traceback is not None
        frames = []
        error: BaseException | None = sys.last_value
        while error is not None:
            trace = error.__traceback__
            while trace is not None:
                if trace.tb_frame.f_code.co_filename.startswith(ours):
                    frames.append(trace.tb_frame)
                trace = trace.tb_next
            error = error.__cause__ or error.__context__
        assert frames  # there is something to walk
        shown = [text for frame in frames for value in frame.f_locals.values()
                 for text in _values(value)]  # fmt: skip
        assert_nowhere(failed.text, failed.stderr, str(failed.error), *shown)
