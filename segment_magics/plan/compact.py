"""The compact plan notation analysts can type in a ``%%segment_plan`` cell.

    Order Completed                      # a track event (or: track Order Completed)
      order_id: string!                  # ! = required
      total: number >= 0
      currency: string! in [USD, EUR, GBP]
      coupon: string|null                # unions with |
      products: array!                   # an array of objects: its fields indented below
        product_id: string!
        price: number >= 0
        quantity: integer 1..100
      tags: string[]                     # an array of strings
    identify                             # traits; also: group, page [Name], screen [Name]
      email: string! /^[^@]+@[^@]+$/     # a regular expression
      plan: string in [free, pro]
    common                               # the whole payload of every call
      userId: string!

Each section compiles to a Segment rule with a draft-07 JSON Schema, exactly as the
Public API stores it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationError
from ..messages import CALL_OF_RULE, COMMON_RULE, EVENT_RULE
from .model import BODY_OF, Plan, Rule, rule_schema

TYPES = {
    "string": {"type": "string"},
    "number": {"type": "number"},
    "integer": {"type": "integer"},
    "int": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "bool": {"type": "boolean"},
    "object": {"type": "object"},
    "array": {"type": "array"},
    "null": {"type": "null"},
    "any": {},
    "datetime": {"type": "string", "format": "date-time"},
    "date-time": {"type": "string", "format": "date-time"},
}
# A section starts with a call (identify, page Pricing, ...), "common", or an event name.
_HEADER_WORDS: dict[str, str] = {
    **{call.kind: rule for rule, call in CALL_OF_RULE.items()},
    COMMON_RULE.lower(): COMMON_RULE,
}
_LINE = re.compile(r"(?P<name>[^:]+?)\s*(?P<mark>[!?])?\s*:\s*(?P<rest>.*)")
_BOUND = re.compile(r"(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)")
_RANGE = re.compile(r"(-?\d+(?:\.\d+)?)\s*\.\.\s*(-?\d+(?:\.\d+)?)")
_COMMENT = re.compile(r"\s+#.*$|^#.*$")


@dataclass
class _Node:
    schema: dict[str, Any]
    indent: int
    children: dict[str, Any] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _enum_values(text: str, types: list[str]) -> list[Any]:
    values: list[Any] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        if item[0] in "\"'" and item[-1] == item[0] and len(item) > 1:
            values.append(item[1:-1])
        elif {"number", "integer"} & set(types) and re.fullmatch(r"-?\d+(\.\d+)?", item):
            values.append(_number(item))
        elif item in {"true", "false"} and "boolean" in types:
            values.append(item == "true")
        else:
            values.append(item)
    return values


def _type_schema(word: str, line: int) -> tuple[dict[str, Any], list[str]]:
    array_of = word.endswith("[]") or (word.startswith("array<") and word.endswith(">"))
    inner = word[:-2] if word.endswith("[]") else word[6:-1] if array_of else word
    names = [n.strip().lower() for n in inner.split("|")]
    schemas: list[dict[str, Any]] = []
    for name in names:
        if name not in TYPES:
            raise ValidationError(
                f"line {line}",
                f"unknown type {name!r}; use {', '.join(sorted(set(TYPES) - {'int', 'bool'}))}",
            )
        schemas.append(TYPES[name])
    schema: dict[str, Any]
    if len(schemas) == 1:
        schema = dict(schemas[0])
    elif all(set(s) == {"type"} for s in schemas):
        schema = {"type": [s["type"] for s in schemas]}
    else:
        schema = {"anyOf": schemas}
    types = [str(s["type"]) for s in schemas if s.get("type")]
    if array_of:
        return {"type": "array", "items": schema}, types
    return schema, types


def _property(rest: str, line: int) -> tuple[dict[str, Any], bool]:
    """Parse ``type[!] constraints...``; returns the schema and whether it is required."""
    text = rest.strip()
    if not text:
        raise ValidationError(f"line {line}", "a property needs a type, e.g. `total: number`")
    word, _, tail = text.partition(" ")
    required = word.endswith("!")
    word = word.rstrip("!?")
    schema, types = _type_schema(word, line)
    target = schema["items"] if schema.get("type") == "array" and "items" in schema else schema
    tail = tail.strip()
    if tail.startswith("!"):
        required, tail = True, tail[1:].strip()
    while tail:
        if tail.startswith("in "):
            match = re.match(r"in\s*\[(.*?)\]", tail)
            if not match:
                raise ValidationError(f"line {line}", "allowed values go in brackets: in [a, b, c]")
            target["enum"] = _enum_values(match.group(1), types)
            tail = tail[match.end() :].strip()
        elif tail.startswith("/"):
            end = tail.find("/", 1)
            while end > 0 and tail[end - 1] == "\\":
                end = tail.find("/", end + 1)
            if end < 0:
                raise ValidationError(f"line {line}", "a pattern needs a closing /")
            pattern = tail[1:end]
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValidationError(f"line {line}", f"bad pattern /{pattern}/: {exc}") from None
            target["pattern"] = pattern
            tail = tail[end + 1 :].strip()
        elif match := _RANGE.match(tail):
            target["minimum"], target["maximum"] = _number(match.group(1)), _number(match.group(2))
            tail = tail[match.end() :].strip()
        elif match := _BOUND.match(tail):
            op, value = match.group(1), _number(match.group(2))
            key = {
                ">=": "minimum",
                "<=": "maximum",
                ">": "exclusiveMinimum",
                "<": "exclusiveMaximum",
            }[op]
            target[key] = value
            tail = tail[match.end() :].strip()
        else:
            raise ValidationError(
                f"line {line}",
                f"cannot read {tail.split()[0]!r}; after the type come: !, in [a, b], >= n, <= n, "
                "n..m, /regex/",
            )
    return schema, required


def _header(text: str, line: int) -> tuple[str, str | None]:
    text = text.strip().rstrip(":").strip()
    first, _, rest = text.partition(" ")
    kind = _HEADER_WORDS.get(first.lower())
    if kind is None:
        return EVENT_RULE, text
    call = CALL_OF_RULE.get(kind)
    if call is None or call.keyed_by is None:  # common, identify, group: one rule each
        if rest.strip():
            raise ValidationError(f"line {line}", f"{first} takes no name")
        return kind, None
    if kind == EVENT_RULE and not rest.strip():
        raise ValidationError(
            f"line {line}", f"{first} needs the event name: {first} Order Completed"
        )
    return kind, rest.strip() or None


def _finish(node: _Node) -> dict[str, Any]:
    schema = node.schema
    if node.children:
        target = schema
        if schema.get("type") == "array":
            target = schema.setdefault("items", {"type": "object"})
            target.setdefault("type", "object")
        target["properties"] = {name: _finish(child) for name, child in node.children.items()}
        if node.required:
            target["required"] = list(node.required)
    return schema


def parse_compact(text: str, name: str = "tracking plan") -> Plan:
    """Compile the compact notation to a Plan (one rule per section)."""
    if not isinstance(text, str):
        raise ValidationError(
            "text", f"give the plan in compact notation as text, not {type(text).__name__}"
        )
    rules: list[Rule] = []
    section: tuple[str, str | None, _Node] | None = None
    stack: list[_Node] = []

    def close() -> None:
        if section is not None:
            kind, key, root = section
            body = _finish(root)
            rules.append(Rule(kind, rule_schema(BODY_OF.get(kind), body), key))

    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT.sub("", raw.rstrip())
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            close()
            kind, key = _header(line, number)
            root = _Node({"type": "object"}, -1)
            section, stack = (kind, key, root), [root]
            continue
        if section is None:
            raise ValidationError(
                f"line {number}",
                "start with an event name, identify, group, page, screen or common",
            )
        match = _LINE.fullmatch(line.strip())
        if not match:
            raise ValidationError(f"line {number}", f"expected `name: type`, got {line.strip()!r}")
        while len(stack) > 1 and indent <= stack[-1].indent:
            stack.pop()
        parent = stack[-1]
        if parent is not section[2] and parent.schema.get("type") not in {"object", "array"}:
            raise ValidationError(
                f"line {number}", "only object and array properties have fields indented below them"
            )
        schema, required = _property(match.group("rest"), number)
        prop = match.group("name").strip()
        required = required or match.group("mark") == "!"
        node = _Node(schema, indent)
        if prop in parent.children:
            raise ValidationError(f"line {number}", f"{prop!r} is defined twice")
        parent.children[prop] = node
        if required:
            parent.required.append(prop)
        stack.append(node)
    close()
    if not rules:
        raise ValidationError(
            "plan", "the plan defines no events: start a section with an event name"
        )
    return Plan(name, tuple(rules))
