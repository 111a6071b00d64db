"""send_many: stream rows into /v1/batch requests, several in flight, nothing lost.

The producer (the caller's thread) reads rows lazily, validates each one like a
single call and packs them into ~475 KB / 2,500-message batches; worker threads
post the batches over keep-alive sessions with the usual retries. At most
``2 × workers`` batches exist at once, so memory is bounded by the batches in
flight, not by the input. Whatever cannot be delivered goes to the outbox with
its original messageId.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..display import Cell, Table
from ..errors import ValidationError
from ..messages import (
    MAX_BATCH_MESSAGES,
    Built,
    ColumnMap,
    build_from_segment_dict,
    build_message,
    iter_rows,
    message_label,
)
from .outbox import Outbox
from .result import OK, SYSTEM_ERROR, VALIDATION_ERROR, Result
from .transport import Delivery, Transport, batch_body

if TYPE_CHECKING:
    from tqdm import tqdm as Tqdm

BATCH_TARGET_BYTES = 475_000  # what we pack to: room for the envelope and sentAt under 500 KB
PROBLEMS_SHOWN = 10
MAX_WARNED_ROWS = 1_000  # rows sent despite violations that are listed one by one


ProblemStatus = Literal["invalid", "failed", "sent with violations"]


@dataclass(frozen=True)
class Problem:
    """A row that did not simply go out: why, and its messageId when it had one."""

    row: Any
    status: ProblemStatus
    reason: str
    message_id: str = ""


@dataclass(eq=False, repr=False)
class BulkResult(Result):
    """Summary of a bulk send; ``problems`` lists every row that did not go out."""

    rows_read: int = 0
    sent: bool = False
    messages_sent: int = 0
    accepted: int = 0
    invalid: int = 0
    failed: int = 0
    retried: int = 0
    plan_violations: int = 0  # rows the tracking plan objected to (sent in warn mode)
    interrupted: bool = False
    problems: list[Problem] = field(default_factory=list)
    outbox_path: str = ""
    row_labels: Any = None  # the DataFrame index, when the input was a DataFrame

    @property
    def ok(self) -> bool:
        return not (self.invalid or self.failed or self.interrupted) and self.status_code == OK

    @property
    def label(self) -> str:
        return f"{self.rows_read:,} rows"

    @property
    def events_per_second(self) -> float:
        return self.accepted / self.elapsed if self.elapsed > 0 else 0.0

    def outcomes(self) -> list[dict[str, Any]]:
        """One entry per row read: ``accepted`` unless it is among the problems."""
        by_row = {p.row: p for p in self.problems}
        labels: Iterable[Any] = (
            self.row_labels if self.row_labels is not None else range(self.rows_read)
        )
        out = []
        for index, label in enumerate(labels):
            if index >= self.rows_read:
                break
            problem = by_row.get(label)
            status = "dry run" if self.dry_run else "accepted"
            if problem is None:
                out.append({"row": label, "status": status, "reason": "", "messageId": ""})
            else:
                out.append(
                    {"row": label, "status": problem.status, "reason": problem.reason,
                     "messageId": problem.message_id}
                )  # fmt: skip
        return out

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.outcomes(), columns=["row", "status", "reason", "messageId"])

    def table(self) -> Table:
        mark = "✓" if self.ok else "✗"
        verdict = (
            "dry run: validated, nothing sent"
            if self.dry_run and self.ok
            else ("all rows delivered" if self.ok else "not everything was delivered")
        )
        rows: list[list[Any]] = [
            ["Outcome", Cell(f"{mark} {verdict}", status="ok" if self.ok else "fail")],
            ["Rows read", f"{self.rows_read:,}"],
            ["Sent", f"{self.messages_sent:,}"],
            ["Accepted", f"{self.accepted:,}"],
            ["Invalid (not sent)", f"{self.invalid:,}"],
            ["Failed (in outbox)", f"{self.failed:,}"],
            ["Retried", f"{self.retried:,}"],
            *(
                [
                    [
                        "Tracking plan",
                        Cell(f"{self.plan_violations:,} rows with violations", status="fail"),
                    ]
                ]
                if self.plan_violations
                else []
            ),
            ["Elapsed", f"{self.elapsed:.2f} s"],
            ["Events/s", f"{self.events_per_second:,.0f}"],
        ]
        if self.interrupted:
            rows.append(
                [
                    "Interrupted",
                    Cell("yes: rows after the last one read were not read", status="fail"),
                ]
            )
        if self.failed:
            rows.append(
                [
                    "Outbox",
                    f"{self.outbox_path} (resend with %segment_retry or client.retry_outbox())",
                ]
            )
        if self.endpoint:
            rows.append(["Endpoint", self.endpoint])
        for problem in self.problems[:PROBLEMS_SHOWN]:
            rows.append(
                [f"row {problem.row}", Cell(f"{problem.status}: {problem.reason}", status="fail")]
            )
        notes = []
        if len(self.problems) > PROBLEMS_SHOWN:
            notes.append(
                f"showing {PROBLEMS_SHOWN} of {len(self.problems)} problem rows; "
                "all of them: result.problems or result.to_pandas()"
            )
        return Table(title=f"Segment bulk {self.type} · {self.label}", rows=rows, notes=notes)


def _progress(enabled: bool, total: int | None, what: str) -> Tqdm | None:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=" events", desc=f"segment {what}", smoothing=0.1, mininterval=0.5)


Entry = tuple[str, str, str, Any, bytes]  # message_id, type, label, row label, payload


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
        self.endpoint = endpoint
        self.workers = max(1, workers)
        self.dry_run = dry_run
        self.show_progress = progress
        self.check = check
        self.block = block

    def run(self, rows: Any, build: Callable[[Any], Built], kind: str) -> BulkResult:
        source, total, labels = iter_rows(rows)
        result = BulkResult(type=kind, dry_run=self.dry_run, row_labels=labels)
        result.outbox_path = self.outbox.shown_path
        start = time.monotonic()
        bar = _progress(self.show_progress, total, kind)
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="segment-bulk")
        window: deque[tuple[Future[Delivery], list[Entry]]] = deque()
        chunk: list[Entry] = []
        chunk_bytes = 0
        try:
            try:
                for label, row in source:
                    result.rows_read += 1
                    try:
                        built = build(row)
                    except ValidationError as exc:
                        result.invalid += 1
                        result.problems.append(Problem(label, "invalid", str(exc)))
                        continue
                    if self.check is not None:
                        violations = self.check(built.message)
                        if violations:
                            result.plan_violations += 1
                            reason = "; ".join(str(v) for v in violations[:3])
                            if self.block:
                                result.invalid += 1
                                result.problems.append(
                                    Problem(
                                        label,
                                        "invalid",
                                        f"tracking plan: {reason}",
                                        built.message_id,
                                    )
                                )
                                continue
                            if len(result.problems) < MAX_WARNED_ROWS:
                                result.problems.append(
                                    Problem(label, "sent with violations", reason, built.message_id)
                                )
                    entry = (
                        built.message_id,
                        kind,
                        message_label(built.message),
                        label,
                        built.encoded,
                    )
                    if batch_full(len(chunk), chunk_bytes, len(entry[4]) + 1):
                        self._submit(pool, window, chunk, result)
                        chunk, chunk_bytes = [], 0
                    chunk.append(entry)
                    chunk_bytes += len(entry[4]) + 1
                    if bar is not None and result.rows_read % 1000 == 0:
                        bar.update(1000)
                if chunk:
                    self._submit(pool, window, chunk, result)
                    chunk = []
                while window:
                    self._collect(window.popleft(), result)
            except KeyboardInterrupt:
                result.interrupted = True
                self._keep(chunk, "interrupted before sending", result)
                for future, entries in window:
                    if future.cancel():
                        self._keep(entries, "interrupted before sending", result)
                    else:
                        self._collect((future, entries), result)
                window.clear()
        finally:
            pool.shutdown(wait=True)
            if bar is not None:
                bar.update(result.rows_read - bar.n)
                bar.close()
        result.elapsed = time.monotonic() - start
        result.sent = result.messages_sent > 0
        if result.failed or result.interrupted:
            result.status_code = SYSTEM_ERROR
            result.error_message = (
                f"{result.failed:,} messages not delivered; kept in the outbox for %segment_retry"
            )
        elif result.invalid:
            result.status_code = VALIDATION_ERROR
            result.error_message = (
                f"{result.invalid:,} invalid rows were not sent (see the problems)"
            )
        return result

    def _submit(
        self, pool: ThreadPoolExecutor, window: deque, chunk: list[Entry], result: BulkResult
    ) -> None:
        if self.dry_run:
            return
        while len(window) >= 2 * self.workers:
            self._collect(window.popleft(), result)
        future = pool.submit(self.transport.post, "batch", batch_body([e[4] for e in chunk]))
        window.append((future, chunk))

    def _collect(self, item: tuple[Future[Delivery], list[Entry]], result: BulkResult) -> None:
        future, entries = item
        delivery = future.result()
        result.messages_sent += len(entries) if delivery.sent else 0
        if delivery.attempts > 1:
            result.retried += len(entries)
        result.original_status_code = delivery.status
        if delivery.delivered:
            result.accepted += len(entries)
            result.response_body = delivery.body
        else:
            self._keep(entries, delivery.error, result)

    def _keep(self, entries: list[Entry], error: str, result: BulkResult) -> None:
        if not entries:
            return
        self.outbox.add(entries, self.endpoint, error)
        result.failed += len(entries)
        result.problems.extend(Problem(e[3], "failed", error, e[0]) for e in entries)


def batch_full(count: int, size: int, cost: int) -> bool:
    """Would a message of ``cost`` bytes push the batch being packed past the limits?"""
    return count > 0 and (size + cost > BATCH_TARGET_BYTES or count >= MAX_BATCH_MESSAGES)


def pack_batches(built: Iterable[Built]) -> Iterator[list[Built]]:
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


_ID_KEYS = ("userId", "user_id", "anonymousId", "anonymous_id")


def segment_dict_builder(anonymous_id: str | None = None) -> Callable[[Mapping[str, Any]], Built]:
    """Rows that are Segment-shaped dicts (``{"type": "track", ...}``)."""

    def build(row: Mapping[str, Any]) -> Built:
        if (
            anonymous_id is not None
            and isinstance(row, Mapping)
            and row.get("type") != "alias"
            and not any(row.get(key) for key in _ID_KEYS)
        ):
            row = {**row, "anonymousId": anonymous_id}
        return build_from_segment_dict(row, copy=False)

    return build


def row_builder(
    columns: ColumnMap, anonymous_id: str | None = None
) -> Callable[[Mapping[str, Any]], Built]:
    """Rows that are records: columns map to the call's fields and body."""
    columns = columns.checked_defaults([])
    kind = columns.kind
    fallback = anonymous_id if kind != "alias" else None

    def build(row: Mapping[str, Any]) -> Built:
        args = columns.arguments(row)
        if (
            fallback is not None
            and args.get("user_id") is None
            and args.get("anonymous_id") is None
        ):
            args["anonymous_id"] = fallback
        return build_message(kind, copy=False, **args)

    return build
