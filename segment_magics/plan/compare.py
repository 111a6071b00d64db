"""What pushing a plan to Segment would change, rule by rule (pure).

Rules match on (type, key); the newest version of each side is compared. A rule is
"changed" when its JSON Schema differs (a version number alone is not a change),
and the detail names the fields added, removed or retyped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .fields import flatten
from .model import Plan, Rule

Change = Literal["added", "changed", "removed", "unchanged"]


@dataclass(frozen=True)
class RuleChange:
    change: Change
    rule: Rule  # the local rule; for "removed", Segment's
    detail: str = ""


def _fields(rule: Rule) -> dict[str, tuple[str, bool, str]]:
    return {path: (kind, req, allowed) for path, kind, req, allowed in flatten(
        rule.body_schema, rule.body or "")}  # fmt: skip


def _detail(local: Rule, remote: Rule) -> str:
    ours, theirs = _fields(local), _fields(remote)
    parts = [f"+{path}" for path in ours if path not in theirs]
    parts += [f"-{path}" for path in theirs if path not in ours]
    for path, (kind, required, allowed) in ours.items():
        if path not in theirs:
            continue
        old_kind, old_required, old_allowed = theirs[path]
        if kind != old_kind:
            parts.append(f"{path}: {old_kind} → {kind}")
        if required != old_required:
            parts.append(f"{path}: {'now required' if required else 'no longer required'}")
        if allowed != old_allowed:
            parts.append(f"{path}: allowed values changed")
    return ", ".join(parts) or "schema details differ"


_OPEN: tuple[dict[str, Any], ...] = ({}, {"type": "object"})


def _normal(rule: Rule) -> dict[str, Any]:
    """The schema without what tools write differently for the same rule: ``$schema``,
    open ``context``/``traits`` parts, and requiring the body object itself."""
    schema = {k: v for k, v in rule.json_schema.items() if k != "$schema"}
    parts = schema.get("properties")
    if isinstance(parts, dict):
        schema["properties"] = {
            name: part
            for name, part in parts.items()
            if not (name != rule.body and name in ("context", "traits", "properties")
                    and part in _OPEN)
        }  # fmt: skip
    if schema.get("required") == [rule.body]:
        del schema["required"]
    if schema.get("type") == "object":
        del schema["type"]
    return schema


def compare_rules(local: Plan, remote: Plan) -> list[RuleChange]:
    """Every rule of either plan: added (only here), changed, unchanged, removed (only
    in Segment), in the local plan's order, Segment-only rules last."""
    theirs = {(r.type, r.key): r for r in remote.newest_rules()}
    changes = []
    for rule in local.newest_rules():
        other = theirs.pop((rule.type, rule.key), None)
        if other is None:
            changes.append(RuleChange("added", rule, ", ".join(_fields(rule))))
        elif _normal(other) == _normal(rule):
            changes.append(RuleChange("unchanged", rule))
        else:
            changes.append(RuleChange("changed", rule, _detail(rule, other)))
    changes.extend(RuleChange("removed", rule) for rule in theirs.values())
    return changes


def to_send(changes: list[RuleChange], remote: Plan, *, replace: bool = False) -> list[Rule]:
    """The rules a push sends: for an update the added and changed ones, for a replace
    every local rule; each at Segment's version when that is ahead (so the current
    version is updated rather than an older one added)."""
    versions = {(r.type, r.key): r.version for r in remote.newest_rules()}
    wanted = ("added", "changed", "unchanged") if replace else ("added", "changed")
    out = []
    for change in changes:
        if change.change in wanted:
            rule = change.rule
            ahead = versions.get((rule.type, rule.key), 0)
            out.append(rule if rule.version >= ahead else _at_version(rule, ahead))
    return out


def _at_version(rule: Rule, version: int) -> Rule:
    return Rule(rule.type, rule.json_schema, rule.key, version)
