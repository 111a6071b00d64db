"""The summary of a bulk send: counts that add up to the rows, and every problem row."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..display import PLAIN, Cell, Style, Table, plural
from .result import OK, Outcome

PROBLEMS_SHOWN = 10

ProblemStatus = Literal["invalid", "failed", "rejected", "sent with violations"]


@dataclass(frozen=True)
class Problem:
    """A row that did not simply go out: why, and its messageId when it had one."""

    row: Any
    status: ProblemStatus
    reason: str
    message_id: str = ""


@dataclass(eq=False, repr=False)
class BulkResult(Outcome):
    """Summary of a bulk send; ``problems`` lists every row that did not go out.

    Every row read ends in exactly one count: ``accepted`` (acknowledged by the
    server), ``failed`` (kept in the outbox as pending), ``rejected`` (refused
    by the server, kept), ``invalid`` (not sent) or ``skipped`` (acknowledged
    in an earlier run of the same run id). Rows never read are ``not_read``.
    """

    rows_read: int = 0
    rows_total: int | None = None
    messages_sent: int = 0
    accepted: int = 0
    invalid: int = 0
    failed: int = 0
    rejected: int = 0
    skipped: int = 0
    unsent: int = 0  # read and valid, but neither sent nor kept: the outbox failed
    retried: int = 0
    dated: int = 0  # rows without a timestamp: dated when read
    plan_violations: int = 0  # rows the tracking plan objected to (sent in warn mode)
    missing_ids: int = 0  # rows refused for having neither a userId nor an anonymousId
    anonymized: int = 0  # rows sent with a generated anonymousId (anonymous=True)
    run_id: str = ""
    resumed: bool = False
    waiting_elsewhere: int = 0  # resend: messages that wait for other endpoints or as rejected
    events: dict[str, int] = field(default_factory=dict)  # rows per event/name (the first 50)
    problems: list[Problem] = field(default_factory=list)
    outbox_path: str = ""
    row_labels: Any = None  # the DataFrame index, when the input was a DataFrame
    partitions: int = 0  # Spark/Dask: the partitions whose workers reported
    only_problems: bool = False  # outcomes() lists problem rows only (distributed runs)

    @property
    def ok(self) -> bool:
        troubles = self.invalid or self.failed or self.rejected or self.unsent or self.interrupted
        return not troubles and self.status_code == OK

    @property
    def not_read(self) -> int:
        return max(0, self.rows_total - self.rows_read) if self.rows_total is not None else 0

    @property
    def label(self) -> str:
        """The event(s) and how many rows: ``Order Completed (5 rows)``,
        ``Order Completed, Signed Up +3 more (1,200 rows)``."""
        rows = plural(self.rows_read, "row")
        names = [self.context_label] if self.context_label else [e for e in self.events if e]
        if not names:
            return rows
        shown = ", ".join(names[:2]) + (f" +{len(names) - 2} more" if len(names) > 2 else "")
        return f"{shown} ({rows})"

    @property
    def events_per_second(self) -> float:
        return self.accepted / self.elapsed if self.elapsed > 0 else 0.0

    def outcomes(self) -> list[dict[str, Any]]:
        """One entry per row read: ``accepted`` unless it is among the problems."""
        if self.only_problems:  # the rows stayed on the workers; only problems came back
            return [
                {"row": p.row, "status": p.status, "reason": p.reason, "messageId": p.message_id}
                for p in self.problems
            ]
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

    @property
    def verdict(self) -> str:
        """The tracking plan's word on the run ("" when no plan checked it)."""
        if not self.plan_checked:
            return ""
        if not self.plan_violations:
            return "valid"
        return plural(self.plan_violations, "row") + " with violations"

    @property
    def outcome(self) -> str:
        if self.dry_run and self.ok:
            return "dry run: validated, nothing sent"
        if self.ok:
            return (
                "nothing to resend"
                if self.type == "resend" and not self.rows_read
                else ("all rows delivered")
            )
        if self.unsent:
            return "stopped: the outbox could not be written"
        if self.interrupted:
            return "interrupted: every row read is acknowledged or in the outbox"
        return "not everything was delivered"

    def __repr__(self) -> str:
        return (
            f"<BulkResult {self.type} {self.label!r} StatusCode={self.status_code} "
            f"accepted={self.accepted:,} ok={self.ok}>"
        )

    def tables(self, style: Style = PLAIN) -> list[Table]:
        return [self.table(style)]  # already a summary of counts, in either view

    def table(self, style: Style = PLAIN) -> Table:
        mark = "✓" if self.ok else "✗"
        read = f"{self.rows_read:,}"
        if self.rows_total is not None and self.rows_total != self.rows_read:
            read += f" of {self.rows_total:,}"
        rows: list[list[Any]] = [
            ["Outcome", Cell(f"{mark} {self.outcome}", status="ok" if self.ok else "fail")],
            ["Rows read", read],
            ["Acknowledged", f"{self.accepted:,}"],
        ]
        if self.partitions:
            rows.insert(2, ["Partitions", f"{self.partitions:,} (sent by the workers)"])
        if self.skipped:
            rows.append(["Already delivered", f"{self.skipped:,} (earlier run of {self.run_id})"])
        for label, count in (
            ("In the outbox (failed)", self.failed),
            ("Rejected (kept)", self.rejected),
            ("Invalid (not sent)", self.invalid),
            ("Not sent (outbox failed)", self.unsent),
            ("Never read", self.not_read if self.interrupted else 0),
        ):
            if count or label.startswith(("In the outbox", "Invalid")):
                rows.append([label, Cell(f"{count:,}", status="fail" if count else None)])
        if self.retried:
            rows.append(["Retried", f"{self.retried:,}"])
        if self.plan_violations:
            rows.append(
                [
                    "Tracking plan",
                    Cell(plural(self.plan_violations, "row") + " with violations", status="fail"),
                ]
            )
        rows += [
            ["Elapsed", f"{self.elapsed:.2f} s"],
            ["Events/s", f"{self.events_per_second:,.0f}"],
        ]
        if self.run_id:
            rows.append(["Run id", self.run_id + (" (resumed)" if self.resumed else "")])
        if self.interrupted:
            rows.append(
                [
                    "Interrupted",
                    Cell(
                        f"Ctrl-C after {self.rows_read:,} rows; the same run id sends the "
                        "same messageIds",
                        status="fail",
                    ),
                ]
            )
        if self.failed or self.rejected:
            rows.append(["Outbox", self.outbox_path])
        if self.waiting_elsewhere:
            rows.append(["Also waiting", f"{self.waiting_elsewhere:,} (for other endpoints)"])
        rows.extend(self._next_rows(style))
        if self.endpoint:
            rows.append(["Endpoint", self.endpoint])
        for problem in self.problems[:PROBLEMS_SHOWN]:
            rows.append(
                [f"row {problem.row}", Cell(f"{problem.status}: {problem.reason}", status="fail")]
            )
        notes = []
        if self.missing_ids:
            notes.append(
                f"{plural(self.missing_ids, 'row')} had no userId or anonymousId: not sent"
            )
        if self.anonymized:
            notes.append(
                f"{plural(self.anonymized, 'row')} had no userId or anonymousId: sent with "
                "generated anonymousIds (the same again for this run id)"
            )
        if self.dated:
            notes.append(
                f"{plural(self.dated, 'row')} had no timestamp: dated now; add a `timestamp` "
                "column for historical events"
            )
        if len(self.problems) > PROBLEMS_SHOWN:
            notes.append(
                f"showing {PROBLEMS_SHOWN} of {len(self.problems)} problem rows; "
                "all of them: result.problems or result.to_pandas()"
            )
        return Table(title=f"Segment bulk {self.type} · {self.label}", rows=rows, notes=notes)
