"""Make a value that satisfies a JSON Schema, and ways to break it (for real-plan tests)."""

from __future__ import annotations

from functools import cache
from typing import Any

from hypothesis import find
from hypothesis import strategies as st

FORMATS = {
    "date-time": "2024-05-06T07:08:09Z",
    "date": "2024-05-06",
    "email": "ada@example.com",
    "uri": "https://example.com/x",
}
WRONG = {  # a value of another type, for each type
    "string": 12345,
    "number": "twelve",
    "integer": "twelve",
    "boolean": "yes",
    "object": 7,
    "array": 7,
    "null": 7,
}


@cache
def matching(pattern: str) -> str:
    return find(st.from_regex(pattern), lambda s: True)


def types_of(schema: dict) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if k != "null"] or ["null"]
    if "properties" in schema:
        return ["object"]
    if "items" in schema:
        return ["array"]
    return []


def sample(schema: dict) -> Any:
    """A value that passes ``schema`` (every listed property filled in)."""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = (types_of(schema) or ["string"])[0]
    if kind == "string":
        if "format" in schema and schema["format"] in FORMATS:
            return FORMATS[schema["format"]]
        if "pattern" in schema:
            return matching(schema["pattern"])
        return "text"
    if kind in ("number", "integer"):
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        items = schema.get("items")
        return [sample(items), sample(items)] if isinstance(items, dict) else []
    return {name: sample(sub) for name, sub in (schema.get("properties") or {}).items()}


def single_typed(properties: dict) -> str | None:
    """A property with exactly one type and no other constraint a wrong type also breaks."""
    for name, sub in properties.items():
        kinds = types_of(sub)
        if len(kinds) == 1 and "type" in sub and "enum" not in sub and "const" not in sub:
            return name
    return None
