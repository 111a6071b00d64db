"""Read the JSON Schema that real plans contain the way Segment reads it.

Segment's own tools write schemas that a strict validator refuses: ``"type":
"any"``, a JSON ``null`` inside a type list, ``"required": true`` on a property
(draft-03 style), empty ``required`` lists under draft-04, ``id`` values with
spaces in them. A rule is only passed through :func:`tolerate` after it failed to
compile as written, so plans that are already valid pay nothing for this.

Pure: returns a repaired copy and the notes worth showing the user.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs

ANY = "any"
# Keywords whose value is one schema, a map of schemas, or a list of schemas.
_ONE = ("items", "additionalItems", "additionalProperties", "contains", "propertyNames",
        "not", "if", "then", "else")  # fmt: skip
_MAP = ("properties", "patternProperties", "definitions", "$defs", "dependencies")
_LIST = ("anyOf", "oneOf", "allOf", "items")
# null is a meaningful value for these; for every other keyword it means "unset".
_VALUES = {"const", "default", "examples", "enum"}


class _Repair:
    def __init__(self, label: str) -> None:
        self.label = label
        self.notes: list[str] = []

    def note(self, path: str, what: str) -> None:
        self.notes.append(f"{self.label}: {path or '(the whole rule)'} {what}")

    def schema(self, schema: dict[str, Any], path: str) -> dict[str, Any]:
        out = {k: v for k, v in schema.items() if v is not None or k in _VALUES}
        self._type(out, path)
        self._ids(out)
        if ("enum" in out and not isinstance(out["enum"], list)) or out.get("enum") == []:
            del out["enum"]
            self.note(path, "has an empty enum, read as unconstrained")
        if out.get("required") == [] or isinstance(out.get("required"), bool):
            del out["required"]  # an empty list (refused by draft-04) or draft-03's flag
        for keyword in _MAP:
            children = out.get(keyword)
            if isinstance(children, dict):
                out[keyword] = {
                    name: self.schema(child, _child(path, name, keyword))
                    if isinstance(child, dict)
                    else child
                    for name, child in children.items()
                }
        self._draft3_required(schema, out, path)
        for keyword in _ONE:
            child = out.get(keyword)
            if isinstance(child, dict):
                out[keyword] = self.schema(child, f"{path}[]" if keyword == "items" else path)
        for keyword in _LIST:
            options = out.get(keyword)
            if isinstance(options, list):
                out[keyword] = [self.schema(o, path) if isinstance(o, dict) else o for o in options]
        return out

    def _type(self, schema: dict[str, Any], path: str) -> None:
        kind = schema.get("type")
        if kind == ANY or (isinstance(kind, list) and ANY in kind):
            del schema["type"]
            self.note(path, "has type any, read as unconstrained")
        elif isinstance(kind, list):
            names = ["null" if name is None else name for name in kind]
            if not names:
                del schema["type"]
            else:
                schema["type"] = list(dict.fromkeys(names))

    @staticmethod
    def _ids(schema: dict[str, Any]) -> None:
        """Segment's generated ids are paths with spaces in them: not URIs, and
        (with no ``$ref`` to them) without effect. Drop the ones a validator refuses."""
        for keyword in ("id", "$id"):
            value = schema.get(keyword)
            if keyword in schema and (not isinstance(value, str) or _not_a_uri(value)):
                del schema[keyword]

    def _draft3_required(self, original: dict[str, Any], out: dict[str, Any], path: str) -> None:
        """``"required": true`` on a property means the parent requires it (draft-03)."""
        children = original.get("properties")
        if not isinstance(children, dict):
            return
        flagged = [
            name
            for name, child in children.items()
            if isinstance(child, dict) and child.get("required") is True
        ]
        if flagged:
            listed = out.get("required")
            before = listed if isinstance(listed, list) else []
            out["required"] = list(dict.fromkeys([*before, *flagged]))
            self.note(path, f"marks {', '.join(flagged)} required on the property itself; "
                            "read as the object's required list")  # fmt: skip


def _child(path: str, name: str, keyword: str) -> str:
    if keyword != "properties":
        return f"{path}{{{name}}}"
    return f"{path}.{name}" if path else name


_NOT_IN_A_URI = re.compile(r'[\s<>"{}|\\^`]')


def _not_a_uri(value: str) -> bool:
    return _NOT_IN_A_URI.search(value) is not None


def tolerate(schema: dict[str, Any], label: str) -> tuple[dict[str, Any], list[str]]:
    """A copy of ``schema`` a strict validator accepts, and notes on what was read how."""
    repair = _Repair(label)
    return repair.schema(schema, ""), repair.notes


def standard(schema: dict[str, Any], label: str) -> dict[str, Any]:
    """``schema`` as written when it is valid JSON Schema, else the repaired copy (what
    Segment means, in a form that strict tools such as Typewriter also read)."""
    try:
        if jsonschema_rs.meta.is_valid(schema):
            return schema
    except Exception:  # noqa: S110 - a schema the meta-check cannot even read: repair it
        pass
    return tolerate(schema, label)[0]
