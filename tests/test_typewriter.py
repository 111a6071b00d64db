"""A faithful round trip with Segment's Typewriter 9.2.0 (from npm: `make typewriter`).

Every plan in tests/data/plans, every template and a compact plan is exported by us,
and Typewriter builds a TypeScript client from the export offline (its plan cache,
plan.json; a preloaded script refuses any connection off this machine, so its
telemetry never leaves). The types it generates are compared with the source plan,
read here on its own terms, and, where Typewriter reads the source file itself, with
the client it builds from the source.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from segment_magics.plan import PlanValidator, load_plan, parse_compact
from segment_magics.plan.templates import TEMPLATES

ROOT = Path(__file__).resolve().parents[1]
TYPEWRITER = ROOT / "build" / "typewriter" / "node_modules" / ".bin" / "typewriter"
LOOPBACK_ONLY = Path(__file__).with_name("typewriter") / "loopback-only.js"
PLANS = sorted((Path(__file__).with_name("data") / "plans").glob("*.json"))

pytestmark = pytest.mark.skipif(
    not TYPEWRITER.exists(),
    reason="Typewriter is not installed (make test installs it; CI never skips)",
)

Members = dict[str, tuple[bool, str]]  # property -> (optional, TypeScript type)


# -- building ------------------------------------------------------------------------------
def build(plan: dict[str, Any], where: Path) -> str:
    """Typewriter's TypeScript client for ``plan`` (its plan.json), built offline. The
    config entry has a legacyID, so Typewriter must find the plan by its id."""
    (where / "plan").mkdir(parents=True)
    (where / "plan" / "plan.json").write_text(json.dumps(plan))
    (where / "typewriter.yml").write_text(
        "client:\n  sdk: analytics-node\n  language: typescript\n"
        f"trackingPlans:\n  - id: {json.dumps(plan['id'])}\n    legacyID: rs_legacy_id\n"
        "    workspaceSlug: tests\n    path: ./plan\n"
    )
    refused = where / "refused.json"
    env = {**os.environ, "HOME": str(where), "NODE_OPTIONS": f"--require {LOOPBACK_ONLY}",
           "TYPEWRITER_REFUSED": str(refused), "CI": "true"}  # fmt: skip
    done = subprocess.run([str(TYPEWRITER), "build"], cwd=where, env=env, capture_output=True,
                          text=True, timeout=180)  # fmt: skip
    output = where / "plan" / "segment.ts"
    assert done.returncode == 0 and output.exists(), done.stdout[-2000:] + done.stderr[-2000:]
    assert all(host in {"api.segment.io"} for host in json.loads(refused.read_text() or "[]"))
    return output.read_text()


_MEMBER = re.compile(r'^    (?:"((?:[^"\\]|\\.)*)"|([A-Za-z_$][\w$]*))(\?)?: +(.*);$')


def generated_events(source: str) -> dict[str, Members]:
    """Each event's properties as the generated client types them."""
    interfaces: dict[str, Members] = {}
    for name, body in re.findall(r"^export interface (\w+) \{\n(.*?)^\}", source, re.M | re.S):
        members: Members = {}
        for line in body.splitlines():
            found = _MEMBER.match(line)
            if found and not line.strip().startswith("[property"):
                key = json.loads(f'"{found[1]}"') if found[1] is not None else found[2]
                members[html.unescape(key)] = (bool(found[3]), found[4].strip())
        interfaces[name] = members
    events = {}
    for interface, event in re.findall(
        r"message: TrackMessage<(\w+)>.*?event: '((?:[^'\\]|\\.)*)'", source, re.S
    ):
        events[html.unescape(event.replace("\\'", "'"))] = interfaces[interface]
    return events


# -- the source, read on its own terms ----------------------------------------------------
def _newest(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    track = [r for r in rules if str(r.get("type", "")).upper() == "TRACK"]
    return [r for r in track
            if all(r["key"] != o["key"] or r.get("version", 1) >= o.get("version", 1) for o in track)]  # fmt: skip


def source_events(data: Any) -> dict[str, tuple[set[str], set[str]]]:
    """event -> (its properties, the required ones), as the file itself says."""
    out: dict[str, tuple[set[str], set[str]]] = {}

    def body(props: dict[str, Any], required: Any) -> tuple[set[str], set[str]]:
        listed = props if isinstance(props, dict) else {}
        flagged = {
            k for k, v in listed.items() if isinstance(v, dict) and v.get("required") is True
        }
        named = set(required) if isinstance(required, list) else set()  # draft-03: a flag
        return set(listed), (named | flagged) & set(listed)

    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]
    rules = data if isinstance(data, list) else data.get("rules")
    if isinstance(rules, list):
        for rule in _newest(rules):
            schema = rule.get("jsonSchema", {})
            if "eventMetadata" in schema:  # Typewriter v8: the properties lifted to the top
                out[rule["key"]] = body(schema.get("properties", {}), schema.get("required"))
            else:
                inner = schema.get("properties", {}).get("properties", {})
                out[rule["key"]] = body(inner.get("properties", {}), inner.get("required"))
        return out
    events = rules["events"] if isinstance(rules, dict) else data["events"]
    for event in events:
        inner = event.get("rules", {}).get("properties", {}).get("properties", {})
        out[event["name"]] = body(inner.get("properties", {}), inner.get("required"))
    return out


def plan_events(plan) -> dict[str, tuple[set[str], set[str]]]:
    out = {}
    for rule in plan.newest_rules():
        if rule.type == "TRACK" and rule.key:
            schema = rule.body_schema
            props = schema.get("properties") or {}
            out[rule.key] = (set(props), set(schema.get("required") or []) & set(props))
    return out


def assert_types_match(generated: dict[str, Members], expected: dict[str, Any]) -> None:
    assert set(generated) == set(expected)
    for event, (props, required) in expected.items():
        members = dict(generated[event])
        if "properties" not in props and members.get("properties", (0, ""))[1] == "any":
            del members["properties"]  # (*)
        if not props:  # Typewriter types an event without properties with one null "_"
            assert set(members) == {"_"}, event
            continue
        assert set(members) == props, event
        assert {name for name, (optional, _) in members.items() if not optional} == required, event


# (*) Typewriter spreads the whole-message schema over the event's when it unwraps it,
# so a rule's own `required: ["properties"]` shows as a `properties: any` member; it
# does so for the source plan too.


def _sanitize_name(name: str) -> str:
    return re.sub(r"\W+", "-", name).strip("-")


# -- the round trips -----------------------------------------------------------------------
@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_an_exported_plan_builds_the_types_of_its_source(path, tmp_path):
    data = json.loads(path.read_text())
    plan = load_plan(path)
    exported = plan.to_segment()
    assert exported["id"]
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        assert exported["id"] == data["id"]  # Segment's id is kept
    ours = generated_events(build(exported, tmp_path / "export"))
    assert_types_match(ours, source_events(data))
    for rule in exported["rules"]:  # one form: what Segment's API returns (and a push sends)
        assert "eventMetadata" not in rule["jsonSchema"]
    readable = isinstance(data, dict) and isinstance(data.get("rules"), list | dict)
    if readable:  # Typewriter reads the source itself: the same types, member for member
        source = {**data, "id": data.get("id") or exported["id"]}
        assert ours == generated_events(build(source, tmp_path / "source"))


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_a_template_builds_a_client_with_its_rules(name, tmp_path):
    plan = load_plan(name)
    exported = plan.to_segment()
    generated = generated_events(build(exported, tmp_path / _sanitize_name(name)))
    assert_types_match(generated, plan_events(plan))


def test_a_compact_plan_builds_a_client_with_its_rules(tmp_path):
    plan = parse_compact(
        "Order Completed\n  order_id: string!\n  total: number >= 0\n  coupon?: string\n"
        "  products: array\n"
        "Signed Up\n  plan: string! in [free, pro]\n"
        "Logged Out\n"
    )
    generated = generated_events(build(plan.to_segment(), tmp_path / "compact"))
    assert_types_match(generated, plan_events(plan))
    assert generated["Order Completed"]["total"] == (True, "number")


def test_the_export_of_a_v8_plan_is_not_wrapped_twice(tmp_path):
    """The bug: eventMetadata kept beside properties.properties gave
    ``{context?: any; properties: ...}`` instead of the event's own properties."""
    v8 = next(p for p in PLANS if "v8" in p.stem)
    generated = generated_events(build(load_plan(v8).to_segment(), tmp_path / "v8"))
    for event, members in generated.items():
        assert "context" not in members and "properties" not in members, event


def test_two_spellings_of_any_properties_get_one_verdict():
    """``properties: {}`` (how Typewriter saves "any properties") and ``{"type":
    "object"}`` without a list both allow any property."""
    message = {"type": "track", "event": "Anything", "userId": "u",
               "properties": {"a": 1, "b": {"c": 2}}}  # fmt: skip
    verdicts = []
    for body in ({"type": "object", "properties": {}}, {"type": "object"}, {"properties": {}}):
        schema = {"type": "object", "properties": {"properties": body}}
        plan = load_plan([{"type": "TRACK", "key": "Anything", "version": 1, "jsonSchema": schema}])
        verdicts.append([str(v) for v in PlanValidator(plan).check(message)])
    assert verdicts == [[], [], []]
