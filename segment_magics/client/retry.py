"""When to retry and how long to wait: Segment's cross-SDK rules, bounded in time."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Protocol

from ..display import plural

NEVER_RETRIED_5XX = frozenset({501, 505})


class Cancellable(Protocol):
    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True as soon as the operation is cancelled."""
        ...


def is_retryable_status(status: int) -> bool:
    """408, 429 and 5xx except 501/505 are worth another try; other 4xx are final."""
    if status in {408, 429}:
        return True
    return 500 <= status < 600 and status not in NEVER_RETRIED_5XX


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped per wait and in total.

    An interactive call must not hang for minutes: by default at most 3 retries
    and 30 s of waiting in all; ``Retry-After`` is honoured up to 20 s.
    """

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_retry_after: float = 20.0
    total_budget: float = 30.0

    def backoff(self, retry_number: int) -> float:
        """Wait before retry ``retry_number`` (1-based): base·2ⁿ⁻¹ with ±25 % jitter."""
        raw = min(self.backoff_cap, self.backoff_base * 2 ** (retry_number - 1))
        return raw * random.uniform(0.75, 1.25)

    def wait(self, retry_number: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return self.backoff(retry_number)

    def start(self) -> RetryState:
        """The state of one request's retries under this policy."""
        return RetryState(self)


class RetryState:
    """One request's way through its retries: count the attempts, say how long to wait
    before the next one, and when to give up (after ``max_retries``, or when the next
    wait would pass the time budget). Transport and the Public API both run on it."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.attempts = 0
        self.started = time.monotonic()

    def begin(self) -> int:
        """Count the attempt about to be made; returns its number (1 for the first)."""
        self.attempts += 1
        return self.attempts

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def next_wait(self, retry_after: float | None = None) -> tuple[float, str]:
        """(seconds to wait before the next attempt, "") or (0, why we give up)."""
        policy = self.policy
        if self.attempts > policy.max_retries:
            return 0.0, f"gave up after {plural(self.attempts, 'attempt')}"
        wait = policy.wait(self.attempts, retry_after)
        if self.elapsed + wait > policy.total_budget:
            return 0.0, (
                f"gave up after {plural(self.attempts, 'attempt')} "
                f"(next wait {wait:.1f} s would pass the {policy.total_budget:g} s budget)"
            )
        return wait, ""

    def sleep(self, seconds: float, cancel: Cancellable | None = None) -> bool:
        """Wait before the next attempt; True (at once) when ``cancel`` fires."""
        if cancel is not None:
            return cancel.wait(seconds)
        time.sleep(seconds)
        return False
