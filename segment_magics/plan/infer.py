"""Infer a plan from observed messages; diff a plan against what is observed.

Types come from the samples (with nullable and mixed types reported, not hidden),
``required`` means present in every sample, low-cardinality strings get proposed
allowed values, nested objects and arrays of objects are followed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..messages import EVENT_RULE, rule_key
from ..messages.arguments import checked_share
from ..messages.frames import is_table
from ..messages.rows import refuse_unless_rows
from .load import PlanSource
from .model import BODY_OF, Plan, Rule, rule_schema
from .tables import message_rows

_ORDER = {
    name: i for i, name in enumerate(("string", "number", "integer", "boolean", "object", "array"))
}
ENUM_MAX_VALUES = 10
ENUM_MIN_SAMPLES = 5


# the JSON type of a value read from JSON, by its exact Python type (subclasses, numpy
# and pandas values go the long way)
_JSON_TYPE = {type(None): "null", bool: "boolean", int: "integer", float: "number",
              str: "string", dict: "object", list: "array"}  # fmt: skip


def json_type(value: Any) -> str:
    known = _JSON_TYPE.get(type(value))
    if known is not None:
        return known
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


@dataclass
class Shape:
    """What was seen at one path: counts of types and values, nested shapes."""

    seen: int = 0
    types: Counter[str] = field(default_factory=Counter)
    strings: Counter[str] = field(default_factory=Counter)
    children: dict[str, Shape] = field(default_factory=dict)
    objects: int = 0  # how many times this path held an object (for children's required)
    items: Shape | None = None

    def observe(self, value: Any) -> None:
        self.seen += 1
        kind = json_type(value)
        self.types[kind] += 1
        if kind == "string" and len(self.strings) <= ENUM_MAX_VALUES:
            self.strings[value] += 1
        elif kind == "object":
            self.observe_object(value)
        elif kind == "array":
            self.items = self.items or Shape()
            for item in value:
                self.items.observe(item)

    def observe_object(self, value: Mapping[str, Any]) -> None:
        self.objects += 1
        children = self.children
        for key, item in value.items():
            name = key if isinstance(key, str) else str(key)
            child = children.get(name)
            if child is None:  # (a new Shape per member, kept or not, was half the time)
                child = children[name] = Shape()
            child.observe(item)

    def schema(self, notes: list[str], path: str, share: float = 1.0) -> dict[str, Any]:
        kinds = sorted(
            (k for k in self.types if k != "null"), key=lambda kind: _ORDER.get(kind, 99)
        )
        if "integer" in kinds and "number" in kinds:
            kinds.remove("integer")
        nullable = "null" in self.types
        if len(kinds) > 1:
            counts = ", ".join(f"{k} x{self.types[k]}" for k in kinds)
            notes.append(f"{path}: mixed types ({counts})")
        if nullable:
            notes.append(f"{path}: null in {self.types['null']} of {self.seen} samples")
        names = kinds + (["null"] if nullable else [])
        schema: dict[str, Any] = {"type": names[0] if len(names) == 1 else names} if names else {}
        if kinds == ["string"] and self._enum_like():
            schema["enum"] = sorted(self.strings)
        if "object" in kinds and self.children:
            schema.update(self.object_schema(notes, path, share))
        if "array" in kinds and self.items is not None and self.items.seen:
            schema["items"] = self.items.schema(notes, f"{path}[]", share)
        return schema

    def object_schema(self, notes: list[str], path: str, share: float = 1.0) -> dict[str, Any]:
        """``required``: the fields present (and not null) in at least ``share`` of the
        objects seen; below 100 % the measured share is noted."""
        props = {
            name: child.schema(notes, f"{path}.{name}", share)
            for name, child in self.children.items()
        }
        required = []
        for name, child in self.children.items():
            present = child.seen - child.types.get("null", 0)
            if self.objects and present >= share * self.objects and present:
                required.append(name)
                if present < self.objects:
                    notes.append(f"{path}.{name}: required, present in "
                                 f"{present / self.objects:.1%} of {self.objects:,}")  # fmt: skip
        out: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            out["required"] = required
        return out

    def _enum_like(self) -> bool:
        total = self.types["string"]
        distinct = len(self.strings)
        return total >= ENUM_MIN_SAMPLES and distinct <= ENUM_MAX_VALUES and distinct * 2 <= total


@dataclass
class Inferred:
    plan: Plan
    notes: list[str]
    samples: dict[tuple[str, str | None], int]


def infer_plan(
    messages: Iterable[Mapping[str, Any]], name: str = "inferred plan", required_share: float = 1.0
) -> Inferred:
    """A plan that every given message satisfies, with what is unusual noted; a field is
    required when present in at least ``required_share`` of its event's messages (the
    default: all of them). Streams: memory follows the shapes seen, not the messages."""
    required_share = checked_share("required_share", required_share)
    shapes: dict[tuple[str, str | None], Shape] = {}
    for message in _messages(messages):
        key = rule_key(message)
        if key is None or (key[0] == EVENT_RULE and key[1] is None):
            continue
        if key[0] != EVENT_RULE:  # one rule per call for pages and screens, whatever the name
            key = (key[0], None)
        body = message.get(BODY_OF[key[0]])
        shape = shapes.get(key)
        if shape is None:
            shape = shapes[key] = Shape()
        shape.observe_object(body if isinstance(body, Mapping) else {})
    notes: list[str] = []
    rules = []
    for (kind, event), shape in shapes.items():
        label = event or kind.lower()
        body_schema = (
            shape.object_schema(notes, f"{label}: {BODY_OF[kind]}", required_share)
            if shape.children
            else {"type": "object"}
        )
        rules.append(Rule(kind, rule_schema(BODY_OF[kind], body_schema), event))
    return Inferred(Plan(name, tuple(rules)), notes, {k: s.objects for k, s in shapes.items()})


def _messages(messages: Iterable[Any]) -> Iterator[Mapping[str, Any]]:
    """The messages among ``messages`` (a table's rows, :func:`.tables.message_rows`);
    what is not a dict is left out, as a check leaves it out, and text, one message or
    a number are refused by name."""
    if is_table(messages):
        messages = message_rows(messages)
    else:
        refuse_unless_rows(messages, "messages")
    return (message for message in messages if isinstance(message, Mapping))


@dataclass(frozen=True)
class Difference:
    direction: str  # "observed, not allowed" | "planned, never sent"
    event: str
    field: str
    kind: str
    count: int
    example: str = ""

    @property
    def observed(self) -> bool:
        """Something sent breaks the plan (not: something planned is never sent)."""
        return self.direction.startswith("observed")


def diff_plan(plan: PlanSource, messages: Iterable[Mapping[str, Any]]) -> list[Difference]:
    """What observed messages do that the plan forbids, and what the plan asks for
    that nothing sends (planned events never seen, required fields never present)."""
    from .validate import PlanValidator

    validator = PlanValidator(plan)
    the_plan = validator.plan  # (loaded, when given as a file, a template or JSON)
    seen_events: Counter[str] = Counter()
    present: dict[str, set[str]] = {}
    grouped: Counter[tuple[str, str, str]] = Counter()
    examples: dict[tuple[str, str, str], str] = {}
    for message in _messages(messages):
        if (which := rule_key(message)) is not None and which[0] == EVENT_RULE:
            event = which[1] or ""
            seen_events[event] += 1
            props = message.get("properties") or {}
            present.setdefault(event, set()).update(props if isinstance(props, Mapping) else ())
        for violation in validator.check(message):
            key = (
                violation.event or str(message.get("type")),
                _generic(violation.field),
                violation.kind,
            )
            grouped[key] += 1
            examples.setdefault(key, violation.detail)
    out = [
        Difference("observed, not allowed", e, f, k, n, examples[(e, f, k)])
        for (e, f, k), n in grouped.most_common()
    ]
    for rule in the_plan.rules:
        if not rule.is_event or not rule.key:
            continue
        if rule.key not in seen_events:
            out.append(Difference("planned, never sent", rule.key, "", "event never sent", 0))
            continue
        for name in rule.body_schema.get("required", []) or []:
            if name not in present.get(rule.key, set()):
                out.append(
                    Difference(
                        "planned, never sent",
                        rule.key,
                        f"properties.{name}",
                        "required, never present",
                        0,
                    )
                )
    return out


def _generic(path: str) -> str:
    """properties.products[3].price -> properties.products[].price (so counts group)."""
    import re

    return re.sub(r"\[\d+\]", "[]", path)
