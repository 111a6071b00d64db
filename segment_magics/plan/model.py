"""Tracking plans in Segment's shape: rules of (key, type, version, jsonSchema).

A plan loads from Segment's Public API JSON (``rules: [{key, type, version,
jsonSchema}]``), from the older Config API / Typewriter shape (``rules.events[]``),
from a file path or a dict, and exports back to the Public API shape.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from ..messages import BODY

SCHEMA_DRAFT = "http://json-schema.org/draft-07/schema#"
RULE_TYPES = ("TRACK", "IDENTIFY", "GROUP", "PAGE", "SCREEN", "COMMON")
BODY_OF = {kind.upper(): body for kind, body in BODY.items()}  # TRACK -> properties, ...


@dataclass(frozen=True)
class Rule:
    """One rule: ``key`` is the event (TRACK) or page/screen name; None applies to all."""

    type: str
    json_schema: dict[str, Any]
    key: str | None = None
    version: int = 1

    @property
    def body(self) -> str | None:
        """``properties`` or ``traits``: where this rule's fields live in a message."""
        return BODY_OF.get(self.type)

    @property
    def body_schema(self) -> dict[str, Any]:
        """The JSON Schema of the properties/traits object (empty when there is none)."""
        if self.body is None:
            return self.json_schema
        return self.json_schema.get("properties", {}).get(self.body, {}) or {}

    def to_segment(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "version": self.version}
        if self.key is not None:
            out["key"] = self.key
        out["jsonSchema"] = copy.deepcopy(self.json_schema)
        return out


@dataclass(frozen=True)
class Plan:
    name: str = "tracking plan"
    rules: tuple[Rule, ...] = field(default_factory=tuple)
    description: str = ""

    def rule_for(self, kind: str, key: str | None) -> Rule | None:
        """The newest rule of ``kind`` for ``key``, else the keyless one of that kind."""
        best: Rule | None = None
        for rule in self.rules:
            if (
                rule.type == kind
                and rule.key == key
                and (best is None or rule.version > best.version)
            ):
                best = rule
        if best is None and key is not None:
            return self.rule_for(kind, None)
        return best

    def has(self, kind: str) -> bool:
        return any(rule.type == kind for rule in self.rules)

    @property
    def events(self) -> list[str]:
        return [rule.key for rule in self.rules if rule.type == "TRACK" and rule.key]

    def to_segment(self) -> dict[str, Any]:
        """Segment Public API JSON (what ``%segment_plan export`` writes)."""
        return {
            "name": self.name,
            "description": self.description,
            "type": "LIVE",
            "rules": [rule.to_segment() for rule in self.rules],
        }

    def merged(self, other: Plan) -> Plan:
        """This plan with ``other``'s rules added (same type and key: other wins)."""
        replaced = {(r.type, r.key) for r in other.rules}
        kept = tuple(r for r in self.rules if (r.type, r.key) not in replaced)
        return Plan(self.name, kept + other.rules, self.description)


def _schema(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(where, f"must be a JSON Schema object, got {type(value).__name__}")
    return dict(value)


def plan_from_dict(data: Mapping[str, Any], name: str | None = None) -> Plan:
    """Read Segment's Public API shape or the Config API / Typewriter shape."""
    rules = data.get("rules")
    title = str(name or data.get("display_name") or data.get("name") or "tracking plan")
    if isinstance(rules, list):
        parsed = []
        for index, rule in enumerate(rules):
            where = f"rules[{index}]"
            if not isinstance(rule, Mapping):
                raise ValidationError(where, "must be an object with type and jsonSchema")
            kind = str(rule.get("type", "")).upper()
            if kind not in RULE_TYPES:
                raise ValidationError(
                    f"{where}.type", f"must be one of {', '.join(RULE_TYPES)}, got {kind!r}"
                )
            key = rule.get("key")
            parsed.append(
                Rule(kind, _schema(rule.get("jsonSchema", {}), f"{where}.jsonSchema"),
                     str(key) if key else None, int(rule.get("version", 1)))
            )  # fmt: skip
        return Plan(title, tuple(parsed), str(data.get("description", "")))
    if isinstance(rules, Mapping):  # Config API / Typewriter v7 plan.json
        parsed = []
        for index, event in enumerate(rules.get("events", []) or []):
            where = f"rules.events[{index}]"
            parsed.append(
                Rule("TRACK", _schema(event.get("rules", {}), f"{where}.rules"),
                     str(event.get("name")), int(event.get("version", 1)))
            )  # fmt: skip
        for kind, key in (("IDENTIFY", "identify"), ("GROUP", "group"), ("COMMON", "global")):
            schema = rules.get(key)
            if isinstance(schema, Mapping) and schema:
                parsed.append(Rule(kind, dict(schema)))
        return Plan(title, tuple(parsed), str(data.get("description", "")))
    raise ValidationError(
        "rules", "a plan needs rules: a list (Public API) or {events: [...]} (Config API)"
    )


def load_plan(source: Any) -> Plan:
    """A Plan from a Plan, a dict, a JSON file path or a built-in template's name."""
    from .templates import TEMPLATES

    if isinstance(source, Plan):
        return source
    if isinstance(source, Mapping):
        return plan_from_dict(source)
    if isinstance(source, str | Path):
        text = str(source)
        if text in TEMPLATES:
            return TEMPLATES[text]()
        path = Path(text).expanduser()
        if not path.exists():
            raise ValidationError(
                "plan", f"{text!r} is neither a file nor a template ({', '.join(TEMPLATES)})"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValidationError("plan", f"{path.name} is not JSON: {exc}") from None
        return plan_from_dict(data, name=data.get("name") or path.stem)
    raise ValidationError("plan", f"cannot load a plan from a {type(source).__name__}")


def save_plan(plan: Plan, path: str | Path) -> Path:
    target = Path(path).expanduser()
    target.write_text(
        json.dumps(plan.to_segment(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return target


def rule_schema(body: str | None, body_schema: Mapping[str, Any]) -> dict[str, Any]:
    """Wrap a properties/traits schema the way Segment stores it (draft-07, whole payload)."""
    schema: dict[str, Any] = {"$schema": SCHEMA_DRAFT, "type": "object"}
    if body is None:
        schema.update({k: v for k, v in body_schema.items() if k not in {"$schema"}})
        return schema
    schema["properties"] = {"context": {}, body: dict(body_schema)}
    if body_schema.get("required"):
        schema["required"] = [body]
    return schema


def iter_rules(plans: Iterable[Plan]) -> Iterable[Rule]:
    for plan in plans:
        yield from plan.rules
