"""Tables for plans, checks, inferences and diffs (through the shared display layer)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from ..display import Cell, Rendered, Table, plural
from .compare import RuleChange
from .fields import flatten
from .infer import Difference, Inferred
from .model import Plan, Rule
from .validate import VIOLATION_KINDS, PlanValidator, Violation


def _rule_label(rule: Rule) -> str:
    if rule.is_event:
        return rule.key or f"(any {rule.type.lower()})"
    return rule.type.lower() + (f" {rule.key}" if rule.key else "")


TEMPLATE_REQUIRED = "yes (template)"


class Where(str):
    """A row's label that says where it was read (``file:line``): shown as it is."""


def _label(row: Any) -> str:
    return row if isinstance(row, Where) else f"row {row}"


@dataclass(eq=False)
class PlanView(Rendered):
    """The plan as a table of fields, with what reading it noticed as notes.

    ``notes`` come from :meth:`PlanValidator.remarks` (types read as any, rules that
    cannot be checked) or from inference. In a template, required marks are the
    template's own choice (Segment's specs list properties, not which are required)
    and are shown as such."""

    plan: Plan
    display_limit: int = 0
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, validator: PlanValidator, display_limit: int = 0) -> PlanView:
        return cls(validator.plan, display_limit, notes=validator.remarks())

    def rows(self) -> list[list[Any]]:
        rows: list[list[Any]] = []
        mark = TEMPLATE_REQUIRED if self.plan.template else "yes"
        for rule in self.plan.newest_rules():
            label = _rule_label(rule) + (f" (v{rule.version})" if rule.version > 1 else "")
            fields = list(flatten(rule.body_schema, rule.body or ""))
            if not fields:
                rows.append([label, "", "", "", ""])
            for path, kind, required, allowed in fields:
                rows.append([label, path, kind, mark if required else "", allowed])
        return rows

    def table(self) -> Table:
        rows = self.rows()
        shown = rows[: self.display_limit] if self.display_limit else rows
        events = len({r[0] for r in rows})
        notes = [f"read as: {self.plan.shape}"] if self.plan.shape else []
        if self.plan.template:
            notes.append(
                f"{TEMPLATE_REQUIRED}: this template's choice; Segment's spec does not "
                "require these properties"
            )
        return Table(
            title=f"{self.plan.name}: {plural(events, 'event/call', 'events/calls')}, "
            f"{plural(len(rows), 'field')}",
            columns=("event", "property", "type", "required", "allowed values"),
            rows=shown,
            total=len(rows),
            notes=notes + self.notes,
        )

    def __repr__(self) -> str:
        return f"<PlanView {self.plan.name!r}>"


def violation_table(
    violations: list[Violation], title: str, limit: int = 0, total: int | None = None
) -> Table:
    shown = violations[:limit] if limit else violations
    return Table(
        title=title,
        columns=("kind", "field", "problem"),
        rows=[[Cell(v.kind, status="fail"), v.field, v.detail] for v in shown],
        total=total if total is not None else len(violations),
    )


@dataclass(eq=False)
class CheckReport(Rendered):
    """What ``%segment_plan check`` found: a summary and the first violations."""

    checked: int = 0
    valid: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    violations: list[tuple[Any, Violation]] = field(default_factory=list)  # (row, violation)
    invalid_rows: list[tuple[Any, str]] = field(default_factory=list)  # rows that are not messages
    display_limit: int = 20

    @property
    def ok(self) -> bool:
        return self.checked == self.valid and not self.invalid_rows

    def table(self) -> Table:
        rows: list[list[Any]] = [
            ["Events checked", f"{self.checked:,}"],
            ["Valid", Cell(f"{self.valid:,}", status="ok" if self.ok else None)],
            [
                "With violations",
                Cell(f"{self.checked - self.valid:,}", status="fail" if not self.ok else None),
            ],
        ]
        rows.extend(
            [f"  {kind}", f"{self.by_kind[kind]:,}"]
            for kind in VIOLATION_KINDS
            if self.by_kind[kind]
        )
        if self.invalid_rows:
            rows.append(["Not messages", Cell(f"{len(self.invalid_rows):,}", status="fail")])
        limit = self.display_limit or len(self.violations)
        for row, violation in self.violations[:limit]:
            rows.append([_label(row), Cell(f"{violation.event}: {violation}", status="fail")])
        for row, reason in self.invalid_rows[:limit]:
            rows.append([_label(row), Cell(reason, status="fail")])
        notes = []
        if len(self.violations) > limit:
            notes.append(f"showing {limit} of {len(self.violations)} violations")
        return Table(title="Tracking plan check", rows=rows, notes=notes)


@dataclass(eq=False)
class InferenceView(Rendered):
    inferred: Inferred
    display_limit: int = 0

    @property
    def plan(self) -> Plan:
        return self.inferred.plan

    def table(self) -> Table:
        view = PlanView(self.inferred.plan, self.display_limit, notes=list(self.inferred.notes))
        table = view.table()
        samples = sum(self.inferred.samples.values())
        table.title = f"Inferred from {samples:,} messages: " + table.title.split(": ", 1)[1]
        return table


@dataclass(eq=False)
class DiffView(Rendered):
    differences: list[Difference]
    display_limit: int = 0

    def table(self) -> Table:
        shown = self.differences[: self.display_limit] if self.display_limit else self.differences
        rows = [
            # what observed events break is a problem; what nothing sends is information
            [d.direction, d.event, d.field,
             Cell(d.kind, status="fail" if d.observed else "muted"), d.count or "", d.example]
            for d in shown
        ]  # fmt: skip
        return Table(
            title=f"Plan vs observed: {len(self.differences)} differences",
            columns=("where", "event", "field", "kind", "count", "example"),
            rows=rows,
            total=len(self.differences),
        )


@dataclass(eq=False)
class PlanLoaded(Rendered):
    """What ``load`` (and a compact plan cell) says: one line; ``show`` gives the table."""

    plan: Plan
    remarks: list[str] = field(default_factory=list)

    def table(self) -> Table:
        rules = self.plan.newest_rules()
        events = sum(1 for r in rules if r.is_event)
        fields = sum(len(list(flatten(r.body_schema, r.body or ""))) for r in rules)
        shape = f", read as {self.plan.shape}" if self.plan.shape else ""
        others = len(rules) - events
        title = (
            f"Tracking plan {self.plan.name!r} is active: {plural(events, 'event')}"
            + (f", {plural(others, 'other rule')}" if others else "")
            + f", {plural(fields, 'field')}{shape}"
        )
        return Table(title=title, rows=[], notes=self.remarks)


@dataclass(eq=False)
class MergeView(Rendered):
    """What ``--merge`` did: each rule of the merged-in plan, added or changed."""

    before: Plan
    added: Plan
    merged: Plan

    def rows(self) -> list[list[Any]]:
        old = {(r.type, r.key): r for r in self.before.newest_rules()}
        rows: list[list[Any]] = []
        for rule in self.added.newest_rules():
            previous = old.get((rule.type, rule.key))
            change = (
                "added"
                if previous is None
                else "unchanged"
                if previous.json_schema == rule.json_schema
                else "changed"
            )
            fields = [path for path, *_ in flatten(rule.body_schema, rule.body or "")]
            rows.append([_rule_label(rule), change, ", ".join(fields)])
        return rows

    def table(self) -> Table:
        rows = self.rows()
        counts = Counter(str(row[1]) for row in rows)
        summary = ", ".join(
            f"{counts[k]} {k}" for k in ("added", "changed", "unchanged") if counts[k]
        )
        events = len(self.merged.newest_rules())
        return Table(
            title=f"Merged into {self.before.name}: {summary or 'nothing'} ({events} rules now)",
            columns=("event", "change", "fields"),
            rows=rows,
        )

    def __repr__(self) -> str:
        return f"<MergeView {self.before.name!r}>"


PushMode = Literal["preview", "dry run", "update", "replace"]
_AFTER = {  # what each change means once the push is done, per mode
    "update": {"removed": "kept (only in Segment)"},
    "replace": {"removed": "removed"},
}


@dataclass(eq=False)
class PushView(Rendered):
    """``%segment_plan push``: the difference with Segment's plan, and what was sent."""

    plan_id: str
    changes: list[RuleChange]
    mode: PushMode
    sent: int = 0
    display_limit: int = 0

    def table(self) -> Table:
        counts: Counter[str] = Counter(change.change for change in self.changes)
        summary = ", ".join(
            f"{counts[k]} {k}" for k in ("added", "changed", "removed", "unchanged") if counts[k]
        )
        after = _AFTER.get(self.mode, {})
        shown = [c for c in self.changes if c.change != "unchanged"]
        rows = [
            [_rule_label(c.rule), Cell(after.get(c.change, c.change), status=_STATUS.get(c.change)),
             c.detail]
            for c in shown
        ]  # fmt: skip
        limited = rows[: self.display_limit] if self.display_limit else rows
        return Table(
            title=f"Push to {self.plan_id}: {summary or 'no rules'}",
            columns=("event", "change", "fields"),
            rows=limited,
            total=len(rows),
            notes=[self._outcome(counts)],
        )

    def _outcome(self, counts: Counter[str]) -> str:
        if self.mode == "update":
            return f"sent {self.sent} rules (update): Segment confirmed"
        if self.mode == "replace":
            return f"sent {self.sent} rules (replace): Segment confirmed"
        if not counts["added"] and not counts["changed"] and not counts["removed"]:
            return "Segment already has this plan; nothing to send"
        prefix = "dry run: nothing sent" if self.mode == "dry run" else "nothing sent yet"
        removed = f", removing {counts['removed']}" if counts["removed"] else ""
        return (
            f"{prefix}; --update adds and changes these rules and keeps Segment's others, "
            f"--replace makes Segment's plan exactly this one{removed}"
        )

    def __repr__(self) -> str:
        return f"<PushView {self.plan_id!r} {self.mode}>"


_STATUS: dict[str, Any] = {"added": "ok", "changed": None, "removed": "fail"}
