"""Deadlines and cancellation for HTTP attempts.

urllib3 applies its timeout to each socket operation, so a server that
drips a byte now and then can hold a call for as long as it likes. Here every
attempt is *watched*: the connections it uses register themselves, and when the
attempt's deadline passes, or its send is cancelled (Ctrl-C), a watchdog thread
shuts their sockets down, which ends any blocked read or write at once.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

Reason = Literal["timeout", "interrupted"]
_current = threading.local()


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class Watch:
    """One attempt: its deadline and the connections it has used."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.active = True  # False once the attempt is over: the watchdog leaves it alone
        self.cancelled = False  # its send was cancelled: firing means "interrupted"
        self.fired: Reason | None = None
        self._connections: list[Any] = []
        self._lock = threading.Lock()

    def add(self, connection: Any) -> None:
        with self._lock:
            self._connections.append(connection)
            fired = self.fired
        if fired:
            _shut(connection)

    def fire(self, reason: Reason) -> None:
        with self._lock:
            if self.fired is not None:
                return
            self.fired = reason
            connections = list(self._connections)
        for connection in connections:
            _shut(connection)


GRACE_SECONDS = 1.0  # on Ctrl-C, a request already out may still finish this long


class Cancel:
    """Cancels the attempts of one send: no new attempts, no more waiting between
    retries, and requests already out get :data:`GRACE_SECONDS` to finish (a reply
    that arrives in time is one message fewer to resend)."""

    def __init__(self, grace: float = GRACE_SECONDS) -> None:
        self.grace = grace
        self._event = threading.Event()
        self._watches: set[Watch] = set()
        self._lock = threading.Lock()

    def set(self) -> None:
        self._event.set()
        with self._lock:
            watches = list(self._watches)
        for watch in watches:
            self._cut_short(watch)

    def _cut_short(self, watch: Watch) -> None:
        watch.cancelled = True
        if self.grace <= 0:
            watch.fire("interrupted")
        else:
            watch.deadline = min(watch.deadline, time.monotonic() + self.grace)
            _WATCHDOG.add(watch)

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep between retries; True (at once) when cancelled."""
        return self._event.wait(seconds)

    def _attach(self, watch: Watch) -> None:
        with self._lock:
            self._watches.add(watch)
        if self._event.is_set():  # no new attempt once cancelled
            watch.cancelled = True
            watch.fire("interrupted")

    def _detach(self, watch: Watch) -> None:
        with self._lock:
            self._watches.discard(watch)


class _Watchdog:
    """One daemon thread that fires watches whose deadline has passed."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watch]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, watch: Watch) -> None:
        with self._cond:
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (watch.deadline, next(self._counter), watch))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="segment-deadlines", daemon=True
                )
                self._thread.start()
            if earliest is None or watch.deadline < earliest:
                self._cond.notify()  # only an earlier deadline needs the thread awake

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, watch = self._heap[0]
                now = time.monotonic()
                if deadline > now:
                    self._cond.wait(deadline - now)
                    continue
                heapq.heappop(self._heap)
            if watch.active and watch.fired is None and watch.deadline <= deadline:
                watch.fire("interrupted" if watch.cancelled else "timeout")


_WATCHDOG = _Watchdog()


@contextmanager
def watched(timeout: float, cancel: Cancel | None = None) -> Iterator[Watch]:
    """Run one attempt under a deadline of ``timeout`` seconds (and ``cancel``)."""
    watch = Watch(time.monotonic() + timeout)
    _WATCHDOG.add(watch)
    if cancel is not None:
        cancel._attach(watch)
    _current.watch = watch
    try:
        yield watch
    finally:
        _current.watch = None
        watch.active = False
        if cancel is not None:
            cancel._detach(watch)


def _watched_request(connection: Any, send: Any, *args: Any, **kwargs: Any) -> None:
    """Register the connection with the attempt being watched, then send. A watch that
    fired before the socket existed (a new connection, a send cancelled before it
    started) cannot shut it, so it is checked before and after sending as well."""
    watch: Watch | None = getattr(_current, "watch", None)
    if watch is not None:
        watch.add(connection)
        if watch.fired is not None:
            raise OSError(f"attempt ended before it was sent ({watch.fired})")
    send(*args, **kwargs)
    if watch is not None and watch.fired is not None:
        _shut(connection)  # fired while connecting: the answer is not waited for


class _WatchedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched_request(self, super().request, *args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched_request(self, super().request, *args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def watching(manager: PoolManager) -> PoolManager:
    """``manager`` (a PoolManager, or a ProxyManager) with connections that report to the
    attempt being watched."""
    manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
    return manager
