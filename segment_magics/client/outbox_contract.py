"""What an outbox is to the code that sends: the records it keeps and the contract it
keeps them by.

Two outboxes implement :class:`OutboxContract`: the durable sqlite one in the
notebook (:class:`~segment_magics.client.outbox.Outbox`) and the in-memory one of a
Spark or Dask task (:class:`~segment_magics.client.distributed.worker.TaskOutbox`),
whose messages come back to the notebook's outbox when the task ends. The bulk
sender talks to either through these methods alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

from ..errors import SegmentError

State = Literal["in_flight", "pending", "rejected"]


class OutboxUnavailable(SegmentError):
    """The outbox cannot be read or written (no permission, a full disk, a locked or
    corrupt file). Nothing is sent that could not be kept."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(
            f"the outbox ({where}) cannot be used: {reason}; point $SEGMENT_MAGICS_OUTBOX "
            "(or the outbox setting) at a writable file"
        )


class Entry(NamedTuple):
    """One message on its way: what the outbox keeps of it until it is acknowledged."""

    message_id: str
    type: str
    label: str  # what a person calls it (event, name, ...)
    row: object  # the input row it came from (a DataFrame label, a position)
    payload: bytes  # the exact JSON sent, so a resend keeps its messageId and timestamp


@dataclass(frozen=True)
class Pending:
    """One message as kept in the outbox."""

    message_id: str
    endpoint: str
    type: str
    label: str
    row: str
    payload: bytes
    state: str
    error: str
    status: int | None
    failed_at: str
    run_id: str | None = None


@dataclass(frozen=True)
class Run:
    """A bulk run as the ledger knows it."""

    run_id: str
    endpoint: str
    kind: str
    label: str
    owner: str | None
    started_at: str
    finished_at: str | None
    rows_total: int | None
    rows_read: int  # rows up to here were read before the last batch left
    in_flight: tuple[tuple[int, int, str | None], ...] = ()  # (first, stop, dated_at) ranges
    next_seq: int = 0  # batch numbers of a resumed run continue here

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


class OutboxContract(Protocol):
    """Keep messages until acknowledged; claim them for a resend; ledger a run's batches.

    Every write either happens or raises :class:`OutboxUnavailable`.
    """

    @property
    def shown_path(self) -> str: ...

    def keep(
        self,
        entries: Iterable[Entry],
        endpoint: str,
        state: State,
        error: str = "",
        status: int | None = None,
        run_id: str | None = None,
    ) -> int:
        """Keep (or update) messages in ``state``; ``in_flight`` ones are claimed by us."""
        ...

    def settle(
        self,
        endpoint: str,
        message_ids: Iterable[str],
        state: State | None,
        error: str = "",
        status: int | None = None,
    ) -> None:
        """After an attempt: ``None`` removes acknowledged messages, else they wait again."""
        ...

    def claim(self, endpoint: str, *, rejected: bool = False) -> list[Pending]:
        """Take what waits for ``endpoint`` for this process (a resend)."""
        ...

    def release(self, endpoint: str) -> int:
        """This process's claims wait again as pending (Ctrl-C, the end of a resend)."""
        ...

    def range_ahead(
        self,
        run_id: str,
        seq: int,
        first_row: int,
        stop_row: int,
        dated_at: str | None,
        settled: Sequence[int] = (),
    ) -> None:
        """Before a batch leaves: input rows ``first..stop`` may now be in flight; the
        ``settled`` batches were acknowledged since the last call."""
        ...

    def range_settled(
        self,
        run_id: str,
        seq: int,
        kept: Sequence[Entry] = (),
        endpoint: str = "",
        state: State = "pending",
        error: str = "",
        status: int | None = None,
    ) -> None:
        """The batch's fate is known: acknowledged (nothing kept) or its messages kept."""
        ...

    def pause_run(self, run_id: str, rows_read: int, settled: Sequence[int] = ()) -> None: ...

    def finish_run(self, run_id: str, rows_read: int) -> None: ...
