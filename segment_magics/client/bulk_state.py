"""A bulk run's state while it runs: the summary, the requests in flight, the batch
being packed, and what an earlier run of the same run id left (:class:`Resume`)."""

from __future__ import annotations

import contextlib
import gc
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..display import progress_bar as a_bar
from .batches import Batch
from .bulk_result import BulkResult
from .interrupts import InterruptGuard
from .outbox_contract import Run
from .pace import Pace
from .transport import Delivery

if TYPE_CHECKING:
    from tqdm import tqdm as Tqdm

MIN_ROWS_FOR_A_BAR = 50  # a progress bar for fewer rows is noise
MAX_NAMED_EVENTS = 50  # distinct event names a bulk summary keeps count of


def progress_bar(enabled: bool, total: int | None, what: str) -> Tqdm | None:
    if not enabled or (total is not None and total < MIN_ROWS_FOR_A_BAR):
        return None
    return a_bar(total, what)


@dataclass
class Resume:
    """What an earlier run of the same run id left: rows below ``rows_read`` were
    acknowledged or kept, except those in the ranges still marked in flight."""

    run: Run
    kept: frozenset[str]  # messageIds the outbox already keeps

    def in_flight_at(self, position: int) -> tuple[bool, str | None]:
        for first, stop, dated_at in self.run.in_flight:
            if first <= position < stop:
                return True, dated_at
        return False, None

    def dated_at(self, position: int) -> str | None:
        """When a row of the earlier run was dated, if it may have been sent then (its
        resend must say the same); None for rows dated now."""
        in_flight, dated = self.in_flight_at(position)
        return dated if in_flight or position >= self.run.rows_read else None

    def done(self, position: int) -> bool:
        return position < self.run.rows_read and not self.in_flight_at(position)[0]


@dataclass
class RunState:
    """One run in progress: its summary, the requests in flight and the batch being packed."""

    result: BulkResult
    kind: str
    resume: Resume | None
    pool: ThreadPoolExecutor
    guard: InterruptGuard
    bar: Tqdm | None
    packing: Batch
    window: deque[tuple[Future[Delivery], Batch]] = field(default_factory=deque)
    stopped: str = ""  # why the run stopped early (the outbox failed)
    # Batches acknowledged but not yet struck from the ledger: noted with the next write
    # (one transaction per batch instead of two; a crash before it resends them under
    # the same messageIds).
    acknowledged: list[int] = field(default_factory=list)
    postfix: str = ""  # what the bar says besides delivered rows (kept, invalid)
    pace: Pace = field(default_factory=Pace)


@contextlib.contextmanager
def input_frozen() -> Iterator[None]:
    """Keep the garbage collector off what existed before the run (the input table, the
    notebook's objects) while it runs: a run allocates a few objects per row, and every
    full collection would scan all of that again. Profiled: a 100,000-row DataFrame
    spent 40 % of its build time in collections. Left alone when something else froze
    the heap already."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def count_events(events: dict[str, int], name: str, count: int) -> None:
    """Count messages by label (the first :data:`MAX_NAMED_EVENTS` labels seen)."""
    if name in events:
        events[name] += count
    elif len(events) < MAX_NAMED_EVENTS:
        events[name] = count
