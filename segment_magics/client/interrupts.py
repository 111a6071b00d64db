"""Ctrl-C while sending: stop at once, but never in the middle of the bookkeeping.

A KeyboardInterrupt raised at an arbitrary point could land between "the server
acknowledged this batch" and "remove it from the outbox", or while a batch is
being written to the outbox. While a send runs in the main thread, SIGINT is
therefore turned into a flag: the send cancels its requests (their sockets are
shut down, so this is immediate), settles every message (acknowledged, or kept
in the outbox), and then reports the interruption. Elsewhere (a worker thread,
a platform without signals) a KeyboardInterrupt is caught where it surfaces.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any


class InterruptGuard:
    """``with InterruptGuard(on_interrupt) as guard:`` ... ``guard.interrupted``."""

    def __init__(self, on_interrupt: Callable[[], None] | None = None) -> None:
        self.interrupted = False
        self._callbacks = [on_interrupt] if on_interrupt else []
        self._previous: Any = None
        self._installed = False

    def on_interrupt(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def interrupt(self) -> None:
        """Record an interruption (from SIGINT, or a KeyboardInterrupt caught elsewhere)."""
        self.interrupted = True
        for callback in self._callbacks:
            callback()

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.interrupt()

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            try:
                previous = signal.getsignal(signal.SIGINT)
                if previous not in (signal.SIG_IGN, None):
                    signal.signal(signal.SIGINT, self._handler)
                    self._previous, self._installed = previous, True
            except (ValueError, OSError):  # no signals here (e.g. an embedded interpreter)
                pass
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
