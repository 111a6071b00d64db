"""A send-rate budget: at most N events per second, averaged over a second or two.

Segment accepts about 1,000 events/s per workspace unless more is arranged, and
Segment-compatible servers have limits of their own. A backfill given
``max_rate`` waits before each batch until the budget allows it; on a cluster
every worker gets an equal share of the global rate.
"""

from __future__ import annotations

import threading
import time

from .deadline import Cancel


class RateBudget:
    """A token bucket: ``rate`` tokens a second, holding at most ``burst`` of them."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if not rate > 0:
            raise ValueError(
                f"max_rate must be a positive number of events per second, got {rate!r}"
            )
        self.rate = float(rate)
        self.burst = max(1.0, burst if burst is not None else self.rate)
        self._tokens = self.burst
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def take(self, count: int, cancel: Cancel | None = None) -> float:
        """Wait until ``count`` events may go (a batch larger than the burst waits for
        its whole share); returns the seconds waited. Ctrl-C (``cancel``) ends the wait."""
        waited = 0.0
        with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                need = min(float(count), self.burst)
                if self._tokens >= need:
                    self._tokens -= count  # may go below zero: a big batch borrows ahead
                    return waited
                pause = (need - self._tokens) / self.rate
                if cancel is not None and cancel.wait(pause):
                    return waited
                if cancel is None:
                    time.sleep(pause)
                waited += pause

    def share(self, parts: int) -> RateBudget:
        """An equal part of this budget, for one of ``parts`` workers sending at once."""
        return RateBudget(self.rate / max(1, parts))
