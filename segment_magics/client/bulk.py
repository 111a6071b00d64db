"""send_many: stream rows into /v1/batch requests, several in flight, nothing lost.

The producer (the caller's thread) reads rows lazily, validates each one like a
single call and packs them into ~475 KB / 2,500-message batches; worker threads
post the batches over keep-alive sessions with the usual retries. At most
``2 × workers`` batches exist at once, so memory is bounded by the batches in
flight, not by the input.

Nothing is lost, whatever happens: every row read ends acknowledged, in the
outbox (with its payload, so a resend keeps its messageId and timestamp), or
reported invalid. Each batch's row range is written to the outbox's ledger
before it leaves, and rows get messageIds derived from the run id, so after a
kill -9 rerunning with the same run id resends exactly what may have been in
flight, under the same ids. Ctrl-C cancels the requests in flight and settles
every row before the run returns.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..display import plural
from ..errors import ValidationError
from ..messages import (
    BODY,
    MAX_BATCH_MESSAGES,
    Built,
    ColumnMap,
    build_from_segment_dict,
    iter_rows,
)
from ..messages.build import build_from_arguments
from ..messages.ids import key_id
from .bulk_result import BulkResult, Problem, ProblemStatus
from .deadline import Cancel
from .identities import Identities, MissingIds
from .interrupts import InterruptGuard
from .outbox import Entry, Outbox, Pending, Run, State
from .rate import RateBudget
from .result import SYSTEM_ERROR, VALIDATION_ERROR
from .transport import Delivery, Transport, batch_body

if TYPE_CHECKING:
    from tqdm import tqdm as Tqdm

BATCH_TARGET_BYTES = 475_000  # what we pack to: room for the envelope and sentAt under 500 KB
MAX_WARNED_ROWS = 1_000  # rows sent despite violations that are listed one by one
MIN_ROWS_FOR_A_BAR = 50  # a progress bar for fewer rows is noise

# build(row, position, now): the message a row stands for; ``now`` dates rows
# that have no timestamp (None: the current time).
Builder = Callable[[Any, int, "str | None"], Built]


def _progress(enabled: bool, total: int | None, what: str) -> Tqdm | None:
    if not enabled or (total is not None and total < MIN_ROWS_FOR_A_BAR):
        return None
    from tqdm.auto import tqdm

    # smoothing=0: the rate shown is the average since the start, as in the summary
    return tqdm(total=total, unit=" events", desc=f"segment {what}", smoothing=0, mininterval=0.5)


MAX_NAMED_EVENTS = 50  # distinct event names a bulk summary keeps count of


@dataclass
class _Batch:
    """One /v1/batch request: its messages and the input rows it covers."""

    seq: int
    entries: list[Entry] = field(default_factory=list)
    size: int = 0
    first_row: int = -1
    stop_row: int = 0
    dated_at: str | None = None


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

    def done(self, position: int) -> bool:
        return position < self.run.rows_read and not self.in_flight_at(position)[0]


class BulkSender:
    """One bulk run: the producer loop, the in-flight window and the bookkeeping."""

    def __init__(
        self,
        transport: Transport,
        outbox: Outbox,
        endpoint: str,
        *,
        workers: int = 4,
        dry_run: bool = False,
        progress: bool = True,
        check: Callable[[Mapping[str, Any]], list[Any]] | None = None,
        block: bool = False,
    ) -> None:
        self.transport = transport
        self.outbox = outbox
        self.endpoint = endpoint  # the outbox key ("local" for the session's collector)
        self.workers = max(1, workers)
        self.dry_run = dry_run
        self.show_progress = progress
        self._bar: Tqdm | None = None
        self.check = check
        self.block = block
        self.cancel = Cancel()
        self.run_id: str | None = None  # a ledgered run (send_many); None for resends
        self.claimed = False  # rows are claimed outbox messages (a resend)
        self.rate: RateBudget | None = None  # max_rate: waits before each batch
        self.batch_messages = MAX_BATCH_MESSAGES  # smaller under a rate budget: smoother

    def limit_rate(self, budget: RateBudget | None) -> None:
        """Send at most ``budget.rate`` events a second, in batches of at most a second's
        worth, so the rate holds over short spans too."""
        self.rate = budget
        if budget is not None:
            self.batch_messages = max(1, min(MAX_BATCH_MESSAGES, int(budget.rate)))

    # -- the run ----------------------------------------------------------------------
    def run(
        self,
        rows: Any,
        build: Builder,
        kind: str,
        resume: Resume | None = None,
        columns: ColumnMap | None = None,
    ) -> BulkResult:
        """Send every row; with ``columns``, DataFrame rows arrive mapped to arguments."""
        source, total, labels = iter_rows(rows, columns)
        result = BulkResult(type=kind, dry_run=self.dry_run, row_labels=labels, rows_total=total)
        result.outbox_path = self.outbox.shown_path
        result.run_id = self.run_id or ""
        result.resumed = resume is not None
        start = time.monotonic()
        bar = self._bar = _progress(self.show_progress, total, kind)
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="segment-bulk")
        window: deque[tuple[Future[Delivery], _Batch]] = deque()
        self._packing = _Batch(resume.run.next_seq if resume is not None else 0)
        with InterruptGuard(self.cancel.set) as guard:
            try:
                self._produce(source, build, kind, resume, result, pool, window, bar, guard)
                if not guard.interrupted:
                    self._submit(pool, window, self._packing, result)
                while window:
                    self._collect(window.popleft(), result)
            except KeyboardInterrupt:  # raised where no guard could catch SIGINT
                guard.interrupt()
            finally:
                # Settle everything: the batch being packed and every request in flight.
                if self._packing.entries:
                    self._keep(self._packing, "interrupted (Ctrl-C) before it was sent", result)
                while window:
                    self._collect(window.popleft(), result)
                pool.shutdown(wait=True)
                if bar is not None:
                    self._tick(result)
                    bar.close()
            result.interrupted = guard.interrupted
        result.elapsed = time.monotonic() - start
        # the bar and the summary agree on events per second
        self._conclude(result)
        return result

    def _produce(
        self,
        source: Iterator[tuple[Any, Any]],
        build: Builder,
        kind: str,
        resume: Resume | None,
        result: BulkResult,
        pool: ThreadPoolExecutor,
        window: deque[tuple[Future[Delivery], _Batch]],
        bar: Tqdm | None,
        guard: InterruptGuard,
    ) -> None:
        """Read, validate and pack rows until the input ends or Ctrl-C; the batch still
        being packed is left in ``self._packing``."""
        check, block = self.check, self.block
        for position, (label, row) in enumerate(source):
            if guard.interrupted:
                break
            if self.claimed:  # a resend: show the row the message first came from
                label = row.row or row.message_id
            result.rows_read += 1
            if bar is not None and result.rows_read % 1000 == 0:
                self._tick(result)
            now = None
            if resume is not None:
                in_flight, now = resume.in_flight_at(position)
                if not in_flight and position < resume.run.rows_read:
                    now = None
            try:
                built = build(row, position, now)
            except Exception as exc:  # one bad row never stops a run
                result.invalid += 1
                result.missing_ids += isinstance(exc, MissingIds)
                result.problems.append(Problem(label, "invalid", _reason(exc)))
                continue
            if resume is not None:
                if resume.done(position):
                    result.skipped += 1
                    continue
                if built.message_id in resume.kept:
                    result.failed += 1  # still waiting in the outbox from the earlier run
                    continue
            if built.dated:
                result.dated += 1
            events = result.events
            if built.label in events:
                events[built.label] += 1
            elif len(events) < MAX_NAMED_EVENTS:
                events[built.label] = 1
            if check is not None:
                violations = check(built.message)
                if violations:
                    result.plan_violations += 1
                    reason = "; ".join(str(v) for v in violations[:3])
                    if block:
                        result.invalid += 1
                        result.problems.append(
                            Problem(label, "invalid", f"tracking plan: {reason}", built.message_id)
                        )
                        continue
                    if len(result.problems) < MAX_WARNED_ROWS:
                        result.problems.append(
                            Problem(label, "sent with violations", reason, built.message_id)
                        )
            encoded = built.encoded
            cost = len(encoded) + 1
            batch = self._packing
            entries = batch.entries
            if entries and (
                batch.size + cost > BATCH_TARGET_BYTES or len(entries) >= self.batch_messages
            ):
                self._submit(pool, window, batch, result)
                batch = self._packing = _Batch(batch.seq + 1)
                entries = batch.entries
            if not entries:
                batch.first_row = position
                batch.dated_at = built.message.get("timestamp") if built.dated else None
            entries.append((built.message["messageId"], kind, built.label, label, encoded))
            batch.size += cost
            batch.stop_row = position + 1

    # -- sending ----------------------------------------------------------------------
    def _submit(
        self,
        pool: ThreadPoolExecutor,
        window: deque[tuple[Future[Delivery], _Batch]],
        batch: _Batch,
        result: BulkResult,
    ) -> None:
        if not batch.entries or self.dry_run:
            batch.entries = []
            return
        while len(window) >= 2 * self.workers:
            self._collect(window.popleft(), result)
        if self.rate is not None:
            self.rate.take(len(batch.entries), self.cancel)
        if self.run_id is not None:  # the ledger first: these rows may now be in flight
            self.outbox.range_ahead(
                self.run_id, batch.seq, batch.first_row, batch.stop_row, batch.dated_at
            )
        body = batch_body([e[4] for e in batch.entries])
        future = pool.submit(self.transport.post, "batch", body, self.cancel)
        window.append((future, batch))

    def _collect(self, item: tuple[Future[Delivery], _Batch], result: BulkResult) -> None:
        future, batch = item
        try:
            delivery = future.result()
        except Exception as exc:  # pragma: no cover - post() catches what requests raises
            delivery = Delivery(error=f"{type(exc).__name__} while sending")
        entries = batch.entries
        result.messages_sent += len(entries) if delivery.sent else 0
        if delivery.attempts > 1:
            result.retried += len(entries)
        result.original_status_code = delivery.status
        if delivery.delivered:
            result.accepted += len(entries)
            result.response_body = delivery.body
            if self.run_id is not None:
                self.outbox.range_settled(self.run_id, batch.seq)
            elif self.claimed:
                self.outbox.settle(self.endpoint, [e[0] for e in entries], None)
        else:
            self._keep(batch, delivery.error, result, delivery)
        batch.entries = []
        self._tick(result)

    def _tick(self, result: BulkResult) -> None:
        """Move the bar to the rows settled so far (acknowledged, kept or invalid), so
        that its rate and the summary's events per second are the same measure."""
        bar = self._bar
        if bar is None:
            return
        done = result.rows_read if self.dry_run else (
            result.accepted + result.failed + result.rejected + result.invalid + result.skipped
        )  # fmt: skip
        if done > bar.n:
            bar.update(done - bar.n)

    def _keep(
        self, batch: _Batch, error: str, result: BulkResult, delivery: Delivery | None = None
    ) -> None:
        """Nothing lost: undelivered messages wait in the outbox with their payloads."""
        entries = batch.entries
        if not entries or self.dry_run:
            return
        rejected = delivery is not None and delivery.rejected
        state: State = "rejected" if rejected else "pending"
        status = delivery.status if delivery is not None and delivery.status else None
        if self.run_id is not None:
            self.outbox.range_settled(
                self.run_id, batch.seq, entries, self.endpoint, state, error, status
            )
        elif self.claimed:
            self.outbox.settle(self.endpoint, [e[0] for e in entries], state, error, status)
        else:
            self.outbox.keep(entries, self.endpoint, state, error, status)
        if rejected:
            result.rejected += len(entries)
        else:
            result.failed += len(entries)
        status_word: ProblemStatus = "rejected" if rejected else "failed"
        result.problems.extend(Problem(e[3], status_word, error, e[0]) for e in entries)
        batch.entries = []

    def _conclude(self, result: BulkResult) -> None:
        result.sent = result.messages_sent > 0
        if self.run_id is not None and not self.dry_run:
            if result.interrupted:
                self.outbox.pause_run(self.run_id, result.rows_read)
            else:
                self.outbox.finish_run(self.run_id, result.rows_read)
        if self.claimed:
            self.outbox.release(self.endpoint)
        settle_outcome(result)


def settle_outcome(result: BulkResult) -> None:
    """StatusCode and ErrorMessage from a run's counts (local and distributed runs alike)."""
    if result.failed or result.interrupted:
        result.status_code = SYSTEM_ERROR
        kept = result.failed
        result.error_message = (
            f"{plural(kept, 'message')} not delivered; kept in the outbox for %segment_retry"
            if kept
            else "interrupted (Ctrl-C): every row read was acknowledged"
        )
        if result.interrupted and result.not_read:
            result.error_message += (
                f"; {plural(result.not_read, 'row')} {_were(result.not_read)} never read"
            )
    elif result.rejected:
        result.error_message = (
            f"{plural(result.rejected, 'message')} rejected by the API (HTTP "
            f"{result.original_status_code}); kept in the outbox, resend with "
            "%segment_retry --rejected after fixing them"
        )
    elif result.invalid:
        result.status_code = VALIDATION_ERROR
        result.error_message = (
            f"{plural(result.invalid, 'invalid row')} {_were(result.invalid)} not sent "
            "(see the problems)"
        )


def _were(count: int) -> str:
    return "was" if count == 1 else "were"


def _reason(exc: Exception) -> str:
    """A one-line reason for an invalid row: our errors as they are, others with their type."""
    from ..errors import ValidationError

    if isinstance(exc, ValidationError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "nests too deep to convert (a recursive structure?)"
    return f"{type(exc).__name__}: {exc}"


def batch_full(count: int, size: int, cost: int) -> bool:
    """Would a message of ``cost`` bytes push the batch being packed past the limits?"""
    return count > 0 and (size + cost > BATCH_TARGET_BYTES or count >= MAX_BATCH_MESSAGES)


def pack_batches(built: list[Built]) -> Iterator[list[Built]]:
    """Group built messages into /v1/batch requests within the byte and count limits."""
    chunk: list[Built] = []
    size = 0
    for item in built:
        cost = item.size + 1
        if batch_full(len(chunk), size, cost):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += cost
    if chunk:
        yield chunk


# -- builders: how a row becomes a message -------------------------------------------
def segment_dict_builder(
    ids: Callable[[int], str] | None = None, identities: Identities | None = None
) -> Builder:
    """Rows that are Segment-shaped dicts (``{"type": "track", ...}``)."""

    def build(row: Any, position: int, now: str | None) -> Built:
        def fill(args: dict[str, Any]) -> None:
            if ids is not None and not args.get("message_id"):
                args["message_id"] = ids(position)
            if identities is not None and row.get("type") != "alias":
                identities.fill(args, position)

        return build_from_segment_dict(row, copy=False, now=now, extra=fill)

    return build


def row_builder(
    columns: ColumnMap,
    ids: Callable[[int], str] | None = None,
    identities: Identities | None = None,
    mapped: bool = False,
    key: tuple[str, str] | None = None,
) -> Builder:
    """Rows that are records: columns map to the call's fields and body. ``mapped``
    rows are the call's arguments already (DataFrames read with the ColumnMap).
    ``key`` (run id, column): messageIds come from that column's value, not from
    the row's position."""
    kind = columns.kind
    who = identities if kind != "alias" else None
    body = BODY.get(kind)

    def build(row: Any, position: int, now: str | None) -> Built:
        args = row if mapped else columns.arguments(row)
        if who is not None:
            who.fill(args, position)
        if not args.get("message_id"):
            if key is not None:
                args["message_id"] = key_id(key[0], _key_value(args, body, key[1]))
            elif ids is not None:
                args["message_id"] = ids(position)
        return build_from_arguments(kind, args, copy=False, now=now)

    return build


def _key_value(args: Mapping[str, Any], body: str | None, column: str) -> Any:
    values = args.get(body) if body else None
    if isinstance(values, Mapping) and column in values:
        return values[column]
    if column in args:
        return args[column]
    raise ValidationError(column, "the key column is empty in this row; every row needs a key")


def stored_builder(pending: Pending, position: int, now: str | None) -> Built:
    """A kept message, exactly as it was built the first time (no second serialization);
    the stand-in message carries what the bookkeeping reads: type, id and label."""
    stand_in = {"type": pending.type, "messageId": pending.message_id}
    return Built(stand_in, (), pending.payload, False, pending.label)
