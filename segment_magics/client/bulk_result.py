"""The summary of a bulk send: counts that add up to the rows, and its problems grouped.

Every number a run shows comes from the same counts: the summary, the groups of
problem rows, ``result.problems``, ``result.to_pandas()`` and the history agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..display import PLAIN, Cell, Style, Table, plural
from ..errors import require
from .problems import NOT_SENT, Problem, ProblemGroup, ProblemLog, ProblemStatus
from .result import OK, Outcome

GROUPS_SHOWN = 10  # groups of problem rows a summary lists
__all__ = ["BulkResult", "Problem", "ProblemGroup", "ProblemLog", "ProblemStatus"]


@dataclass(eq=False, repr=False)
class BulkResult(Outcome):
    """Summary of a bulk send; ``problems`` holds every row that did not simply go out.

    Every row read ends in exactly one count: ``accepted`` (acknowledged by the
    server; ``plan_violations`` of all rows drew the plan's objections), ``failed``
    (kept in the outbox as pending), ``rejected`` (refused by the server, kept),
    ``invalid`` (not sent), ``unsent`` (the outbox failed: not sent, not kept) or
    ``skipped`` (acknowledged in an earlier run of the same run id). Rows never read
    are ``not_read``.
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
    naive: dict[str, int] = field(default_factory=dict)  # how naive datetimes were read -> count
    plan_violations: int = 0  # rows the tracking plan objected to, whatever became of them
    missing_ids: int = 0  # rows refused for having neither a userId nor an anonymousId
    anonymized: int = 0  # rows sent with a generated anonymousId (anonymous=True)
    unread: tuple[str, ...] = ()  # columns the call has no place for (alias: no body)
    run_id: str = ""
    resumed: bool = False
    earlier: tuple[int, tuple[tuple[int, int], ...]] | None = None  # a resumed run's rows
    waiting_for: dict[str, int] = field(default_factory=dict)  # resend: for other endpoints
    rejected_here: int = 0  # resend: rejected messages left waiting (resent on request)
    resent: Any = None  # resend: what it delivered (resend.Resent)
    events: dict[str, int] = field(default_factory=dict)  # rows per event/name (the first 50)
    problems: ProblemLog = field(default_factory=ProblemLog)
    outbox_path: str = ""
    row_labels: Any = None  # the DataFrame index, when the input was a DataFrame
    partitions: int = 0  # Spark/Dask: the partitions whose workers reported
    only_problems: bool = False  # outcomes() lists problem rows only (distributed runs)

    @property
    def ok(self) -> bool:
        troubles = self.invalid or self.failed or self.rejected or self.unsent or self.interrupted
        return not troubles and self.status_code == OK

    @property
    def waiting_elsewhere(self) -> int:
        """Resend: messages that wait for other endpoints, or as rejected."""
        return sum(self.waiting_for.values()) + self.rejected_here

    @property
    def not_read(self) -> int:
        return max(0, self.rows_total - self.rows_read) if self.rows_total is not None else 0

    @property
    def label(self) -> str:
        """The event(s) and how many rows: ``Order Completed (5 rows)``,
        ``Order Completed, Signed Up +3 more (1,200 rows)``."""
        refused = self.refused
        rows = plural(self.rows_total if refused and self.rows_total else self.rows_read, "row")
        names = [self.context_label] if self.context_label else [e for e in self.events if e]
        if refused and self.rows_total is None:  # never read: how many is not known
            return ", ".join(names[:2])
        if not names:
            return rows
        shown = ", ".join(names[:2]) + (f" +{len(names) - 2} more" if len(names) > 2 else "")
        return f"{shown} ({rows})"

    @property
    def _title(self) -> str:
        label = self.label
        return f"Segment bulk {self.type}" + (f" · {label}" if label else "")

    @property
    def validated(self) -> int:
        """A dry run: the rows that would have been sent (read, and not invalid)."""
        return self.rows_read - self.invalid - self.skipped

    @property
    def events_per_second(self) -> float:
        """Delivered events a second (what the progress bar shows, too)."""
        return self.accepted / self.elapsed if self.elapsed > 0 else 0.0

    def outcomes(self) -> list[dict[str, Any]]:
        """One entry per row read: its status, why, what the plan said, its messageId."""
        if self.only_problems:  # the rows stayed on the workers; only problems came back
            return [_entry(p.row, p.status, p) for p in self.problems]
        by_position = {p.position: p for p in self.problems}
        labels: Iterable[Any] = (
            self.row_labels if self.row_labels is not None else range(self.rows_read)
        )
        fine = "dry run" if self.dry_run else "accepted"
        out = []
        for index, label in enumerate(labels):
            if index >= self.rows_read:
                break
            problem = by_position.get(index)
            if problem is not None:
                out.append(_entry(label, problem.status, problem))
            else:
                out.append(_entry(label, "skipped" if self._skipped(index) else fine, None))
        return out

    def _skipped(self, position: int) -> bool:
        """Acknowledged by an earlier run of this run id (and not resent now)."""
        if self.earlier is None:
            return False
        read, in_flight = self.earlier
        return position < read and not any(a <= position < b for a, b in in_flight)

    def to_pandas(self) -> Any:
        """One row per row read: ``status`` is accepted, sent with violations, skipped,
        invalid, failed, rejected or not sent (or dry run); ``violations`` is what the
        tracking plan said of the row ("" when nothing), whatever became of it."""
        pd = require("pandas", "result.to_pandas()", "audit")
        columns = ["row", "status", "reason", "violations", "messageId"]
        return pd.DataFrame(self.outcomes(), columns=columns)

    @property
    def verdict(self) -> str:
        """The tracking plan's word on the run ("" when no plan checked it)."""
        if not self.plan_checked:
            return ""
        if not self.plan_violations:
            return "valid"
        return plural(self.plan_violations, "row") + " with violations"

    @property
    def refused(self) -> bool:
        """The run never started: the rows, the options or the connection cannot work
        (``error_message`` says why and how to fix it); nothing was read or sent."""
        return (not self.ok and not self.rows_read and bool(self.error_message)
                and not self.interrupted and not self.unsent)  # fmt: skip

    @property
    def outcome(self) -> str:
        if self.refused:
            return "refused: nothing was sent"
        if self.dry_run and self.ok:
            return "dry run: validated, nothing sent"
        if self.dry_run and not self.interrupted:
            return f"dry run: {plural(self.invalid, 'row')} invalid, nothing sent"
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
        """The summary of counts, then the problems grouped by reason (in either view)."""
        tables = [self.table(style)]
        if len(self.problems):
            tables.append(self.problem_table())
        return tables

    def table(self, style: Style = PLAIN) -> Table:
        mark = "✓" if self.ok else "✗"
        read = f"{self.rows_read:,}"
        if self.rows_total is not None and self.rows_total != self.rows_read:
            read += f" of {self.rows_total:,}"
        acknowledged = f"{self.accepted:,}"
        with_violations = self.problems.by_status.get("sent with violations", 0)
        if with_violations:
            acknowledged += f" ({with_violations:,} with plan violations)"
        rows: list[list[Any]] = [
            ["Outcome", Cell(f"{mark} {self.outcome}", status="ok" if self.ok else "fail")],
        ]
        if self.refused or self.unsent:  # the reason shows nowhere else in the table
            rows.append(["ErrorMessage", Cell(self.error_message, status="fail")])
        if self.refused:  # no counts: nothing was read
            if self.rows_total:
                rows.append(["Rows", f"{self.rows_total:,} (none read)"])
            rows.extend(self._next_rows(style))
            return Table(title=self._title, rows=rows)
        if self.dry_run:  # nothing is acknowledged, kept or resumable: what passed is shown
            acknowledged = f"{self.validated:,}"
        rows += [
            ["Rows read", read],
            ["Acknowledged" if not self.dry_run else "Validated", acknowledged],
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
            if (
                count
                or label.startswith("Invalid")
                or (label.startswith("In the outbox") and not self.dry_run)
            ):
                rows.append([label, Cell(f"{count:,}", status="fail" if count else None)])
        if self.retried:
            rows.append(["Retried", f"{self.retried:,}"])
        if self.plan_checked:
            verdict = self.verdict
            rows.append(
                ["Tracking plan", Cell(verdict, status="fail" if self.plan_violations else "ok")]
            )
        rate = self.validated / self.elapsed if self.dry_run and self.elapsed > 0 else None
        rows += [
            ["Elapsed", f"{self.elapsed:.2f} s"],
            ["Events/s", f"{self.events_per_second:,.0f} delivered" if rate is None
             else f"{rate:,.0f} validated"],
        ]  # fmt: skip
        if self.run_id and not self.dry_run:
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
        for endpoint, count in self.waiting_for.items():
            rows.append(["Also waiting", f"{count:,} for {endpoint}"])
        if self.rejected_here:
            rows.append(["Also waiting", f"{self.rejected_here:,} rejected (resent on request)"])
        if self.problems.path is not None and not self.problems._spooled:
            rows.append(["Problem rows", f"every one in {self.problems.path}"])
        rows.extend(self._next_rows(style))
        return Table(title=self._title, rows=rows,
                     notes=self._notes())  # fmt: skip

    def _notes(self) -> list[str]:
        notes = []
        if self.problems.write_error:
            notes.append(f"problem rows stopped going to a file ({self.problems.write_error}); "
                         "the rest are in result.problems")  # fmt: skip
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
        for how, count in self.naive.items():
            notes.append(f"{plural(count, 'naive datetime')} (no time zone) read {how}")
        if self.unread:
            shown = ", ".join(self.unread[:5]) + (", ..." if len(self.unread) > 5 else "")
            notes.append(f"{plural(len(self.unread), 'column')} not sent ({shown}): "
                         f"{self.type} calls carry no properties or traits")  # fmt: skip
        return notes

    def count_naive(self, warnings: Iterable[str]) -> None:
        """Count a row's notes on naive datetimes (the summary says each reading once)."""
        for warning in warnings:
            how = getattr(warning, "how", None)
            if how is not None:
                self.naive[how] = self.naive.get(how, 0) + 1

    def problem_table(self) -> Table:
        """The problem rows grouped by status and reason (the same problem at the same
        place, whatever the values): not sent first, then sent with the plan's
        violations; each group's count, its first row's reason and its first rows."""
        groups = self.problems.groups
        rows = []
        failed = set()
        for index, group in enumerate(groups[:GROUPS_SHOWN]):
            more = group.count - len(group.rows)
            first = ", ".join(str(r) for r in group.rows) + (f" +{more:,} more" if more else "")
            rows.append(
                [Cell(group.status, status="fail" if not group.sent else None),
                 f"{group.count:,}", group.example, first]
            )  # fmt: skip
            if not group.sent:
                failed.add(index)
        notes = []
        if len(groups) > GROUPS_SHOWN:
            rest = sum(g.count for g in groups[GROUPS_SHOWN:])
            notes.append(
                f"showing {GROUPS_SHOWN} of {len(groups):,} groups ({rest:,} more rows); "
                "all of them: result.problems.groups"
            )
        notes.append(
            f"{plural(len(self.problems), 'problem row')} in all: result.problems, "
            "result.to_pandas()"
        )
        return Table(
            title="Problems, grouped by reason",
            columns=("status", "rows", "reason (as the first row has it)", "first rows"),
            rows=rows,
            notes=notes,
            failed_rows=frozenset(failed),
            wide=frozenset({2}),
        )


def _entry(row: Any, status: str, problem: Problem | None) -> dict[str, Any]:
    if problem is None:
        return {"row": row, "status": status, "reason": "", "violations": "", "messageId": ""}
    reason = problem.reason if status in NOT_SENT else ""
    return {"row": row, "status": status, "reason": reason, "violations": problem.violations,
            "messageId": problem.message_id}  # fmt: skip
