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

from .transport import Delivery

QUICK_ANSWER_SECONDS = 0.003  # answers this quick are waited for by the producer itself
SLOW_ANSWER_SECONDS = 0.05  # one answer this slow moves posting to worker threads


@dataclass
class Pace:
    """Where batches are posted from: the producer while the server's answers are quick,
    worker threads for good once they are not. Quick is the median of the last few
    answers, from the third on (a process's first request also pays for warming up, and
    one slow moment decides nothing); one answer slower than :data:`SLOW_ANSWER_SECONDS`
    (a distant server, retries, a timeout) decides at once. Only answers the producer
    waited for are timed: a worker thread's include its waits for the GIL (measured:
    25-35 ms against a local nginx that answers in 0.7 ms)."""

    answers: deque[float] = field(default_factory=lambda: deque(maxlen=5))
    pooled: bool = False

    def note(self, delivery: Delivery) -> None:
        answers = self.answers
        answers.append(delivery.elapsed)
        median = sorted(answers)[len(answers) // 2]
        self.pooled = delivery.elapsed >= SLOW_ANSWER_SECONDS or (
            len(answers) >= 3 and median >= QUICK_ANSWER_SECONDS
        )
