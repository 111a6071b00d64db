"""Read tracking plans in every shape Segment's tools write; write them back.

Shapes (the loader says which one it read, and ``%segment_plan show`` names it):

- Public API rules: a bare list of ``{key, type, version, jsonSchema}``, an object
  with ``rules: [...]``, a whole API response (``{"data": {"rules": [...],
  "pagination": ...}}``) or a ``trackingPlan`` object.
- Config API / Typewriter v7 ``plan.json``: ``rules.events[]`` with each event's
  whole-payload schema under ``rules``, plus ``identify``/``group``/``global`` rules;
  the plan's name is its ``display_name``.
- Typewriter v8 ``plan.json``: Public API rules whose ``jsonSchema`` carries
  ``eventMetadata`` and has the event's properties lifted to its top level; they
  are put back under ``properties`` (or ``traits``) so they are checked there.
- Typewriter's local tracking-plan files: ``{"events": [{name, rules}]}``.

Schemas are kept as written (so a plan pulled from Segment goes back unchanged);
:mod:`.tolerate` repairs, at compile time, what Segment accepts and validators
refuse. Anything that is not a plan at all gets a one-line :class:`ValidationError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from ..errors import ValidationError
from ..messages import CALL_OF_RULE, COMMON_RULE, EVENT_RULE
from ..messages.arguments import checked_path
from ..private_files import make_private
from .model import BODY_OF, RULE_TYPES, Plan, Rule, rule_schema
from .templates import TEMPLATES

# What a plan can be given as: a Plan, Segment JSON as a dict or list, a file or a template name.
PlanSource = Plan | Mapping[str, Any] | Sequence[Any] | str | Path

PUBLIC_API = "Public API rules"
CONFIG_API = "Config API / Typewriter v7 plan.json"
TYPEWRITER_V8 = "Typewriter v8 plan.json"
TYPEWRITER_LOCAL = "Typewriter local tracking plan"
_MESSAGE_PARTS = {"context", "traits", "properties"}
# Config API / Typewriter v7 plans keep the unkeyed rules under these keys of ``rules``
# (the call's own name: identify, group), and the common rule under ``global``.
CONFIG_API_RULES = (
    *((rule, call.kind) for rule, call in CALL_OF_RULE.items() if call.keyed_by is None),
    (COMMON_RULE, "global"),
)


def _where(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"


class _Reader:
    """One load: checks the structure of rules as they are read."""

    def schema(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValidationError(
                where, f"must be a JSON Schema object, got {type(value).__name__}"
            )
        return dict(value)

    def version(self, value: Any, where: str) -> int:
        if value is None:
            return 1
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValidationError(where, f"must be a whole number, got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise ValidationError(where, f"must be a whole number, got {value!r}") from None
        if not number.is_integer() or number < 1:
            raise ValidationError(where, f"must be a whole number from 1, got {value!r}")
        return int(number)

    # -- Public API rules (and Typewriter v8, which lifts the body to the top) ----------
    def public_rules(self, rules: Sequence[Any], where: str) -> tuple[list[Rule], bool]:
        parsed = []
        lifted = False
        for index, raw in enumerate(rules):
            at = _where(where, index)
            if not isinstance(raw, Mapping):
                raise ValidationError(
                    at, f"must be a rule object with type and jsonSchema, got {type(raw).__name__}"
                )
            kind = str(raw.get("type", "")).upper()
            if kind not in RULE_TYPES:
                raise ValidationError(
                    f"{at}.type", f"must be one of {', '.join(RULE_TYPES)}, got {raw.get('type')!r}"
                )
            key = raw.get("key")
            schema = self.schema(raw.get("jsonSchema", {}), f"{at}.jsonSchema")
            if "eventMetadata" in schema and BODY_OF.get(kind) and _lifted(schema):
                schema = _unlift(schema, BODY_OF[kind])
                lifted = True
            parsed.append(
                Rule(kind, schema, str(key) if key else None,
                     self.version(raw.get("version"), f"{at}.version"))
            )  # fmt: skip
        return parsed, lifted

    # -- Config API / Typewriter v7 and Typewriter local files ---------------------------
    def events(self, events: Any, where: str) -> list[Rule]:
        if not isinstance(events, list):
            raise ValidationError(where, f"must be a list of events, got {type(events).__name__}")
        parsed = []
        for index, event in enumerate(events):
            at = _where(where, index)
            if not isinstance(event, Mapping):
                raise ValidationError(at, f"must be an event object, got {type(event).__name__}")
            name = event.get("name")
            if not isinstance(name, str) or not name:
                raise ValidationError(f"{at}.name", "every event needs a name")
            schema = self.schema(event.get("rules", {}), f"{at}.rules")
            parsed.append(Rule(EVENT_RULE, schema, name, self.version(event.get("version"), at)))
        return parsed


def _lifted(schema: Mapping[str, Any]) -> bool:
    """True unless the schema already describes the whole message (context, properties...)."""
    top = schema.get("properties")
    return not (isinstance(top, Mapping) and top and set(top) <= _MESSAGE_PARTS)


def _unlift(schema: dict[str, Any], body: str) -> dict[str, Any]:
    """Typewriter v8 keeps the event's properties at the top of ``jsonSchema``; a message
    has them under ``properties`` (or ``traits``). Put them back where they are checked."""
    body_schema: dict[str, Any] = {"type": "object"}
    for keyword in ("properties", "required", "additionalProperties", "patternProperties"):
        if keyword in schema:
            body_schema[keyword] = schema[keyword]
    wrapped = rule_schema(body, body_schema)
    for keyword in ("description", "labels"):  # eventMetadata marks the lifted form: gone
        if keyword in schema:
            wrapped[keyword] = schema[keyword]
    return wrapped


def plan_from_dict(data: Mapping[str, Any] | Sequence[Any], name: str | None = None) -> Plan:
    """Read any of the shapes above from parsed JSON."""
    reader = _Reader()
    if isinstance(data, list):
        listed, lifted = reader.public_rules(data, "rules")
        shape = TYPEWRITER_V8 if lifted else f"{PUBLIC_API} (a bare list)"
        return Plan(name or "tracking plan", tuple(listed), "", shape)
    if not isinstance(data, Mapping):
        raise ValidationError("plan", f"must be a JSON object or list, got {type(data).__name__}")
    source = data
    wrapper = ""
    inner = data.get("data")
    if isinstance(inner, Mapping) and ("rules" in inner or "trackingPlan" in inner):
        source, wrapper = inner, "a whole API response"
    plan_object = source.get("trackingPlan")
    if isinstance(plan_object, Mapping) and "rules" not in source:
        source, wrapper = plan_object, "a trackingPlan object"
    title = str(
        name
        or source.get("display_name")
        or source.get("displayName")
        or (plan_object or {}).get("name")
        or source.get("name")
        or "tracking plan"
    )
    description = str(source.get("description") or "")
    rules = source.get("rules")
    plan_id = _plan_id(source, plan_object)
    if isinstance(rules, list):
        found, lifted = reader.public_rules(rules, "rules")
        shape = TYPEWRITER_V8 if lifted else PUBLIC_API
        if wrapper:
            shape += f" ({wrapper})"
        return Plan(title, tuple(found), description, shape, id=plan_id)
    if isinstance(rules, Mapping):  # Config API / Typewriter v7
        parsed = reader.events(rules.get("events", []) or [], "rules.events")
        for kind, key in CONFIG_API_RULES:
            schema = rules.get(key)
            if isinstance(schema, Mapping) and schema:
                parsed.append(Rule(kind, reader.schema(schema, f"rules.{key}")))
        return Plan(title, tuple(parsed), description, CONFIG_API, id=plan_id)
    if "events" in source and rules is None:
        parsed = reader.events(source["events"], "events")
        return Plan(title, tuple(parsed), description, TYPEWRITER_LOCAL)
    if plan_object is not None or wrapper:
        raise ValidationError(
            "rules",
            "this is a tracking plan without its rules: the Public API returns them from "
            "/tracking-plans/{id}/rules (a pull fetches both)",
        )
    raise ValidationError(
        "rules",
        "not a tracking plan: expected rules (a list: Public API), rules.events "
        "(Config API / Typewriter v7) or events (a Typewriter local plan)",
    )


def _plan_id(source: Mapping[str, Any], plan_object: Any) -> str:
    """Segment's id for a plan: ``id`` (Public API, Typewriter v8), or the last part of a
    Config API ``name`` (``workspaces/w/tracking-plans/rs_1a2b``)."""
    for holder in (source, plan_object if isinstance(plan_object, Mapping) else {}):
        value = holder.get("id")
        if isinstance(value, str) and value.strip():
            return value.strip()
    name = source.get("name")
    if isinstance(name, str) and "/tracking-plans/" in name:
        return name.rsplit("/", 1)[-1]
    return ""


def load_plan(source: PlanSource) -> Plan:
    """A Plan from a Plan, parsed JSON, a JSON file path or a built-in template's name."""
    if isinstance(source, Plan):
        return source
    if isinstance(source, Mapping | list | tuple):
        return plan_from_dict(source if isinstance(source, Mapping) else list(source))
    if isinstance(source, str | Path):
        text = str(source)
        if text in TEMPLATES:
            return TEMPLATES[text]()
        path = Path(text).expanduser()
        if not path.is_file():
            raise ValidationError(
                "plan", f"{text!r} is neither a file nor a template ({', '.join(TEMPLATES)})"
            )
        try:
            raw = path.read_bytes()
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValidationError("plan", f"{path.name} is not JSON: {exc}") from None
        except OSError as exc:
            raise ValidationError("plan", f"cannot read {path.name}: {exc.strerror}") from None
        plan = plan_from_dict(data)
        return replace(plan, name=path.stem) if plan.name == "tracking plan" else plan
    raise ValidationError("plan", f"cannot load a plan from a {type(source).__name__}")


def save_plan(plan: PlanSource, path: str | Path) -> Path:
    """Write ``plan`` as Segment Public API JSON to a private file (0600; a missing folder
    is made); ValidationError naming the path when it cannot be written."""
    plan = load_plan(plan)  # (a template's name or Segment JSON is saved as it loads)
    target = Path(checked_path("path", path) or "").expanduser()
    if target.is_dir():
        raise ValidationError("path", f"{str(target)!r} is a folder; give a file name in it, "
                              f"e.g. {str(target / 'plan.json')!r}")  # fmt: skip
    try:
        make_private(target)
        target.write_bytes(orjson.dumps(plan.to_segment(), option=orjson.OPT_INDENT_2) + b"\n")
    except OSError as exc:
        raise ValidationError(
            "path",
            f"cannot write {str(target)!r} ({exc.strerror or exc}); give a file path "
            "in a folder you can write",
        ) from None
    return target
