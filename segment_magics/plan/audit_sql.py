"""A tracking plan compiled into slots, for column checks (:mod:`.audit_pass`).

Every property an event's rule checks gets a *slot*: the n-th property of an event is
read into the n-th column of each of its messages, and a :class:`Slot` says what it
must hold (types, required, bounds, enum, pattern, whether it is planned). Names that
many events share get the same slot, so a slot's enums and patterns stay few.

A rule that says more than a column check can, a nested object, an array's items, a
common rule, a pattern with ``\\d``, goes to the row checker
(:class:`~.validate.PlanValidator`), for its event only: the verdicts are the row
checker's, group by group (a property-based test compares the two).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..messages import COMMON_RULE, EVENT_RULE
from .model import Plan, Rule, body_of
from .tolerate import standard
from .validate import _planned

# What a property schema may hold and still be checked column by column (annotations
# are ignored by validation, so they are fine).
_ANNOTATIONS = {"description", "title", "examples", "id", "$id", "$comment", "default",
                "deprecated", "readOnly", "writeOnly", "$schema", "labels"}  # fmt: skip
_CHECKED = {"type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
            "pattern"}  # fmt: skip
_BODY_KEYS = {"type", "properties", "required"} | _ANNOTATIONS
MAX_SLOTS = 64  # an event checking more properties goes to the row checker

# A value's kind as a bit, and the kinds each JSON Schema type allows ("integer" also
# wants the number whole).
STRING, NUMBER, BOOLEAN, NULL, ARRAY, OBJECT = 1, 2, 4, 8, 16, 32
ALL_KINDS = 63
_ALLOWED = {"string": STRING, "integer": NUMBER, "number": NUMBER, "boolean": BOOLEAN,
            "null": NULL, "array": ARRAY, "object": OBJECT}  # fmt: skip

# The bits of a slot's code, one per rule it can break, and the kind each is grouped as.
TYPE, REQUIRED, ENUM, PATTERN = 1, 2, 4, 8
BOUNDS = {  # keyword: (bit, the comparison that breaks it, the events' table column)
    "minimum": (16, "<", "lo"),
    "maximum": (32, ">", "hi"),
    "exclusiveMinimum": (64, "<=", "xlo"),
    "exclusiveMaximum": (128, ">=", "xhi"),
}
BODY_TYPE, BODY_MISSING = 1, 2  # the bits of the body's own code


def _kind(bit: int) -> str:
    return {TYPE: "wrong type", REQUIRED: "missing required"}.get(bit, "value rule")


def sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _safe_pattern(pattern: str) -> bool:
    """A pattern that means the same in the row checker's engine (Rust's regex) and in
    DuckDB's (RE2): no class whose members differ (``\\d``, ``\\w``, ``\\s``, ``\\b``
    are Unicode in one, ASCII in the other), no flags, no groups with options."""
    stripped = re.sub(r"\\[\\.\-+*?()\[\]{}|^$/]", "", pattern)  # escaped punctuation
    return "\\" not in stripped and "(?" not in stripped


@dataclass(frozen=True)
class Slot:
    """What one property of one event must be."""

    name: str
    allowed: int | None = None  # kind bits; None: any type
    whole: bool = False  # a number must be whole ("integer" without "number")
    required: bool = False
    planned: bool = True
    bounds: tuple[tuple[str, float], ...] = ()  # (keyword, limit)
    enum: tuple[str, ...] | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class EventLayout:
    """One event's rule as slots: the body it checks (``properties``), whether the body
    itself is required, its planned property names (None: any are planned)."""

    event: str
    body: str
    body_required: bool
    planned: tuple[str, ...] | None
    slots: tuple[Slot, ...]

    def failures(self, codes: Iterable[int]) -> list[tuple[str, str]]:
        """The (field, kind) of each rule the codes say was broken (the body's code
        first, then one per slot)."""
        body_code, *slot_codes = codes
        out = []
        if body_code & BODY_TYPE:
            out.append((self.body, "wrong type"))
        if body_code & BODY_MISSING:
            out.append((self.body, "missing required"))
        for slot, code in zip(self.slots, slot_codes, strict=False):
            for bit in (REQUIRED, TYPE, ENUM, *(b for b, _, _ in BOUNDS.values()), PATTERN):
                if code and code & bit:
                    out.append((f"{self.body}.{slot.name}", _kind(bit)))
        return out


@dataclass
class Compiled:
    """The plan as column checks: per event, its layout; the events (and call types)
    left to the row checker; whether the plan governs track events."""

    events: dict[str, EventLayout] = field(default_factory=dict)
    by_rows: set[str] = field(default_factory=set)  # events the row checker checks
    rows_for_all: bool = False  # a common rule: every message goes to the row checker
    governs_track: bool = False
    reasons: dict[str, str] = field(default_factory=dict)  # event -> why it is row-checked

    @property
    def width(self) -> int:
        """The slots every message has (the widest event's)."""
        return max((len(e.slots) for e in self.events.values()), default=0)

    def layouts(self) -> list[EventLayout]:
        return list(self.events.values())


def compile_plan(
    plan: Plan, unchecked: Collection[tuple[str, str | None]] = frozenset()
) -> Compiled:
    """Compile what can be compiled; say what cannot, and why. ``unchecked``: the rules
    the row checker cannot compile (:attr:`.PlanValidator.unchecked`), which check
    nothing here either (their messages go to the row checker, which passes them)."""
    out = Compiled()
    rules = plan.newest_rules()
    checked = [r for r in rules if (r.type, r.key) not in unchecked]
    out.governs_track = any(r.type == EVENT_RULE for r in checked)
    # a common rule, or a track rule for every event (no name): each message needs it
    out.rows_for_all = any(
        r.type == COMMON_RULE or (r.type == EVENT_RULE and not r.key) for r in checked
    )
    parsed: dict[str, tuple[str, bool, tuple[str, ...] | None, list[Slot]]] = {}
    for rule in rules:
        if rule.type != EVENT_RULE or not rule.key:
            continue
        if (rule.type, rule.key) in unchecked:
            out.by_rows.add(str(rule.key))
            out.reasons[str(rule.key)] = "its schema cannot be checked"
            continue
        try:
            parsed[str(rule.key)] = _rule_slots(rule)
        except _RowsOnly as why:
            out.by_rows.add(str(rule.key))
            out.reasons[str(rule.key)] = str(why)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # a schema of a shape the compiler does not foresee (a "required" that is a
            # number, a type that is a list of lists): the row checker reads it as loaded
            out.by_rows.add(str(rule.key))
            out.reasons[str(rule.key)] = f"a schema the column checks do not read ({exc})"
    # the same property name in the same slot across events where it can be: the most
    # common names first (fewer distinct enums and patterns per slot)
    rank = Counter(s.name for *_, slots in parsed.values() for s in slots)
    for event, (body, body_required, planned, slots) in parsed.items():
        slots.sort(key=lambda s: (-rank[s.name], s.name))
        out.events[event] = EventLayout(event, body, body_required, planned, tuple(slots))
    return out


class _RowsOnly(Exception):
    """This rule needs the row checker (the message says why)."""


def _rule_slots(rule: Rule) -> tuple[str, bool, tuple[str, ...] | None, list[Slot]]:
    schema = standard(rule.json_schema, rule.label)
    body = rule.body or "properties"
    wrapper_parts = schema.get("properties")
    extra_keys = set(schema) - {"type", "properties", "required"} - _ANNOTATIONS
    if not isinstance(wrapper_parts, Mapping) or extra_keys:
        raise _RowsOnly("the rule checks more than its properties")
    for name, part in wrapper_parts.items():
        if name != body and part not in ({}, None) and set(part) - _ANNOTATIONS:
            raise _RowsOnly(f"the rule checks {name}")
    outer = schema.get("required") or []
    if not isinstance(outer, list) or any(name != body for name in outer):
        raise _RowsOnly("the rule requires more of a message than its properties")
    body_schema = body_of(schema, body)
    if set(body_schema) - _BODY_KEYS or body_schema.get("type", "object") != "object":
        raise _RowsOnly("the properties schema uses more than properties and required")
    props = body_schema.get("properties") or {}
    if not isinstance(props, Mapping):
        raise _RowsOnly("properties is not a map")
    required = body_schema.get("required") or []
    if not all(isinstance(name, str) for name in required):
        raise _RowsOnly("a required name that is not text")
    names = list(dict.fromkeys([*map(str, props), *required]))
    if len(names) > MAX_SLOTS:
        raise _RowsOnly(f"{len(names)} properties: more than {MAX_SLOTS}")
    planned = _planned(body_schema)
    slots = [_slot(name, props.get(name), name in required, name in props) for name in names]
    body_required = body in (schema.get("required") or [])
    return body, body_required, tuple(planned) if planned is not None else None, slots


def _slot(name: str, sub: Any, required: bool, listed: bool) -> Slot:
    """One property's rules as a slot."""
    if not listed:
        return Slot(name, required=required, planned=False)
    if not isinstance(sub, Mapping):
        raise _RowsOnly(f"{name}: not a schema")
    unknown = set(sub) - _CHECKED - _ANNOTATIONS
    if unknown:
        raise _RowsOnly(f"{name}: {sorted(unknown)[0]}")
    allowed, whole = None, False
    types = sub.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not names or any(t not in _ALLOWED for t in names):
            raise _RowsOnly(f"{name}: type {types!r}")
        allowed = 0
        for t in names:
            allowed |= _ALLOWED[t]
        whole = "integer" in names and "number" not in names
    enum = None
    if "enum" in sub:
        values = sub["enum"]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _RowsOnly(f"{name}: an enum that is not all text")
        enum = tuple(values)
    bounds = []
    for keyword in BOUNDS:
        if keyword in sub:
            limit = sub[keyword]
            if isinstance(limit, bool) or not isinstance(limit, int | float):
                raise _RowsOnly(f"{name}: {keyword} {limit!r}")
            bounds.append((keyword, float(limit)))
    pattern = sub.get("pattern")
    if pattern is not None and (not isinstance(pattern, str) or not _safe_pattern(pattern)):
        raise _RowsOnly(f"{name}: pattern {pattern!r} needs the row checker's engine")
    return Slot(name, allowed, whole, required, True, tuple(bounds), enum, pattern)


def member(path: str, name: str) -> str:
    """The JSON path of member ``name`` of ``path`` (quoted: dots, spaces and quotes
    work)."""
    return f'{path}."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def member_paths(layout: EventLayout) -> list[str]:
    """Each slot's member, as a JSON path within the body."""
    return [member("$", s.name) for s in layout.slots]
