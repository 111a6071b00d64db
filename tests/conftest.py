"""Shared fixtures: a real collector and a fault-injecting server, both on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fault_server import FaultServer, Step  # noqa: F401 - Step is used by the tests

from segment_magics import SegmentClient, start_collector
from segment_magics.client import RetryPolicy
from segment_magics.collector import Collector

SENTINEL_KEY = "SENTINEL-write-key-9f3c2b7e41d0"


@pytest.fixture(autouse=True)
def outbox_path(tmp_path, monkeypatch):
    """Every test keeps undelivered messages in its own outbox, never in the home directory."""
    path = tmp_path / "outbox.sqlite"
    monkeypatch.setenv("SEGMENT_MAGICS_OUTBOX", str(path))
    return path


@pytest.fixture
def collector() -> Iterator[Collector]:
    with start_collector() as running:
        yield running


@pytest.fixture
def client(collector: Collector) -> SegmentClient:
    return SegmentClient(endpoint=collector.url, write_key=SENTINEL_KEY, timeout=5)


@pytest.fixture
def faults() -> Iterator[FaultServer]:
    server = FaultServer()
    yield server
    server.stop()


@pytest.fixture
def dead_url() -> str:
    """A loopback URL where nothing listens: connection refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def fast_client(
    url: str,
    *,
    max_retries: int = 3,
    max_retry_after: float = 2.0,
    budget: float = 10.0,
    **kwargs: Any,
) -> SegmentClient:
    """A client whose backoff waits milliseconds, not seconds."""
    policy = RetryPolicy(
        max_retries=max_retries,
        backoff_base=0.01,
        backoff_cap=0.05,
        max_retry_after=max_retry_after,
        total_budget=budget,
    )
    kwargs.setdefault("write_key", SENTINEL_KEY)
    return SegmentClient(endpoint=url, retry=policy, **kwargs)


@pytest.fixture
def make_shell():
    """Fresh InteractiveShells with the extension loaded; unloaded afterwards."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    shells = []

    def make(endpoint: str | None = None, **config: Any):
        cfg = Config()
        cfg.HistoryManager.hist_file = ":memory:"
        for key, value in config.items():
            setattr(cfg.SegmentMagics, key, value)
        if endpoint:
            cfg.SegmentMagics.endpoint = endpoint
        shell = InteractiveShell(config=cfg)
        shell.run_line_magic("load_ext", "segment_magics")
        shells.append(shell)
        return shell

    yield make
    for shell in shells:
        shell.run_line_magic("unload_ext", "segment_magics")
        release(shell)
    InteractiveShell.clear_instance()


def release(shell: Any) -> None:
    """End a test's shell now: IPython registers every shell's cleanup with atexit,
    which keeps each one alive to the end of the run and then empties each namespace
    with a full garbage collection over the whole heap (17 s of 25 for two test files)."""
    import atexit

    shell.history_manager.end_session()
    atexit.unregister(shell.atexit_operations)


@pytest.fixture
def ip(make_shell, collector):
    """A fresh shell whose calls go to the test's collector."""
    return make_shell(collector.url)


@dataclass
class CellRun:
    result: Any
    error: BaseException | None
    outputs: list[dict[str, Any]]
    stdout: str
    stderr: str

    @property
    def html(self) -> str:
        return "\n".join(o.get("text/html", "") for o in self.outputs)

    @property
    def text(self) -> str:
        return "\n".join(o.get("text/plain", "") for o in self.outputs) + self.stdout


def run(shell, code: str) -> CellRun:
    """Run a cell the way a notebook does and capture its displays, streams and error."""
    import contextlib
    import io

    from IPython.core.displaypub import CapturingDisplayPublisher

    publisher, saved = CapturingDisplayPublisher(), shell.display_pub
    shell.display_pub = publisher
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            outcome = shell.run_cell(code, store_history=True)
    finally:
        shell.display_pub = saved
    error = outcome.error_in_exec or outcome.error_before_exec
    outputs = [o["data"] for o in publisher.outputs]
    if outcome.result is not None:  # what a kernel sends as execute_result
        outputs.append(shell.display_formatter.format(outcome.result)[0])
    return CellRun(outcome.result, error, outputs, stdout.getvalue(), stderr.getvalue())


def stored_message(n: int, **fields: Any) -> dict[str, Any]:
    """A track call as Segment stores it (an S3 export's line; the fields of an
    analytics.js event as Segment's own docs and public samples show them), with what
    Segment adds: ``_metadata``, ``projectId``, ``receivedAt``, ``version``, ...
    ``writeKey`` is one a test asserts never comes back."""
    return {
        "_metadata": {"bundled": ["Segment.io"], "bundledIds": [], "unbundled": []},
        "anonymousId": f"anon-{n}", "channel": "client",
        "context": {"library": {"name": "analytics.js", "version": "npm:next-1.61.0"},
                    "page": {"path": "/cart", "url": "https://shop.example/cart"}},
        "event": "Order Completed", "integrations": {}, "messageId": f"ajs-next-{n:032x}",
        "originalTimestamp": "2024-01-01T10:00:00.580Z", "projectId": "r9QxNCpUszLY641VRaszNv",
        "properties": {"order_id": f"o-{n}", "total": 10.5, "currency": "USD",
                       "products": [{"product_id": "p-1", "price": 5}]},
        "receivedAt": "2024-01-01T10:00:01.615Z", "sentAt": "2024-01-01T10:00:00.583Z",
        "timestamp": "2024-01-01T10:00:00.612Z", "type": "track", "userId": f"u-{n}",
        "version": 2, "writeKey": "STORED-KEY-NOT-OURS", **fields,
    }  # fmt: skip
