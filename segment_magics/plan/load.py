"""Read tracking plans from Segment's JSON shapes, files and templates; write them back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from .model import RULE_TYPES, Plan, Rule
from .templates import TEMPLATES

# What a plan can be given as: a Plan, Segment JSON as a dict, a file or a template name.
PlanSource = Plan | Mapping[str, Any] | str | Path


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


def load_plan(source: PlanSource) -> Plan:
    """A Plan from a Plan, a dict, a JSON file path or a built-in template's name."""
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
