"""The outcome of a call, in the node spec's contract (Sent, StatusCode 200/-1/500, ...)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..display import PLAIN, Cell, CellStatus, Rendered, Section, Style, Table, plural, pretty_json
from ..messages import CALLS, message_label
from ..plan import Violation, violation_table
from .remedies import Remedy, next_steps

OK = 200
VALIDATION_ERROR = -1
SYSTEM_ERROR = 500
COMPACT_VIOLATIONS = 10  # violations listed in the compact view


@dataclass(eq=False)
class Outcome(Rendered):
    """What a call or a run came to: the node spec's five fields and what to do next.

    ``status_code`` is 200 when the API answered (check ``error_message`` for a 4xx),
    -1 for a validation error (nothing went on the wire) and 500 for a system error:
    a network failure, 429/5xx after the retries ran out, an outbox that cannot be
    written. ``remedies`` name the next step; each UI phrases them its own way.
    """

    type: str
    sent: bool = False
    status_code: int = OK
    original_status_code: int = 0
    response_body: dict[str, Any] = field(default_factory=dict)
    error_message: str = ""
    error_field: str | None = None
    warnings: tuple[str, ...] = ()
    dry_run: bool = False
    elapsed: float = 0.0
    endpoint: str = ""
    plan_checked: bool = False
    interrupted: bool = False  # Ctrl-C before the server answered (kept in the outbox)
    context_label: str = ""  # the event/name of a call whose message could not be built
    remedies: tuple[Remedy, ...] = ()
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    @property
    def ok(self) -> bool:
        """True when the call did what was asked (a dry run that validated counts)."""
        if self.status_code != OK or self.error_message:
            return False
        return self.dry_run or 200 <= self.original_status_code < 300

    def to_dict(self) -> dict[str, Any]:
        """The node spec's output contract, exactly these five keys."""
        return {
            "Sent": self.sent,
            "ResponseBody": self.response_body,
            "OriginalStatusCode": self.original_status_code,
            "StatusCode": self.status_code,
            "ErrorMessage": self.error_message,
        }

    @property
    def label(self) -> str:
        """What a person calls this call or run (its event, name, ...)."""
        return self.context_label

    @property
    def who(self) -> str:
        return ""

    @property
    def verdict(self) -> str:
        """The tracking plan's word ("" when no plan checked it)."""
        return ""

    def next_steps(self, style: Style = PLAIN) -> list[str]:
        """The remedies in the words of whoever shows them."""
        return next_steps(self.remedies, style.phrase)

    def _next_rows(self, style: Style) -> list[list[Any]]:
        return [["Next step", step] for step in self.next_steps(style)]


@dataclass(eq=False)
class Result(Outcome):
    """What happened to one call."""

    message: dict[str, Any] | None = None
    message_id: str | None = None
    attempts: int = 0
    violations: tuple[Violation, ...] = ()
    context_user: str = ""  # the user of a call whose message could not be built

    @property
    def verdict(self) -> str:
        """The tracking plan's word on this call ("" when no plan checked it)."""
        if not self.plan_checked:
            return ""
        count = len(self.violations)
        return "valid" if not count else f"{count} violation{'s' if count > 1 else ''}"

    def tables(self, style: Style = PLAIN) -> list[Table]:
        if style.view == "compact":
            return [self.compact_table(style)]
        tables = [self.table(style)]
        if self.violations:
            tables.append(violation_table(list(self.violations), "Tracking plan violations"))
        return tables

    def compact_table(self, style: Style = PLAIN) -> Table:
        """What a notebook shows by default: the outcome, then what needs attention
        (errors, warnings, plan violations), then who and what; the payload folded."""
        rows = [self._outcome_row(), *self._attention_rows(style)]
        if self.plan_checked:
            rows.extend(
                ["", Cell(f"{v.field}: {v.detail} ({v.kind})", status="fail")]
                for v in self.violations[:COMPACT_VIOLATIONS]
            )
        rows.append(["Type", self.type + (" (dry run)" if self.dry_run else "")])
        if self.label:
            rows.append([_label_name(self.type), self.label])
        if self.who:
            rows.append(["User", self.who])
        code = f"{self.status_code}"
        if self.original_status_code and self.original_status_code != self.status_code:
            code += f" (HTTP {self.original_status_code})"
        rows.append(["StatusCode", code])
        if self.message_id:
            rows.append(["messageId", self.message_id])
        notes = []
        if len(self.violations) > COMPACT_VIOLATIONS:
            notes.append(f"{len(self.violations) - COMPACT_VIOLATIONS} more violations: "
                         "result.violations")  # fmt: skip
        sections = []
        if self.message is not None:
            sections.append(Section("Payload", pretty_json(self.message)))
        title = f"Segment {self.type}" + (f" · {self.label}" if self.label else "")
        return Table(title=title, rows=rows, notes=notes, sections=sections)

    @property
    def label(self) -> str:
        """The event, page name or group id: what a person calls this call."""
        return message_label(self.message or {}) or self.context_label

    @property
    def who(self) -> str:
        msg = self.message or {}
        return str(msg.get("userId") or msg.get("anonymousId") or "") or self.context_user

    @property
    def outcome(self) -> str:
        if self.ok:
            return "dry run: validated, not sent" if self.dry_run else "delivered"
        if self.status_code == VALIDATION_ERROR:
            return "invalid: not sent"
        if self.status_code == SYSTEM_ERROR:
            return "failed: not delivered"
        return "rejected by the API"

    def __repr__(self) -> str:
        return (
            f"<Result {self.type} {self.label!r} StatusCode={self.status_code} "
            f"OriginalStatusCode={self.original_status_code} ok={self.ok}>"
        )

    def _outcome_row(self) -> list[Any]:
        mark = "✓" if self.ok else "✗"
        return ["Outcome", Cell(f"{mark} {self.outcome}", status="ok" if self.ok else "fail")]

    def _attention_rows(self, style: Style) -> list[list[Any]]:
        """The error, the warnings, the next steps and the plan's verdict: what both
        views show first."""
        rows: list[list[Any]] = []
        if self.error_message:
            rows.append(["ErrorMessage", Cell(self.error_message, status="fail")])
        rows.extend(["Warning", w] for w in self.warnings)
        rows.extend(self._next_rows(style))
        if self.plan_checked:
            status: CellStatus = "ok" if not self.violations else "fail"
            rows.append(["Tracking plan", Cell(self.verdict, status=status)])
        return rows

    def table(self, style: Style = PLAIN) -> Table:
        rows: list[list[Any]] = [
            self._outcome_row(),
            ["StatusCode", self.status_code],
            ["OriginalStatusCode", self.original_status_code],
            ["Sent", self.sent],
            *self._attention_rows(style),
        ]
        if self.message_id:
            rows.append(["messageId", self.message_id])
        if self.sent or self.response_body:
            rows.append(["ResponseBody", self.response_body])
        if self.endpoint:
            rows.append(["Endpoint", self.endpoint])
        if self.attempts > 1:
            rows.append(["Attempts", self.attempts])
        if self.message is not None:
            rows.append(["Payload", Cell(pretty_json(self.message), pre=True)])
        title = f"Segment {self.type}" + (f" · {self.label}" if self.label else "")
        return Table(title=title, rows=rows)


@dataclass(eq=False, repr=False)
class BatchResult(Result):
    """One summary for a ``/v1/batch`` call, with every message's own Result."""

    results: list[Result] = field(default_factory=list)
    requests: int = 0

    @property
    def label(self) -> str:
        return plural(len(self.results), "message")

    def tables(self, style: Style = PLAIN) -> list[Table]:
        return [self.table(style)]  # already a summary: one row per count, no payloads

    def table(self, style: Style = PLAIN) -> Table:
        base = super().table(style)
        ok = sum(r.ok for r in self.results)
        rows = [row for row in base.rows if row[0] != "Payload"]
        rows.insert(1, ["Messages", f"{len(self.results)} ({ok} ok, {len(self.results) - ok} not)"])
        rows.insert(2, ["Requests", self.requests])
        return Table(title=base.title, rows=rows)


def _label_name(kind: str) -> str:
    """What the label is called for this call: Event, Name, GroupId, PreviousId."""
    call = CALLS.get(kind)
    return call.field(call.label).label if call is not None and call.label else "Name"
