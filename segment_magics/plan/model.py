"""Tracking plans in Segment's shape: rules of (key, type, version, jsonSchema).

Plain data: reading plans from files and Segment's other shapes lives in
:mod:`.load`, writing them in :mod:`.compact`.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..messages import CALL_OF_RULE, EVENT_RULE, RULE_TYPES
from .tolerate import standard

SCHEMA_DRAFT = "http://json-schema.org/draft-07/schema#"
BODY_OF = {rule: call.body for rule, call in CALL_OF_RULE.items() if call.body}  # TRACK -> ...
# Rules of these types are picked by a name in the message (the event; a page's name).
KEYED_RULES = frozenset(rule for rule, call in CALL_OF_RULE.items() if call.keyed_by)
__all__ = ["BODY_OF", "KEYED_RULES", "RULE_TYPES", "SCHEMA_DRAFT", "Plan", "Rule"]


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
        return body_of(self.json_schema, self.body)

    @property
    def label(self) -> str:
        """How the rule is named to users: its event or name, else its call type."""
        return self.key or self.type.lower()

    @property
    def is_event(self) -> bool:
        """A rule for track calls: its key is an event name."""
        return self.type == EVENT_RULE

    def to_segment(self, *, standard_schema: bool = False) -> dict[str, Any]:
        """The rule as Segment's API holds it; ``standard_schema``: its schema repaired
        where a strict validator would refuse it (``"type": "any"``, ...)."""
        out: dict[str, Any] = {"type": self.type, "version": self.version}
        if self.key is not None:
            out["key"] = self.key
        schema = standard(self.json_schema, self.label) if standard_schema else self.json_schema
        out["jsonSchema"] = copy.deepcopy(schema)
        return out


@dataclass(frozen=True)
class Plan:
    """A tracking plan: its rules, and what loading it noticed.

    ``shape`` names where it came from (a Public API export, Typewriter's
    plan.json, the compact notation, ...); ``notes`` say what was read in a way
    worth knowing (non-standard types treated as unconstrained); ``template``
    marks Segment spec templates, whose required fields are their own choice.
    """

    name: str = "tracking plan"
    rules: tuple[Rule, ...] = field(default_factory=tuple)
    description: str = ""
    shape: str = ""
    notes: tuple[str, ...] = ()
    template: bool = False
    id: str = ""  # Segment's id for the plan, when it came from Segment or Typewriter

    @property
    def plan_id(self) -> str:
        """Segment's id, else one made from the name (the same name, the same id), in
        Segment's form: Typewriter's config finds a plan by its id."""
        if self.id:
            return self.id
        return "tp_" + hashlib.sha256(self.name.encode()).hexdigest()[:27]

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

    def newest_rules(self) -> list[Rule]:
        """One rule per (type, key): its highest version, in the plan's order."""
        newest: dict[tuple[str, str | None], Rule] = {}
        for rule in self.rules:
            current = newest.get((rule.type, rule.key))
            if current is None or rule.version >= current.version:
                newest[(rule.type, rule.key)] = rule
        return list(newest.values())

    @property
    def events(self) -> list[str]:
        return [rule.key for rule in self.rules if rule.is_event and rule.key]

    def to_segment(self) -> dict[str, Any]:
        """Segment Public API JSON (what ``%segment_plan export`` writes): rules in the
        form the API returns them, in standard JSON Schema, which Segment, Typewriter and
        any validator read alike (a push sends the rules as they were written)."""
        return {
            "id": self.plan_id,
            "name": self.name,
            "description": self.description,
            "type": "LIVE",
            "rules": [rule.to_segment(standard_schema=True) for rule in self.rules],
        }

    def merged(self, other: Plan) -> Plan:
        """This plan with ``other``'s rules added (same type and key: other wins)."""
        replaced = {(r.type, r.key) for r in other.rules}
        kept = tuple(r for r in self.rules if (r.type, r.key) not in replaced)
        return replace(self, rules=kept + other.rules, notes=self.notes + other.notes)


def body_of(schema: Mapping[str, Any], body: str | None) -> dict[str, Any]:
    """The part of a whole-message schema that describes ``body`` (properties/traits)."""
    if body is None:
        return dict(schema)
    parts = schema.get("properties")
    found = parts.get(body) if isinstance(parts, Mapping) else None
    return found if isinstance(found, dict) else {}


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
