"""Where a bulk run posts its batches from: the producer's own thread, or worker threads.

Against a server that answers at once (on this machine or next to it), handing each
batch to a worker thread costs more than the request: the threads take turns at the
GIL many times a request. Measured against a local nginx, 100,000 events: posting
from the producer took 0.7 s, four worker threads 0.9-1.1 s. Against a distant
server the threads win, as they wait side by side.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

QUICK_ANSWER_SECONDS = 0.003  # waits this short: the producer posts itself
SLOW_ANSWER_SECONDS = 0.05  # one wait this long moves posting to worker threads


@dataclass
class Pace:
    """Where batches are posted from: the producer while the server answers quickly,
    worker threads for good once it does not. Quickly is the median of the last few
    waits, from the third on (a process's first request also pays for warming up, and
    one slow moment decides nothing); one wait longer than :data:`SLOW_ANSWER_SECONDS`
    (a distant server, retries, a timeout) decides at once. Only posts the producer
    made are timed: a worker thread's include its waits for the GIL (measured:
    25-35 ms against a local nginx that answers in 0.7 ms)."""

    waits: deque[float] = field(default_factory=lambda: deque(maxlen=5))
    pooled: bool = False

    def note(self, seconds: float, cpu_seconds: float) -> None:
        """One post from the producer: ``seconds`` on the clock, ``cpu_seconds`` of them
        its thread's CPU."""
        waited = max(0.0, seconds - cpu_seconds)
        waits = self.waits
        waits.append(waited)
        median = sorted(waits)[len(waits) // 2]
        self.pooled = waited >= SLOW_ANSWER_SECONDS or (
            len(waits) >= 3 and median >= QUICK_ANSWER_SECONDS
        )
