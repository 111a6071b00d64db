"""A plan's fields as rows: (path, type, required, allowed values), nested ones as
``a.b`` and ``a[].b``. Shared by ``show``, ``--merge`` and ``push``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


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
