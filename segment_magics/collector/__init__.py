"""The embedded Segment-compatible collector: ``start_collector()`` or ``python -m``."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from ..plan import PlanValidator, load_plan
from .server import CollectorServer
from .store import EventStore

__all__ = ["Collector", "start_collector", "wait_for_collector"]


class Collector:
    """A running collector: ``url``, ``events()``, ``reset()``, ``stop()``."""

    def __init__(self, server: CollectorServer, thread: threading.Thread | None) -> None:
        self._server = server
        self._thread = thread
        host, port = server.server_address[:2]
        self.host, self.port = str(host), int(port)
        self.url = f"http://{self.host}:{self.port}"

    @property
    def endpoint(self) -> str:
        """The base URL a SegmentClient posts to (``<url>/v1``)."""
        return f"{self.url}/v1"

    @property
    def debugger_url(self) -> str:
        return f"{self.url}/"

    @property
    def store(self) -> EventStore:
        return self._server.store

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def events(
        self,
        type: str | None = None,
        event: str | None = None,
        user_id: str | None = None,
        message_id: str | None = None,
        valid: bool | None = None,
        limit: int = 10_000,
    ) -> list[dict[str, Any]]:
        """Received messages, newest first, each with its ``receivedAt`` (and, with a plan,
        ``_valid`` and ``_violations``)."""
        filters = {"type": type, "event": event, "userId": user_id, "messageId": message_id,
                   "valid": None if valid is None else str(valid).lower()}  # fmt: skip
        return self._server.store.query(limit=limit, **{k: v for k, v in filters.items() if v})[1]

    def count(self) -> int:
        return self._server.store.count()

    def reset(self) -> None:
        self._server.store.reset()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.close_connections()
        self._server.server_close()

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Collector {self.url} {'running' if self.running else 'stopped'}>"


def wait_for_collector(url: str, timeout: float = 15.0) -> None:
    """Block until a collector (e.g. one started with ``python -m``) answers /health."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=1):  # noqa: S310 - http(s) only
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no collector answered at {url} within {timeout:g} s") from None
            time.sleep(0.05)


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    db: str | Path | None = None,
    store: EventStore | None = None,
    plan: Any = None,
) -> CollectorServer:
    """``plan`` (a Plan, dict, JSON file or template name) gives every event a verdict."""
    validator = None if plan is None else PlanValidator(load_plan(plan))
    return CollectorServer((host, port), store or EventStore(db), validator)


def start_collector(
    host: str = "127.0.0.1",
    port: int = 0,
    db: str | Path | None = None,
    store: EventStore | None = None,
    plan: Any = None,
) -> Collector:
    """Run a collector in a background thread (port 0: a free port) and return it.

    ``store`` lets a restarted collector keep what an earlier one received; with
    ``plan`` every event is checked and ``events(valid=False)`` lists the bad ones.
    """
    server = make_server(host, port, db, store, plan)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="segment-collector", daemon=True
    )
    thread.start()
    return Collector(server, thread)
