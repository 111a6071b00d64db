"""Real tracking plans (tests/data/plans, sources in SOURCES.md) are read and checked right.

For every plan and every rule: a message made to fit the rule passes with no
violations, and each way of breaking it is caught with the right kind and path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run
from plan_samples import WRONG, sample, single_typed, types_of

from segment_magics import SegmentClient
from segment_magics.errors import PlanWarning
from segment_magics.messages import build_message
from segment_magics.plan import PlanValidator, load_plan, plan_from_dict
from segment_magics.plan.model import body_of
from segment_magics.plan.tolerate import tolerate

PLANS = Path(__file__).parent / "data" / "plans"
FILES = sorted(PLANS.glob("*.json"))
SHAPES = {
    "typewriter-v7-demo.json": ("Config API / Typewriter v7 plan.json", "Demo Tracking Plan"),
    "typewriter-v7-e2e.json": (
        "Config API / Typewriter v7 plan.json",
        "Typewriter E2E Tracking Plan",
    ),
    "typewriter-v7-own-analytics.json": (
        "Config API / Typewriter v7 plan.json",
        "Typewriter Tracking Plan",
    ),
    "typewriter-v8-telemetry.json": ("Typewriter v8 plan.json", "Typewriter Tracking Plan"),
    "typewriter-local-order-completed.json": (
        "Typewriter local tracking plan",
        "typewriter-local-order-completed",
    ),
    "typewriter-local-slothgram.json": (
        "Typewriter local tracking plan",
        "typewriter-local-slothgram",
    ),
    "typewriter-local-draft04-fixture.json": (
        "Typewriter local tracking plan",
        "typewriter-local-draft04-fixture",
    ),
    "typewriter-fixture-all-the-things.json": (
        "Typewriter local tracking plan",
        "Typewriter: Test All The Things",
    ),
    "public-api-list-rules-response.json": (
        "Public API rules (a whole API response)",
        "public-api-list-rules-response",
    ),
    "public-api-quirks.json": ("Public API rules (a bare list)", "public-api-quirks"),
}
KIND = {
    "TRACK": "track",
    "PAGE": "page",
    "SCREEN": "screen",
    "IDENTIFY": "identify",
    "GROUP": "group",
}


def test_every_file_is_described_in_sources():
    listed = (PLANS / "SOURCES.md").read_text()
    assert {f.name for f in FILES} == set(SHAPES)
    assert all(f.name in listed for f in FILES)
    assert sum(1 for line in listed.splitlines() if "| MIT" in line) >= 8


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_shape_name_and_nothing_skipped(path):
    plan = load_plan(path)
    assert (plan.shape, plan.name) == SHAPES[path.name]
    validator = PlanValidator(plan)
    assert validator.skipped == []


def cases():
    for path in FILES:
        plan = load_plan(path)
        seen = set()
        for rule in reversed(plan.rules):  # the newest version of each rule is checked
            if rule.type == "COMMON" or (rule.type, rule.key) in seen:
                continue
            seen.add((rule.type, rule.key))
            yield pytest.param(path, rule, id=f"{path.stem}:{rule.label}:v{rule.version}")


def message_for(rule, body: dict) -> dict:
    fields = {"user_id": "u1"}
    if rule.type == "TRACK":
        fields["event"] = rule.key
    elif rule.type in ("PAGE", "SCREEN") and rule.key:
        fields["name"] = rule.key
    if rule.type == "GROUP":
        fields["group_id"] = "g1"
    fields[rule.body] = body
    return build_message(KIND[rule.type], **fields).message


def found(validator, message):
    return sorted((v.kind, v.field) for v in validator.check(message))


@pytest.mark.parametrize(("path", "rule"), list(cases()))
def test_conforming_and_broken_messages(path, rule):
    validator = PlanValidator(load_plan(path))
    schema, _ = tolerate(rule.json_schema, rule.label)
    body_schema = body_of(schema, rule.body)
    good = sample(body_schema) if types_of(body_schema) in ([], ["object"]) else {}
    assert found(validator, message_for(rule, good)) == []

    listed = body_schema.get("properties") or {}
    required = [name for name in body_schema.get("required", []) if name in listed]
    where = rule.body
    if required:
        broken = dict(good)
        del broken[required[0]]
        assert found(validator, message_for(rule, broken)) == [
            ("missing required", f"{where}.{required[0]}")
        ]
    name = single_typed(listed)
    if name:
        broken = {**good, name: WRONG[types_of(listed[name])[0]]}
        assert found(validator, message_for(rule, broken)) == [("wrong type", f"{where}.{name}")]
    enum = next((n for n, sub in listed.items() if sub.get("enum")), None)
    if enum:
        broken = {**good, enum: "not one of them"}
        assert found(validator, message_for(rule, broken)) == [("value rule", f"{where}.{enum}")]
    if listed and "additionalProperties" not in body_schema:
        broken = {**good, "zz unplanned": 1}
        assert found(validator, message_for(rule, broken)) == [
            ("unplanned property", f"{where}.zz unplanned")
        ]


def test_the_quirks_are_read_the_way_segment_reads_them():
    plan = load_plan(PLANS / "public-api-quirks.json")
    validator = PlanValidator(plan)
    notes = " | ".join(validator.notes)
    assert "properties.payload has type any, read as unconstrained" in notes
    assert "properties.seats has type any" in notes
    assert "email required" in notes

    def signed_up(**props):
        base = {"plan": "pro", "referrer": None, "email": "a@example.com"}
        return found(validator, message_for(plan.rules[1], {**base, **props}))

    assert signed_up(payload={"any": ["thing"]}, seats="many") == []  # any is anything
    assert signed_up(referrer=None) == []  # a JSON null in a type list means "null"
    assert signed_up(plan="gold") == [("value rule", "properties.plan")]  # version 2 applies
    assert signed_up(email=None) == [("wrong type", "properties.email")]
    missing = {"plan": "pro", "referrer": "x"}
    assert found(validator, message_for(plan.rules[1], missing)) == [
        ("missing required", "properties.email")  # "required": true on the property
    ]


def test_v8_rules_are_checked_at_the_properties_level():
    """Typewriter v8 lifts properties to the top of jsonSchema: a correct message used
    to get six 'missing required' violations, and a wrong enum value passed."""
    plan = load_plan(PLANS / "typewriter-v8-telemetry.json")
    validator = PlanValidator(plan)
    build = next(rule for rule in plan.rules if rule.key == "Command Build")
    props = sample(build.body_schema)
    assert found(validator, message_for(build, props)) == []
    assert found(validator, message_for(build, {**props, "mode": "staging"})) == [
        ("value rule", "properties.mode")
    ]


# -- what a hostile or broken plan gets ------------------------------------------------


def one_rule(schema_of_s: dict, key: str = "E") -> list:
    body = {"type": "object", "properties": {"s": schema_of_s}}
    return [{"type": "TRACK", "key": key, "jsonSchema": {"properties": {"properties": body}}}]


@pytest.fixture
def counting_server():
    """A loopback HTTP server that counts what it is asked for."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = b'{"type": "string"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_references_outside_the_plan_are_never_followed(counting_server, tmp_path):
    url, hits = counting_server
    secret = tmp_path / "secret.json"
    secret.write_text('{"type": "string"}')
    plan = plan_from_dict(
        one_rule({"$ref": f"{url}/schema.json"}, "Remote")
        + one_rule({"$ref": secret.as_uri()}, "Local file")
        + one_rule({"$ref": "#/definitions/s"}, "Inner")
    )
    plan.rules[2].json_schema["definitions"] = {"s": {"type": "string"}}
    validator = PlanValidator(plan)
    assert hits == []
    reasons = {s.rule: s.reason for s in validator.skipped}
    assert set(reasons) == {"Remote", "Local file"}
    assert "not followed" in reasons["Remote"] and "$defs" in reasons["Remote"]
    inner = {"type": "track", "event": "Inner", "properties": {"s": 5}}
    assert found(validator, inner) == [("wrong type", "properties.s")]  # inner refs work


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("(?=.*[0-9])", "lookaround or backreferences"),
        ("(a)\\1", "lookaround or backreferences"),
        ("[a-", "not a valid regular expression"),
        ("(a{1000}){1000}", "too large"),
    ],
)
def test_patterns_that_cannot_run_safely_are_refused_at_load(pattern, words):
    validator = PlanValidator(plan_from_dict(one_rule({"type": "string", "pattern": pattern})))
    (skipped,) = validator.skipped
    assert skipped.rule == "E" and words in skipped.reason and pattern[:3] in skipped.reason
    assert "not checked: E: pattern" in validator.remarks()[0]


def test_a_catastrophic_pattern_is_linear_and_long_values_are_cut_short():
    validator = PlanValidator(plan_from_dict(one_rule({"type": "string", "pattern": "^(a+)+$"})))
    value = "a" * 200_000 + "!"
    (violation,) = validator.check({"type": "track", "event": "E", "properties": {"s": value}})
    assert (violation.kind, violation.field) == ("value rule", "properties.s")
    assert len(violation.detail) < 200 and "^(a+)+$" in violation.detail
    ok = {"type": "track", "event": "E", "properties": {"s": "a" * 200_000}}
    assert validator.check(ok) == []  # valid data never reported, however long


def test_client_warns_once_naming_the_rules_it_cannot_check():
    rules = one_rule({"type": "string", "pattern": "(?!x)"}, "Bad") + one_rule({}, "Good")
    with pytest.warns(PlanWarning, match=r"1 rule\(s\) .* Bad: pattern"):
        client = SegmentClient(write_key="k", endpoint="http://127.0.0.1:9", plan=rules)
    assert client.plan is not None and client.plan.planned_events == ["Bad", "Good"]


def test_show_names_the_shape_the_notes_and_the_skipped_rules(ip):
    quirks = PLANS / "public-api-quirks.json"
    shown = run(ip, f"%segment_plan load {quirks}")
    assert shown.error is None and "read as Public API rules (a bare list)" in shown.text
    text = run(ip, "%segment_plan show").text
    assert "read as: Public API rules (a bare list)" in text
    assert "properties.payload has type any, read as unconstrained" in text
    assert "Signed Up (v2)" in text and "Signed Up\t" not in text
    bad = one_rule({"type": "string", "pattern": "(?<=a)b"}, "Lookbehind")
    ip.user_ns["bad"] = bad
    shown = run(ip, "%segment_plan load bad")
    assert shown.error is None and "not checked: Lookbehind: pattern" in shown.text


def test_template_required_marks_are_labelled_as_the_templates_choice(ip):
    run(ip, "%segment_plan load ecommerce")
    shown = run(ip, "%segment_plan show")
    assert "yes (template)" in shown.text
    assert "this template's choice" in shown.text


MALFORMED = [
    ([1, 2], "rules[0]: must be a rule object"),
    ({"rules": [{"type": "TRACK", "key": "A", "version": "v2", "jsonSchema": {}}]},
     "rules[0].version: must be a whole number"),
    ({"rules": [{"type": "TRACK", "key": "A", "jsonSchema": []}]},
     "rules[0].jsonSchema: must be a JSON Schema object"),
    ({"rules": {"events": "all of them"}}, "rules.events: must be a list"),
    ({"trackingPlan": {"id": "tp_1", "name": "x"}}, "without its rules"),
    ({"name": "not a plan"}, "not a tracking plan"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "words"), MALFORMED)
def test_malformed_plans_get_one_line_everywhere(data, words, ip, tmp_path):
    import json
    import subprocess
    import sys

    from segment_magics import start_collector
    from segment_magics.errors import ValidationError

    for load in (
        load_plan,
        lambda p: SegmentClient(write_key="k", endpoint="http://127.0.0.1:9", plan=p),
        lambda p: start_collector(port=0, plan=p),
    ):
        with pytest.raises(ValidationError) as caught:
            load(data)
        assert words in str(caught.value) and "\n" not in str(caught.value)
    ip.user_ns["candidate"] = data
    cell = run(ip, "%segment_plan load candidate")
    assert words in str(cell.error) and "Traceback" not in cell.stdout
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    cli = subprocess.run(
        [sys.executable, "-m", "segment_magics.collector", "--port", "0", "--plan", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cli.returncode == 2 and words in cli.stderr and "Traceback" not in cli.stderr
