"""A tracking plan compiled into column checks: one SQL expression per message.

For every event rule whose properties schema is made of what a column check can say
exactly (types, ``required``, nullability, string enums, numeric bounds, patterns a
linear engine reads the same way, unplanned properties), the rule becomes a list of
``{field, kind}`` structs that DuckDB evaluates over the JSON of each message, as it
reads the export (gzip and all) on every core. Everything else, a nested object, an
array's items, a common rule, a pattern with ``\\d``, goes to the row checker
(:class:`~.validate.PlanValidator`), for those events only: the verdicts are the row
checker's, group by group (a property-based test compares the two).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..messages import COMMON_RULE, EVENT_RULE
from .model import Plan, Rule, body_of
from .tolerate import standard
from .validate import _planned

# What a property schema may hold and still be checked column by column (annotations
# are ignored by validation, so they are fine).
_ANNOTATIONS = {"description", "title", "examples", "id", "$id", "$comment", "default",
                "deprecated", "readOnly", "writeOnly", "$schema", "labels"}  # fmt: skip
_CHECKED = {"type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
            "pattern"}  # fmt: skip
_BODY_KEYS = {"type", "properties", "required"} | _ANNOTATIONS
_JSON_TYPES = {  # JSON Schema type -> DuckDB's json_type() names
    "string": ("VARCHAR",),
    "integer": ("UBIGINT", "BIGINT", "HUGEINT"),  # and whole DOUBLEs, below
    "number": ("UBIGINT", "BIGINT", "HUGEINT", "DOUBLE"),
    "boolean": ("BOOLEAN",),
    "null": ("NULL",),
    "array": ("ARRAY",),
    "object": ("OBJECT",),
}
_NUMERIC = "('UBIGINT', 'BIGINT', 'HUGEINT', 'DOUBLE')"


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _safe_pattern(pattern: str) -> bool:
    """A pattern that means the same in the row checker's engine (Rust's regex) and in
    DuckDB's (RE2): no class whose members differ (``\\d``, ``\\w``, ``\\s``, ``\\b``
    are Unicode in one, ASCII in the other), no flags, no groups with options."""
    stripped = re.sub(r"\\[\\.\-+*?()\[\]{}|^$/]", "", pattern)  # escaped punctuation
    return "\\" not in stripped and "(?" not in stripped


@dataclass(frozen=True)
class EventChecks:
    """One event's rule as SQL over a table of messages (``label``, ``ts``, ``mid``, the
    JSON text ``l``): the paths to extract, one column per fact about each value, and
    the checks, each a (field, kind, condition that is true when the message breaks it).
    """

    event: str
    paths: tuple[str, ...]
    columns: tuple[str, ...]  # "<expression> AS <name>" over x, the extracted values
    checks: tuple[tuple[str, str, str], ...]
    planned: tuple[str, ...] | None  # the properties listed (None: any are planned)
    body: str

    def aggregate_sql(self, table: str, where: str) -> str:
        """The event's broken messages, aggregated: each message's failed checks are a
        bit mask, so a plain GROUP BY (day, mask) counts them (few masks occur); rows
        (label, day, mask, key, n, first, last, examples), ``key`` naming an unplanned
        property (``mask`` then NULL). Bit ``len(checks)`` marks unplanned properties."""
        extract = "[" + ", ".join(_sql_text(p) for p in self.paths) + "]"
        extra = (f"(t1 = 'OBJECT' AND NOT list_has_all({_names(self.planned)}, k1))"
                 if self.planned is not None else "FALSE")  # fmt: skip
        bits = [f"(CASE WHEN {cond} THEN {1 << n} ELSE 0 END)"
                for n, (_, _, cond) in enumerate(self.checks)]  # fmt: skip
        bits.append(f"(CASE WHEN {extra} THEN {1 << len(self.checks)} ELSE 0 END)")
        facts = f"""SELECT label, substr(ts, 1, 10) AS day, ts, mid, k1,
                           ({" + ".join(bits)})::BIGINT AS mask
                    FROM (SELECT label, ts, mid, {", ".join(self.columns)}
                          FROM (SELECT label, ts, mid, json_extract(l, {extract}) AS x
                                FROM {table} WHERE {where} AND ev = {_sql_text(self.event)}))"""
        masks = """SELECT any_value(label), day, mask, NULL::VARCHAR, count(*), min(ts), max(ts),
                          arg_min(mid, ts, 5)
                   FROM facts WHERE mask <> 0 GROUP BY day, mask"""
        parts = [masks]
        if self.planned is not None:  # unplanned properties: only the rows that have some
            unplanned_bit = 1 << len(self.checks)
            parts.append(f"""
                SELECT any_value(label), day, NULL::BIGINT, key, count(*), min(ts), max(ts),
                       arg_min(mid, ts, 5)
                FROM (SELECT label, day, ts, mid, unnest(list_filter(k1, lambda n: NOT
                             list_contains({_names(self.planned)}, n))) AS key
                      FROM facts WHERE (mask & {unplanned_bit}) <> 0)
                GROUP BY day, key""")
        return f"WITH facts AS ({facts}) " + " UNION ALL ".join(parts)

    def failed(self, mask: int) -> list[tuple[str, str]]:
        """The (field, kind) of each check a mask says failed."""
        return [(f, k) for n, (f, k, _) in enumerate(self.checks) if mask >> n & 1]


def _names(names: Iterable[str] | None) -> str:
    return "[" + ", ".join(_sql_text(n) for n in names or ()) + "]::VARCHAR[]"


@dataclass
class Compiled:
    """The plan as SQL: per event, its checks; the events (and call types) left to the
    row checker; whether the plan governs track events."""

    events: dict[str, EventChecks] = field(default_factory=dict)
    by_rows: set[str] = field(default_factory=set)  # events the row checker checks
    rows_for_all: bool = False  # a common rule: every message goes to the row checker
    governs_track: bool = False
    reasons: dict[str, str] = field(default_factory=dict)  # event -> why it is row-checked


def compile_plan(plan: Plan) -> Compiled:
    """Compile what can be compiled; say what cannot, and why."""
    out = Compiled()
    rules = plan.newest_rules()
    out.governs_track = any(r.type == EVENT_RULE for r in rules)
    out.rows_for_all = any(r.type == COMMON_RULE for r in rules)
    for rule in rules:
        if rule.type != EVENT_RULE or not rule.key:
            continue
        try:
            out.events[rule.key] = _rule_sql(rule)
        except _RowsOnly as why:
            out.by_rows.add(rule.key)
            out.reasons[rule.key] = str(why)
    return out


class _RowsOnly(Exception):
    """This rule needs the row checker (the message says why)."""


def _rule_sql(rule: Rule) -> EventChecks:
    """The rule as column checks. The message is parsed once for the rule: every path
    it checks is extracted in one call, and each value's JSON type (``t<i>``), text
    (``s<i>``) and number (``d<i>``) become columns that the checks compare."""
    schema = standard(rule.json_schema, rule.label)
    body = rule.body or "properties"
    wrapper_parts = schema.get("properties")
    extra_keys = set(schema) - {"type", "properties", "required"} - _ANNOTATIONS
    if not isinstance(wrapper_parts, Mapping) or extra_keys:
        raise _RowsOnly("the rule checks more than its properties")
    for name, part in wrapper_parts.items():
        if name != body and part not in ({}, None) and set(part) - _ANNOTATIONS:
            raise _RowsOnly(f"the rule checks {name}")
    body_schema = body_of(schema, body)
    if set(body_schema) - _BODY_KEYS or body_schema.get("type", "object") != "object":
        raise _RowsOnly("the properties schema uses more than properties and required")
    props = body_schema.get("properties") or {}
    if not isinstance(props, Mapping):
        raise _RowsOnly("properties is not a map")
    required = body_schema.get("required") or []
    if not all(isinstance(name, str) for name in required):
        raise _RowsOnly("a required name that is not text")
    names = list(dict.fromkeys([*map(str, props), *required]))
    index = {name: i + 2 for i, name in enumerate(names)}  # x[1] is the body itself
    path = f"$.{body}"
    planned = _planned(body_schema)
    columns = ["json_type(x[1]) AS t1"]
    if planned is not None:
        columns.append("CASE WHEN json_type(x[1]) = 'OBJECT' THEN json_keys(x[1]) END AS k1")
    else:
        columns.append("NULL::VARCHAR[] AS k1")
    checks: list[tuple[str, str, str]] = [(body, "wrong type", "t1 <> 'OBJECT'")]
    if body in (schema.get("required") or []):
        checks.append((body, "missing required", "t1 IS NULL"))
    for name in required:
        checks.append((f"{body}.{name}", "missing required",
                       f"t1 = 'OBJECT' AND t{index[name]} IS NULL"))  # fmt: skip
    for name, sub in props.items():
        checks.extend(_property_checks(body, str(name), sub, index[str(name)]))
    if len(checks) > 60:
        raise _RowsOnly(f"{len(checks)} checks: more than one mask holds")
    used = " ".join(cond for _, _, cond in checks)
    for i in range(2, len(names) + 2):  # only the facts some check reads: each one costs
        columns.append(f"json_type(x[{i}]) AS t{i}")
        if re.search(rf"\bs{i}\b", used):
            columns.append(f"x[{i}]->>'$' AS s{i}")
        if re.search(rf"\bd{i}\b", used):
            columns.append(f"try_cast(x[{i}] AS DOUBLE) AS d{i}")
    paths = (path, *(_member(path, name) for name in names))
    listed = tuple(planned) if planned is not None else None
    return EventChecks(str(rule.key), paths, tuple(columns), tuple(checks), listed, body)


def _member(path: str, name: str) -> str:
    """A JSON path to a member, quoted (names with dots, spaces or quotes work)."""
    return f'{path}."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _property_checks(body: str, name: str, sub: Any, i: int) -> list[tuple[str, str, str]]:
    """The checks of one property, whose facts are the columns ``t<i>``, ``s<i>``,
    ``d<i>``."""
    if not isinstance(sub, Mapping):
        raise _RowsOnly(f"{name}: not a schema")
    unknown = set(sub) - _CHECKED - _ANNOTATIONS
    if unknown:
        raise _RowsOnly(f"{name}: {sorted(unknown)[0]}")
    field = f"{body}.{name}"
    present = f"t1 = 'OBJECT' AND t{i} IS NOT NULL"
    checks: list[tuple[str, str, str]] = []
    types = sub.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not names or any(t not in _JSON_TYPES for t in names):
            raise _RowsOnly(f"{name}: type {types!r}")
        allowed = sorted({d for t in names for d in _JSON_TYPES[t]})
        ok = f"t{i} IN ({', '.join(_sql_text(a) for a in allowed)})"
        if "integer" in names and "number" not in names:  # 1.0 is an integer too
            ok = f"({ok} OR (t{i} = 'DOUBLE' AND d{i} = floor(d{i})))"
        checks.append((field, "wrong type", f"{present} AND NOT {ok}"))
    if "enum" in sub:
        values = sub["enum"]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _RowsOnly(f"{name}: an enum that is not all text")
        listed = ", ".join(_sql_text(v) for v in values) or "NULL"
        checks.append(
            (field, "value rule", f"{present} AND NOT (t{i} = 'VARCHAR' AND s{i} IN ({listed}))")
        )
    bounds = {"minimum": "<", "maximum": ">", "exclusiveMinimum": "<=", "exclusiveMaximum": ">="}
    for keyword, breaks in bounds.items():
        if keyword in sub:
            limit = sub[keyword]
            if isinstance(limit, bool) or not isinstance(limit, int | float):
                raise _RowsOnly(f"{name}: {keyword} {limit!r}")
            bound = f"{present} AND t{i} IN {_NUMERIC} AND d{i} {breaks} {float(limit)!r}"
            checks.append((field, "value rule", bound))
    if "pattern" in sub:
        pattern = sub["pattern"]
        if not isinstance(pattern, str) or not _safe_pattern(pattern):
            raise _RowsOnly(f"{name}: pattern {pattern!r} needs the row checker's engine")
        checks.append((field, "value rule", f"{present} AND t{i} = 'VARCHAR' AND NOT "
                       f"regexp_matches(s{i}, {_sql_text(pattern)})"))  # fmt: skip
    return checks
