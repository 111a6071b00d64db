"""Check messages against a plan before they are sent.

jsonschema-rs compiles each rule's schema once (about a microsecond per
valid message); its errors read like jsonschema's. On top of the schema we flag
properties and traits that the plan does not list (Segment's "unplanned
properties"), unless a schema allows extra keys explicitly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import jsonschema_rs
import orjson
from rapidfuzz import fuzz, process

from ..messages import COMMON_RULE, EVENT_RULE, rule_key
from .load import PlanSource, load_plan
from .model import Rule, body_of
from .tolerate import tolerate

ViolationKind = Literal[
    "unplanned event",
    "missing required",
    "wrong type",
    "unplanned property",
    "value rule",
    "common rule",
]
VIOLATION_KINDS: tuple[ViolationKind, ...] = get_args(ViolationKind)
_TYPE_KEYWORDS = {"type", "anyOf", "oneOf"}
# Patterns run on a linear-time engine: no plan can make a check take exponential time.
LINEAR_REGEX = jsonschema_rs.RegexOptions()


@dataclass(frozen=True)
class Violation:
    kind: ViolationKind
    field: str  # e.g. properties.products[0].price
    detail: str  # what was expected, in jsonschema's words
    event: str = ""  # the event / name the message was for

    def __str__(self) -> str:
        return f"{self.field}: {self.detail} ({self.kind})"


def format_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


Planned = dict[str, Any]  # name -> nested Planned (objects / arrays of objects) or None


def _planned(schema: Any) -> Planned | None:
    """The keys a schema lists, recursively; None where extra keys are allowed or unknown."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "array" or "items" in schema:
        return _planned(schema.get("items", {}))
    props = schema.get("properties")
    if not isinstance(props, dict) or not props or "additionalProperties" in schema:
        # no list (``properties: {}`` is how Typewriter writes "any properties", the
        # same as none), or the schema decides about extra keys itself
        return None
    return {name: _planned(sub) for name, sub in props.items()}


def _unplanned(value: Any, planned: Planned | None, path: str, out: list[str]) -> None:
    if planned is None:
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _unplanned(item, planned, f"{path}[{index}]", out)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in planned:
                out.append(f"{path}.{key}")
            elif planned[key] is not None:
                _unplanned(item, planned[key], f"{path}.{key}", out)


def compile_schema(schema: Mapping[str, Any]) -> Any:
    """A jsonschema-rs validator that never leaves the process: references to URLs or
    files are refused (offline), and patterns run on the linear-time engine."""
    return jsonschema_rs.validator_for(
        dict(schema), validate_formats=True, pattern_options=LINEAR_REGEX, offline=True
    )


class _CompiledRule:
    """A rule's validator, and (worked out when first needed: most rules of a big plan
    are never used in a session) the keys it plans."""

    def __init__(self, rule: Rule, schema: Mapping[str, Any]) -> None:
        self.rule = rule
        self.schema = schema
        self.validator = compile_schema(schema)

    @functools.cached_property
    def planned(self) -> Planned | None:
        return _planned(body_of(self.schema, self.rule.body)) if self.rule.body else None


def _compiled(rule: Rule) -> tuple[_CompiledRule, list[str]]:
    """Compile a rule as written; failing that, as Segment reads it (see :mod:`.tolerate`)."""
    try:
        return _CompiledRule(rule, rule.json_schema), []
    except Exception:
        repaired, notes = tolerate(rule.json_schema, rule.label)
        return _CompiledRule(rule, repaired), notes


@dataclass(frozen=True)
class Skipped:
    """A rule the plan has but that cannot be checked, and why."""

    rule: str  # the event, or the call type for identify/group/common rules
    reason: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.reason}"


_NOT_LINEAR = ("(?=", "(?!", "(?<=", "(?<!", "\\k<", "(?>", "(?P=")


def _pattern_problem(quoted: str) -> str:
    """Why the linear-time engine refused a pattern: it needs backtracking, it is too
    big, or it is not a regular expression at all."""
    try:
        pattern = str(orjson.loads(quoted))
    except orjson.JSONDecodeError:
        pattern = quoted.strip('"')
    if any(mark in pattern for mark in _NOT_LINEAR) or re.search(r"\\[1-9]", pattern):
        return (
            f"pattern {quoted} needs lookaround or backreferences, which cannot run in "
            "bounded time; write it without them"
        )
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"pattern {quoted} is not a valid regular expression ({exc})"
    return f"pattern {quoted} is too large to run in bounded time; simplify its repetitions"


def _why(exc: Exception) -> str:
    """A one-line reason a rule's schema did not compile (never the whole schema)."""
    message = str(getattr(exc, "message", "") or exc).strip().splitlines()[0]
    where = format_path(getattr(exc, "instance_path", None) or [])
    if 'is not a "regex"' in message:
        message = _pattern_problem(message.split(" is not", 1)[0])
    elif "Retrieval is disabled" in message:
        message = (
            f"{message.split(' is not present', 1)[0]} is outside the plan; references to "
            "URLs or files are not followed (put the definition under $defs)"
        )
    elif message[:1] in "{[" and " is not " in message:
        message = "not valid JSON Schema: " + message.rsplit(" is not ", 1)[1]
    if len(message) > 200:
        message = message[:197] + "..."
    return f"{message} (at {where})" if where else message


class PlanValidator:
    """A compiled plan: ``check(message)`` lists the violations (empty when valid)."""

    def __init__(self, plan: PlanSource) -> None:
        plan = load_plan(plan)  # a Plan as it is; a file, template or JSON loaded
        self.plan = plan
        self.skipped: list[Skipped] = []
        # the rules whose schemas do not compile: their messages are not checked (and
        # not called unplanned: their events are in the plan)
        self.unchecked: set[tuple[str, str | None]] = set()
        newest = plan.newest_rules()
        self._rules: dict[tuple[str, str | None], _CompiledRule] = {}
        self.notes: list[str] = list(plan.notes)
        for rule in newest:
            try:
                self._rules[(rule.type, rule.key)], notes = _compiled(rule)
            except Exception as exc:
                self.skipped.append(Skipped(rule.label, _why(exc)))
                self.unchecked.add((rule.type, rule.key))
            else:
                self.notes.extend(notes)
        self._common = [c for (kind, _), c in self._rules.items() if kind == COMMON_RULE]
        self._governs_track = any(kind == EVENT_RULE for kind, _ in self._rules)
        self._hints: dict[str, str] = {}
        self.planned_events = sorted(r.key for r in newest if r.is_event and r.key)
        self._folded = {name.casefold(): name for name in self.planned_events}

    def remarks(self) -> list[str]:
        """What a user should know about how the plan was read: notes, then the rules
        that cannot be checked (shown by ``show``, the collector and the client)."""
        return [*self.notes, *(f"not checked: {skipped}" for skipped in self.skipped)]

    def _rule(self, kind: str, key: str | None) -> _CompiledRule | None:
        return self._rules.get((kind, key)) or (self._rules.get((kind, None)) if key else None)

    def check(self, message: Mapping[str, Any]) -> list[Violation]:
        label = str(message.get("event") or message.get("name") or "")
        found: list[Violation] = []
        for common in self._common:
            if not common.validator.is_valid(message):
                found.extend(
                    Violation(
                        "common rule", format_path(e.instance_path) or "message", _detail(e), label
                    )
                    for e in common.validator.iter_errors(message)
                )
        key = rule_key(message)
        compiled = self._rule(*key) if key is not None else None
        if compiled is None:
            if key is not None and (key in self.unchecked or (key[0], None) in self.unchecked):
                return found  # its rule is in the plan but cannot be checked (remarks say why)
            if key is not None and key[0] == EVENT_RULE and self._governs_track:
                found.append(
                    Violation("unplanned event", "event", self._unplanned_event(label), label)
                )
            return found
        if not compiled.validator.is_valid(message):
            found.extend(
                self._schema_violation(e, label) for e in compiled.validator.iter_errors(message)
            )
        body = compiled.rule.body
        if body is not None and compiled.planned is not None:
            extra: list[str] = []
            _unplanned(message.get(body), compiled.planned, body, extra)
            found.extend(
                Violation("unplanned property", path, f'"{_last(path)}" is not in the plan', label)
                for path in extra
            )
        return found

    def _unplanned_event(self, label: str) -> str:
        """The message for an unplanned event, with the closest planned name (memoized:
        backfills repeat the same wrong name thousands of times)."""
        text = self._hints.get(label)
        if text is None:
            close = self._folded.get(label.casefold()) or closest(label, self.planned_events)
            hint = (
                f"; did you mean {close!r}?"
                if close
                else f" ({len(self.planned_events)} events planned)"
            )
            text = f"{label!r} is not in the plan{hint}"
            if len(self._hints) < 10_000:
                self._hints[label] = text
        return text

    @staticmethod
    def _schema_violation(error: Any, label: str) -> Violation:
        keyword = getattr(error.kind, "name", "")
        path = format_path(error.instance_path)
        detail = _detail(error)
        if keyword == "required":
            missing = getattr(error.kind, "property", "")
            return Violation(
                "missing required",
                f"{path}.{missing}" if path else str(missing),
                detail,
                label,
            )
        if keyword in _TYPE_KEYWORDS:
            return Violation("wrong type", path, detail, label)
        if keyword == "additionalProperties":
            extra = (getattr(error.kind, "unexpected", None) or [""])[0]
            return Violation(
                "unplanned property",
                f"{path}.{extra}" if path else str(extra),
                detail,
                label,
            )
        return Violation("value rule", path, detail, label)


MAX_DETAIL = 160


def _detail(error: Any) -> str:
    """jsonschema's words for a violation, with the offending value cut short: a 100 KB
    string must not become a 100 KB table cell (or collector row)."""
    message = str(error.message)
    if len(message) <= MAX_DETAIL:
        return message
    try:
        value = orjson.dumps(error.instance).decode()
    except TypeError:
        value = ""
    if value and message.startswith(value):
        return _clip(value, 60) + _clip(message[len(value) :], MAX_DETAIL - 60)
    return _clip(message, MAX_DETAIL)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def closest(label: str, names: list[str]) -> str | None:
    """The planned name most like ``label`` (rapidfuzz: about 0.1 ms per thousand names,
    where difflib took 37 ms against a 20,000-event plan)."""
    found = process.extractOne(label, names, scorer=fuzz.ratio, score_cutoff=60)
    return str(found[0]) if found else None


def _last(path: str) -> str:
    return path.rsplit(".", 1)[-1]
