"""The embedded Segment-compatible collector: ``start_collector()`` or ``python -m``."""

from __future__ import annotations

import errno
import socket
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from ..messages.arguments import checked_path, checked_port, checked_seconds, checked_text
from ..plan import PlanValidator, load_plan
from .app import CollectorApp
from .server import READ_TIMEOUT, CollectorServer
from .store import EventStore, Record

__all__ = ["Collector", "start_collector", "wait_for_collector"]


# A stable address (bookmarks stay valid across restarts) that no popular data tool takes
# by default: 8787 was Dask's dashboard (and RStudio Server's), 8888 Jupyter's, 8265 Ray's.
DEFAULT_PORT = 8791


class Collector:
    """A running collector: ``url``, ``events()``, ``reset()``, ``stop()``."""

    def __init__(self, server: CollectorServer) -> None:
        self._server = server
        self.host, self.port = server.host, server.port
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{self.port}"

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
        return self._server.running

    @property
    def plan(self) -> PlanValidator | None:
        return self._server.app.plan

    def use_plan(self, plan: PlanValidator | None) -> None:
        """Check what arrives from now on against ``plan`` (None: no verdicts); the
        notebook's session hands it the plan it made active."""
        self._server.app.plan = plan

    def events(self, **filters: Any) -> list[dict[str, Any]]:
        """The messages received, newest first, each as it was sent (copies of a
        messageId already received are left out unless asked for); the filters are
        :meth:`records`'."""
        return [record["payload"] for record in self.records(**filters)]

    def records(
        self,
        type: str | None = None,
        event: str | None = None,
        user_id: str | None = None,
        message_id: str | None = None,
        valid: bool | None = None,
        dropped: bool | None = None,
        duplicate: bool | None = None,
        q: str | None = None,
        limit: int = 10_000,
    ) -> list[Record]:
        """What ``GET /v1/events`` gives: each message's ``id``, ``receivedAt``, the
        collector's ``verdict`` (the plan's ``valid``/``violations``, Segment's
        ``dropped`` reason, ``duplicate``) and its ``payload`` as it was sent."""
        flags = {"valid": valid, "dropped": dropped, "duplicate": duplicate}
        filters = {"type": type, "event": event, "userId": user_id, "messageId": message_id,
                   "q": q}  # fmt: skip
        filters.update({k: None if v is None else str(v).lower() for k, v in flags.items()})
        chosen = {k: v for k, v in filters.items() if v}
        records: list[Record] = []
        before = None
        while len(records) < limit:  # every page: a page is bounded in bytes as well
            _, page = self.store.query(limit - len(records), before=before, filters=chosen)
            records += [record.parsed() for record in page]
            if not page:
                break
            before = page[-1]["id"]
        return records

    def count(self) -> int:
        return self.store.count()

    def message_ids(self, event: str | None = None, type: str | None = None) -> set[str]:
        """The distinct messageIds received (of one event or call type): what a backfill
        delivered, however many copies of each arrived."""
        filters = {k: v for k, v in {"event": event, "type": type}.items() if v}
        return self.store.message_ids(filters)

    def reset(self) -> None:
        self.store.reset()

    def stop(self) -> None:
        """Stop serving and close every connection; the events stay in ``store``."""
        self._server.stop()

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
    port: int | None = 0,
    db: str | Path | None = None,
    store: EventStore | None = None,
    plan: Any = None,
    allow_hosts: tuple[str, ...] = (),
    read_timeout: float = READ_TIMEOUT,
    max_mb: int | None = None,
) -> CollectorServer:
    """A collector server, not yet serving. ``plan`` (a Plan, dict, JSON file or template
    name) gives every event a verdict; ``port=None`` prefers 8791 and takes any free port
    when 8791 is taken; ``max_mb`` caps the stored payloads (default 1,024 in memory,
    none in a ``db`` file), the oldest going first."""
    checked_text("host", host)
    port = checked_port(port)
    read_timeout = checked_seconds("read_timeout", read_timeout, zero=False)
    db = checked_path("db", db)
    validator = None if plan is None else PlanValidator(load_plan(plan))
    made = store is None  # (a store made here is closed again if it cannot be served)
    if store is None:
        try:
            store = EventStore(db, max_bytes=max_mb * 2**20 if max_mb else None)
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ValidationError(
                "db",
                f"cannot keep events in {db} ({reason}); give a file "
                "in a folder you can write, or none (memory)",
            ) from None
    app = CollectorApp(store, validator, hosts=(host, *allow_hosts))
    if port is None:
        try:
            return CollectorServer(app, host, DEFAULT_PORT, read_timeout)
        except OSError:
            port = 0
    try:
        return CollectorServer(app, host, port, read_timeout)
    except OSError as exc:
        if made:
            store.close()
        raise _cannot_listen(host, port, exc) from None


def _cannot_listen(host: str, port: int, exc: OSError) -> ValidationError:
    """Why the collector cannot listen where it was asked to, and what to ask instead."""
    if exc.errno == errno.EADDRINUSE:
        return ValidationError("port", f"{port} is taken on {host}; give another port, "
                                       "or 0 for any free one")  # fmt: skip
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return ValidationError("host", f"{host!r} is not an address of this machine; give "
                                       "127.0.0.1 (this machine only)")  # fmt: skip
    return ValidationError("host", f"cannot listen on {host}:{port} ({exc.strerror or exc})")


def start_collector(
    host: str = "127.0.0.1",
    port: int | None = None,
    db: str | Path | None = None,
    store: EventStore | None = None,
    plan: Any = None,
    read_timeout: float = READ_TIMEOUT,
) -> Collector:
    """Run a collector in a background thread and return it.

    ``port``: by default 8791 when it is free (a stable URL for bookmarks and the
    outbox), else any free port; ``0`` always takes a free port. ``store`` lets a
    restarted collector keep what an earlier one received; with ``plan`` every
    event is checked and ``events(valid=False)`` lists the bad ones.
    """
    server = make_server(host, port, db, store, plan, read_timeout=read_timeout)
    server.start()
    return Collector(server)
