"""send_many: stream rows into /v1/batch requests, nothing lost.

The producer (the caller's thread) reads rows lazily, validates each one like a
single call and packs them into ~475 KB / 2,500-message batches (the rows the fast
path wrote a batch at a time, as spans of them), posted over
keep-alive sessions with the usual retries. While the server answers quickly (on
this machine or next to it), the producer posts each batch itself; slower answers
move posting to worker threads, several batches in flight (see :mod:`.pace`). At
most ``2 × workers`` batches exist at once, so memory is bounded by the batches in
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
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import repeat
from typing import Any

from ..messages import MAX_BATCH_MESSAGES, Built, ColumnMap
from .batches import Batch, batch_full, batch_takes
from .builders import Builder, Item, Span, message_items
from .bulk_outcome import reason_of, settle_outcome
from .bulk_result import BulkResult
from .bulk_state import Resume, RunState, count_events, input_frozen, progress_bar
from .deadline import Cancel
from .identities import MissingIds
from .interrupts import InterruptGuard
from .outbox_contract import Entry, OutboxContract, OutboxUnavailable, State
from .problems import Problem, ProblemLog, ProblemStatus, group_key
from .rate import RateBudget
from .transport import Delivery, Transport, batch_body

new_tuple = tuple.__new__
Check = Callable[[Mapping[str, Any]], list[Any]]


class BulkSender:
    """Sends one run: the producer loop, the in-flight window and the bookkeeping.

    ``check`` is the tracking plan's check (``block``: rows it objects to are not
    sent). ``run_id`` ledgers the run's batches in the outbox (a resumable backfill);
    ``claimed`` rows are outbox messages being resent; ``rate`` caps events a second.
    """

    def __init__(
        self,
        transport: Transport,
        outbox: OutboxContract,
        endpoint: str,
        *,
        workers: int = 4,
        dry_run: bool = False,
        progress: bool = True,
        check: Check | None = None,
        block: bool = False,
        run_id: str | None = None,
        claimed: bool = False,
        rate: RateBudget | None = None,
        batch_messages: int | None = None,
        problems_path: str | None = None,
    ) -> None:
        self.transport = transport
        self.outbox = outbox
        self.endpoint = endpoint  # the outbox key ("local" for the session's collector)
        self.workers = max(1, workers)
        self.dry_run = dry_run
        self.show_progress = progress
        self.check = check
        self.block = block
        self.run_id = None if dry_run else run_id
        self.claimed = claimed
        self.rate = rate
        # Under a rate budget a batch holds at most a second's worth, so the rate holds
        # over short spans too.
        most = batch_messages or MAX_BATCH_MESSAGES
        self.batch_messages = min(most, max(1, int(rate.rate))) if rate else most
        self.problems_path = problems_path  # every problem row also goes to this file
        self.cancel = Cancel()

    # -- the run ----------------------------------------------------------------------
    def run(
        self,
        rows: Any,
        build: Builder,
        kind: str,
        resume: Resume | None = None,
        columns: ColumnMap | None = None,
    ) -> BulkResult:
        """Send every row; ``columns`` maps records (tables are read a chunk at a time)."""
        dated_at = resume.dated_at if resume is not None else None
        # rows that need nothing but packing come as spans of them; a plan's check reads
        # each message, and resends and resumed runs have their own bookkeeping per row
        plain = self.check is None and resume is None and not self.claimed
        source, total, labels = message_items(rows, build, columns, dated_at, spans=plain)
        result = BulkResult(type=kind, dry_run=self.dry_run, row_labels=labels, rows_total=total)
        result.problems = ProblemLog(self.problems_path)
        result.outbox_path = self.outbox.shown_path
        if resume is not None:
            result.earlier = (resume.run.rows_read, tuple(r[:2] for r in resume.run.in_flight))
        result.run_id = self.run_id or ""
        result.resumed = resume is not None
        start = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="segment-bulk")
        with InterruptGuard(self.cancel.set) as guard, input_frozen():
            state = RunState(
                result, kind, resume, pool, guard,
                progress_bar(self.show_progress, total, kind),
                Batch(resume.run.next_seq if resume is not None else 0),
            )  # fmt: skip
            try:
                self._produce(state, source)
                if not guard.interrupted and not state.stopped:
                    self._submit(state, state.packing)
                while state.window:
                    self._collect(state, state.window.popleft())
            except KeyboardInterrupt:  # raised where no guard could catch SIGINT
                guard.interrupt()
            finally:
                # Settle everything: the batch being packed and every request in flight.
                if state.packing.entries:
                    why = state.stopped or "interrupted (Ctrl-C) before it was sent"
                    self._keep(state, state.packing, why)
                while state.window:
                    self._collect(state, state.window.popleft())
                pool.shutdown(wait=True)
                if state.bar is not None:
                    self._tick(state)
                    state.bar.close()
            result.interrupted = guard.interrupted
            result.elapsed = time.monotonic() - start
            self._conclude(state)  # (under the guard: a Ctrl-C now still gets the summary)
        return result

    def _produce(self, state: RunState, source: Iterator[Item | Span]) -> None:
        """Read, validate and pack rows until the input ends, Ctrl-C or the outbox fails;
        the batch still being packed is left in ``state.packing``."""
        check, block, result, resume = self.check, self.block, state.result, state.resume
        kind, guard, bar, events = state.kind, state.guard, state.bar, state.result.events
        position = -1
        for item in source:
            if guard.interrupted or state.stopped:
                break
            if isinstance(item, Span):  # rows the fast path wrote, packed as they are
                if not self._pack_span(state, item):
                    break
                position = item.stop - 1
                continue
            position += 1
            label, row, built = item
            if self.claimed:  # a resend: show the row the message first came from
                label = row.row or row.message_id
            result.rows_read += 1
            if bar is not None and result.rows_read % 1000 == 0:
                self._tick(state)
            if isinstance(built, Exception):  # one bad row never stops a run
                result.invalid += 1
                result.missing_ids += isinstance(built, MissingIds)
                result.problems.add(Problem(label, "invalid", reason_of(built), "", "", position))
                continue
            if resume is not None:
                if resume.done(position):
                    result.skipped += 1
                    continue
                if built.message_id in resume.kept:
                    result.failed += 1  # still waiting in the outbox from the earlier run
                    result.problems.add(
                        Problem(label, "failed", "still in the outbox from the earlier run",
                                built.message_id, "", position)
                    )  # fmt: skip
                    continue
            if built.dated:
                result.dated += 1
            if built.warnings:
                result.count_naive(built.warnings)
            count_events(events, built.label, 1)
            objection = None
            if check is not None:
                objection = _objection(check(built.as_sent()))
                if objection is not None:
                    result.plan_violations += 1
                    if block:
                        result.invalid += 1
                        key, detail = objection
                        result.problems.add(
                            Problem(label, "invalid", f"tracking plan: {detail}",
                                    built.message_id, detail, position),
                            f"tracking plan: {key}",
                        )  # fmt: skip
                        continue
            self._pack(state, position, label, kind, built, objection)

    def _pack(
        self,
        state: RunState,
        position: int,
        label: Any,
        kind: str,
        built: Built,
        objection: tuple[str, str] | None,
    ) -> None:
        encoded = built.encoded
        cost = len(encoded) + 1
        batch = state.packing
        entries = batch.entries
        if batch_full(len(entries), batch.size, cost, self.batch_messages):
            self._submit(state, batch)
            if state.stopped:
                return
            batch = state.packing
            entries = batch.entries
        if not entries:
            batch.first_row = position
            batch.dated_at = built.message.get("timestamp") if built.dated else None
        if objection is not None:
            batch.violations[len(entries)] = objection
        # (tuple.__new__: a named tuple's own __new__ is a Python call, once per row)
        entries.append(new_tuple(Entry, (built.message["messageId"], kind, built.label, label,
                                         encoded)))  # fmt: skip
        batch.positions.append(position)
        batch.size += cost
        batch.stop_row = position + 1

    def _pack_span(self, state: RunState, span: Span) -> bool:
        """Pack a span's rows a batch at a time, as :meth:`_pack` packs one row; False
        when the run stopped part-way (Ctrl-C, the outbox), the rows not packed unread."""
        encoded, labels, result, kind = span.encoded, span.labels, state.result, state.kind
        payloads, sizes = encoded.payloads, encoded.sizes
        first, offset, count = span.start, span.offset, span.stop - span.start
        done = 0
        while done < count:
            batch = state.packing
            entries = batch.entries
            low = offset + done
            high, size = batch_takes(sizes, low, offset + count, len(entries), batch.size,
                                     self.batch_messages)  # fmt: skip
            end, taken = high - offset, high - low
            if taken:
                if not entries:
                    batch.first_row = first + done
                    batch.dated_at = encoded.now if encoded.is_dated(low) else None
                names = encoded.labels_of(low, high)
                entries.extend(map(new_tuple, repeat(Entry, taken), zip(
                    encoded.message_ids[low:high], repeat(kind, taken), names, labels[low:high],
                    payloads[low:high], strict=True,
                )))  # fmt: skip
                batch.positions.extend(range(first + done, first + end))
                batch.size, batch.stop_row = size, first + end
                read = result.rows_read
                result.rows_read = read + taken
                result.dated += encoded.dated_count(low, high)
                if type(encoded.labels) is str:
                    count_events(result.events, encoded.labels, taken)
                else:
                    for name in names:
                        count_events(result.events, name, 1)
                if state.bar is not None and read // 1000 != result.rows_read // 1000:
                    self._tick(state)
                done = end
            if done < count:  # the next row does not fit: the batch is full
                if state.guard.interrupted or state.stopped:
                    return False
                self._submit(state, batch)
                if state.stopped:
                    result.rows_read += 1  # (read, with nowhere to go: counted as not sent)
                    return False
        return True

    # -- sending ----------------------------------------------------------------------
    def _submit(self, state: RunState, batch: Batch) -> None:
        """Send ``batch`` (the one being packed); the next one starts empty."""
        if not batch.entries:
            return
        state.packing = Batch(batch.seq + 1)
        if self.dry_run:
            self._objected(state.result, batch, "dry run with violations")
            return
        while len(state.window) >= 2 * self.workers:
            self._collect(state, state.window.popleft())
        if self.rate is not None:
            self.rate.take(len(batch.entries), self.cancel)
        if self.run_id is not None:  # the ledger first: these rows may now be in flight
            try:
                self.outbox.range_ahead(
                    self.run_id, batch.seq, batch.first_row, batch.stop_row, batch.dated_at,
                    state.acknowledged,
                )  # fmt: skip
                state.acknowledged.clear()
            except OutboxUnavailable as exc:
                state.stopped = str(exc)  # nothing leaves that could not be kept
                state.packing = batch
                return
        body = batch_body([e.payload for e in batch.entries])
        if state.pace.pooled:
            future = state.pool.submit(self.transport.post, "batch", body, self.cancel)
            state.window.append((future, batch))
            return
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            delivery = self.transport.post("batch", body, self.cancel)
        except Exception as exc:
            delivery = _unexpected(exc)
        if delivery.interrupted and not state.guard.interrupted:  # a KeyboardInterrupt
            state.guard.interrupt()  # where no guard caught SIGINT: the run stops here too
        state.pace.note(time.perf_counter() - started, time.thread_time() - cpu)
        self._settle(state, batch, delivery)

    def _collect(self, state: RunState, item: tuple[Future[Delivery], Batch]) -> None:
        future, batch = item
        try:  # post() turns network and HTTP failures into a Delivery itself
            delivery = future.result()
        except Exception as exc:
            delivery = _unexpected(exc)
        self._settle(state, batch, delivery)

    def _settle(self, state: RunState, batch: Batch, delivery: Delivery) -> None:
        """A batch's answer: acknowledged, or kept in the outbox."""
        result = state.result
        entries = batch.entries
        result.messages_sent += len(entries) if delivery.sent else 0
        if delivery.attempts > 1:
            result.retried += len(entries)
        result.original_status_code = delivery.status
        if delivery.delivered:
            result.accepted += len(entries)
            result.response_body = delivery.body
            self._objected(result, batch, "sent with violations")
            try:
                if self.run_id is not None:
                    state.acknowledged.append(batch.seq)
                elif self.claimed:
                    self.outbox.settle(self.endpoint, [e.message_id for e in entries], None)
            except OutboxUnavailable as exc:  # delivered; a rerun resends them under the
                state.stopped = state.stopped or str(exc)  # same ids (deduplicated)
        else:
            self._keep(state, batch, delivery.error, delivery)
        batch.entries = []
        self._tick(state)

    @staticmethod
    def _objected(result: BulkResult, batch: Batch, status: ProblemStatus) -> None:
        """The batch's fate is known: its rows with plan violations are recorded so."""
        for index, (key, detail) in batch.violations.items():
            entry = batch.entries[index]
            result.problems.add(
                Problem(entry.row, status, detail, entry.message_id, detail,
                        batch.positions[index]),
                key,
            )  # fmt: skip

    def _tick(self, state: RunState) -> None:
        """Move the bar to the rows delivered so far, so that its rate is the summary's
        delivered events per second (in an outage it stays put, and says what waits)."""
        bar, result = state.bar, state.result
        if bar is None:
            return
        done = result.rows_read if self.dry_run else result.accepted + result.skipped
        if done > bar.n:
            bar.update(done - bar.n)
        elsewhere = {"kept": result.failed + result.rejected, "invalid": result.invalid,
                     "not sent": result.unsent}  # fmt: skip
        shown = ", ".join(f"{word} {n:,}" for word, n in elsewhere.items() if n)
        if shown != state.postfix:
            bar.set_postfix_str(shown, refresh=False)
            state.postfix = shown

    def _keep(
        self, state: RunState, batch: Batch, error: str, delivery: Delivery | None = None
    ) -> None:
        """Nothing lost: undelivered messages wait in the outbox with their payloads. If
        the outbox fails them, they are counted as not sent (a ledgered run still marks
        their rows in flight, so running it again resends them)."""
        entries = batch.entries
        result = state.result
        if not entries or self.dry_run:
            return
        rejected = delivery is not None and delivery.rejected
        status: ProblemStatus = "rejected" if rejected else "failed"
        state_: State = "rejected" if rejected else "pending"
        code = delivery.status if delivery is not None and delivery.status else None
        reason = error
        try:
            if self.run_id is not None:
                self.outbox.range_settled(
                    self.run_id, batch.seq, entries, self.endpoint, state_, error, code
                )
            elif self.claimed:
                self.outbox.settle(self.endpoint, [e.message_id for e in entries], state_,
                                   error, code)  # fmt: skip
            else:
                self.outbox.keep(entries, self.endpoint, state_, error, code)
        except OutboxUnavailable as exc:
            state.stopped = state.stopped or str(exc)
            if not self.claimed:  # a claimed message stays in the outbox, in flight
                status, reason = "not sent", f"{error}; not kept: {exc.reason}"
        counter = {"rejected": "rejected", "failed": "failed", "not sent": "unsent"}[status]
        setattr(result, counter, getattr(result, counter) + len(entries))
        key = group_key(reason)
        for index, entry in enumerate(entries):
            objection = batch.violations.get(index)
            result.problems.add(
                Problem(entry.row, status, reason, entry.message_id,
                        objection[1] if objection else "", batch.positions[index]),
                key,
            )  # fmt: skip
        batch.entries = []

    def _conclude(self, state: RunState) -> None:
        result = state.result
        result.sent = result.messages_sent > 0
        try:
            if self.run_id is not None:
                if result.interrupted or state.stopped:
                    self.outbox.pause_run(self.run_id, result.rows_read, state.acknowledged)
                else:
                    self.outbox.finish_run(self.run_id, result.rows_read)
            if self.claimed:
                self.outbox.release(self.endpoint)
        except OutboxUnavailable as exc:
            state.stopped = state.stopped or str(exc)
        if state.stopped and not result.unsent and self.run_id is not None:
            result.unsent = max(0, _unread_rows(result))
        result.problems.close()
        settle_outcome(result, state.stopped)


def _unexpected(exc: Exception) -> Delivery:
    """post() turns network and HTTP failures into a Delivery itself; anything else it
    raises is a bug, and the batch is kept, not lost."""
    return Delivery(error=f"{type(exc).__name__} while sending: {exc}"[:200])


def _objection(violations: list[Any]) -> tuple[str, str] | None:
    """What the plan says of a row: the key its group goes by (kinds and field paths) and
    the detail with its values (the first three violations); None when nothing."""
    if not violations:
        return None
    key = "; ".join(dict.fromkeys(f"{group_key(v.field)} ({v.kind})" for v in violations))
    detail = "; ".join(str(v) for v in violations[:3])
    if len(violations) > 3:
        detail += f"; +{len(violations) - 3} more"
    return key, detail


def _unread_rows(result: BulkResult) -> int:
    """Rows read but not settled one way or another (the run stopped at the outbox)."""
    settled = (result.accepted + result.failed + result.rejected + result.invalid
               + result.skipped + result.unsent)  # fmt: skip
    return result.rows_read - settled
