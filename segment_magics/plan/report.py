"""Tables for plans, checks, inferences and diffs (through the shared display layer)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..display import Cell, Rendered, Table
from .infer import Difference, Inferred
from .model import Plan, Rule
from .validate import VIOLATION_KINDS, PlanValidator, Violation


def _type_text(schema: Any) -> str:
    if not isinstance(schema, Mapping):
        return "any" if schema is not False else "never"  # boolean schemas
    kind = schema.get("type")
    if isinstance(kind, list):
        text = "|".join("null" if k is None else str(k) for k in kind)
    elif kind == "array":
        items = schema.get("items")
        inner = (
            _type_text(items)
            if isinstance(items, Mapping) and items.get("type") != "object"
            else "object"
            if isinstance(items, Mapping)
            else "any"
        )
        text = f"array<{inner}>"
    elif kind == "string" and schema.get("format") == "date-time":
        text = "datetime"
    elif kind:
        text = str(kind)
    elif isinstance(schema.get("anyOf"), list):
        text = "|".join(_type_text(s) for s in schema["anyOf"])
    else:
        text = "any"
    return text


def _rules_text(schema: Mapping[str, Any]) -> str:
    target = schema.get("items", schema) if schema.get("type") == "array" else schema
    if not isinstance(target, Mapping):
        return ""
    parts = []
    if isinstance(target.get("enum"), list):
        parts.append("one of " + ", ".join(map(str, target["enum"])))
    for key, sign in (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
    ):
        if key in target:
            parts.append(f"{sign} {target[key]}")
    if "pattern" in target:
        parts.append(f"/{target['pattern']}/")
    return "; ".join(parts)


def flatten(schema: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, str, bool, str]]:
    """(path, type, required, allowed) for every property, nested ones as a.b / a[].b.

    Real plans hold odd schemas (boolean schemas, ``"required": true`` on a
    property): they are shown as written, never raise."""
    listed = schema.get("required")
    required = set(listed) if isinstance(listed, list) else set()
    children = schema.get("properties")
    if not isinstance(children, Mapping):
        return
    for name, sub in children.items():
        path = f"{prefix}.{name}" if prefix else name
        if not isinstance(sub, Mapping):
            yield path, _type_text(sub), name in required, ""
            continue
        own = sub.get("required") is True  # draft-03 style, as Segment's UI writes it
        yield path, _type_text(sub), name in required or own, _rules_text(sub)
        items = sub.get("items")
        if sub.get("type") == "array" and isinstance(items, Mapping):
            yield from flatten(items, f"{path}[]")
        elif sub.get("properties"):
            yield from flatten(sub, path)


def _rule_label(rule: Rule) -> str:
    if rule.type == "TRACK":
        return rule.key or "(any track)"
    return rule.type.lower() + (f" {rule.key}" if rule.key else "")


TEMPLATE_REQUIRED = "yes (template)"


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
            title=f"{self.plan.name}: {events} events/calls, {len(rows)} fields",
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
            rows.append([f"row {row}", Cell(f"{violation.event}: {violation}", status="fail")])
        for row, reason in self.invalid_rows[:limit]:
            rows.append([f"row {row}", Cell(reason, status="fail")])
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
            [d.direction, d.event, d.field, Cell(d.kind, status="fail"), d.count or "", d.example]
            for d in shown
        ]
        return Table(
            title=f"Plan vs observed: {len(self.differences)} differences",
            columns=("where", "event", "field", "kind", "count", "example"),
            rows=rows,
            total=len(self.differences),
        )


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
