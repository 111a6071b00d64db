"""%segment_plan pull / push against a local server built from Segment's OpenAPI document."""

from __future__ import annotations

import getpass
import json

import pytest
from conftest import run
from public_api_server import SPEC, PublicApiServer, _validator

from segment_magics.client import PublicApi, PublicApiError
from segment_magics.client.keys import ApiToken
from segment_magics.client.public_api import REGIONS, api_base
from segment_magics.magics import get_session
from segment_magics.plan import parse_compact

PLAN_ID = "tp_2aBcDeF123"


def track_rule(key: str, props: dict, required=(), version: int = 1) -> dict:
    body = {"type": "object", "properties": props}
    if required:
        body["required"] = list(required)
    return {
        "key": key,
        "type": "TRACK",
        "version": version,
        "jsonSchema": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"context": {}, "traits": {}, "properties": body},
            "required": ["properties"],
        },
    }


@pytest.fixture
def api(monkeypatch):
    server = PublicApiServer()
    url = server.start()
    monkeypatch.setenv("SEGMENT_PUBLIC_API_TOKEN", server.token)
    server.url = url
    yield server
    server.stop()


@pytest.fixture
def shell(ip, api):
    run(ip, f'%config SegmentMagics.public_api = "{api.url}"')
    return ip


def no_secret(cell, api):
    everything = cell.text + cell.html + cell.stderr + str(cell.error)
    assert api.token not in everything


def test_the_test_server_is_built_from_segments_document():
    assert SPEC["info"]["version"] == "32.0.4"
    assert {op["operationId"] for ops in SPEC["paths"].values() for op in ops.values()} == {
        "getTrackingPlan", "listRulesFromTrackingPlan", "replaceRulesInTrackingPlan",
        "updateRulesInTrackingPlan"}  # fmt: skip
    body = _validator("#/components/schemas/ReplaceRulesInTrackingPlanV1Input")
    assert body.is_valid({"rules": [{"type": "TRACK", "key": "A", "version": 1, "jsonSchema": {}}]})
    assert not body.is_valid({"rules": [{"type": "TRACK", "key": "A", "jsonSchema": {}}]})
    assert not body.is_valid({"rules": [{"type": "track", "version": 1, "jsonSchema": {}}]})
    assert not body.is_valid({"rules": [{"type": "TRACK", "version": 1, "json_schema": {}}]})


def test_regions_and_refused_bases():
    assert api_base("us") == REGIONS["us"] == "https://api.segmentapis.com"
    assert api_base("EU") == "https://eu1.api.segmentapis.com"
    assert api_base("https://proxy.example.com/") == "https://proxy.example.com"
    with pytest.raises(ValueError, match="in clear"):
        api_base("http://api.example.com")


def test_pull_reads_every_page_and_makes_the_plan_active(shell, api):
    rules = [track_rule(f"Event {i:03}", {"n": {"type": "integer"}}) for i in range(450)]
    api.add_plan(PLAN_ID, "Production", rules)
    cell = run(shell, f"%segment_plan pull {PLAN_ID}")
    assert cell.error is None, cell.error
    plan = get_session(shell).plan
    assert plan.name == "Production" and len(plan.rules) == 450
    lists = [s for s in api.seen if s.path.endswith("/rules")]
    assert len(lists) == 3 and all(s.query["pagination[count]"] == "200" for s in lists)
    assert all(s.authorized for s in api.seen)
    assert f"pulled from Segment ({PLAN_ID}" in cell.text
    no_secret(cell, api)


def test_push_shows_the_difference_first_and_sends_nothing(shell, api):
    api.add_plan(PLAN_ID, "Production", [
        track_rule("Order Completed", {"order_id": {"type": "string"}}, ["order_id"]),
        track_rule("Old Event", {}),
        track_rule("Same Event", {"x": {"type": "string"}}),
    ])  # fmt: skip
    run(shell, "%%segment_plan\nOrder Completed\n  order_id: string!\n  total: number\n"
               "New Event\n  id: string!\nSame Event\n  x: string")  # fmt: skip
    for line in (f"%segment_plan push {PLAN_ID}", f"%segment_plan push {PLAN_ID} --dry-run"):
        cell = run(shell, line)
        assert cell.error is None, cell.error
        text = cell.text
        assert "1 added, 1 changed, 1 removed" in text
        assert "+properties.total" in text and "New Event" in text and "Old Event" in text
        assert "Same Event" not in text.split("\n", 1)[1]  # unchanged rules are not listed
        assert "--update" in text and "--replace" in text
    assert "dry run: nothing sent" in text
    assert api.writes() == []
    no_secret(cell, api)


def test_push_update_sends_only_added_and_changed_rules(shell, api):
    api.add_plan(PLAN_ID, "Production", [
        track_rule("Order Completed", {"order_id": {"type": "string"}}, version=3),
        track_rule("Old Event", {}),
    ])  # fmt: skip
    run(shell, "%%segment_plan\nOrder Completed\n  order_id: string!\nNew Event\n  id: string")
    cell = run(shell, f"%segment_plan push {PLAN_ID} --update")
    assert cell.error is None, cell.error
    (write,) = api.writes()
    assert write.method == "PATCH" and write.authorized
    sent = {(r["key"], r["version"]) for r in write.body["rules"]}
    assert sent == {("Order Completed", 3), ("New Event", 1)}  # Segment's version kept
    stored = {r["key"] for r in api.plans[PLAN_ID]["rules"]}
    assert stored == {"Order Completed", "Old Event", "New Event"}
    assert "sent 2 rules (update)" in cell.text and "kept (only in Segment)" in cell.text


def test_push_replace_makes_segments_plan_this_one(shell, api):
    api.add_plan(PLAN_ID, "Production", [track_rule("Old Event", {})])
    run(shell, "%segment_plan load b2b-saas")
    cell = run(shell, f"%segment_plan push {PLAN_ID} --replace")
    assert cell.error is None, cell.error
    (write,) = api.writes()
    assert write.method == "PUT"
    local = get_session(shell).plan
    assert len(write.body["rules"]) == len(local.newest_rules())
    common = [r for r in write.body["rules"] if r["type"] in ("IDENTIFY", "GROUP")]
    assert common and all("key" not in r for r in common)  # keyless rules go without a key
    assert {r.get("key") for r in api.plans[PLAN_ID]["rules"]} == {
        r.key for r in local.newest_rules()
    }
    assert "removed" in cell.text
    again = run(shell, f"%segment_plan push {PLAN_ID}")
    assert "Segment already has this plan; nothing to send" in again.text


def many_events(count: int) -> str:
    return "%%segment_plan\n" + "".join(f"Event {n}\n  n: integer\n" for n in range(count))


def test_a_plan_over_200_rules_is_written_200_at_a_time(shell, api):
    api.add_plan(PLAN_ID, "Production", [track_rule(f"Old {n}", {}) for n in range(300)])
    run(shell, many_events(450))
    cell = run(shell, f"%segment_plan push {PLAN_ID} --replace")
    assert cell.error is None, cell.error
    assert [(w.method, len(w.body["rules"])) for w in api.writes()] == [
        ("PUT", 200), ("PATCH", 200), ("PATCH", 50),
    ]  # fmt: skip
    assert sorted(r["key"] for r in api.plans[PLAN_ID]["rules"]) == sorted(
        f"Event {n}" for n in range(450)
    )
    assert "sent 450 rules (replace)" in cell.text
    api.seen.clear()
    run(shell, many_events(650))
    updated = run(shell, f"%segment_plan push {PLAN_ID} --update")
    assert updated.error is None, updated.error
    assert [(w.method, len(w.body["rules"])) for w in api.writes()] == [("PATCH", 200)]
    assert len(api.plans[PLAN_ID]["rules"]) == 650


def test_a_push_cut_short_says_how_far_it_got_and_a_second_push_finishes(shell, api):
    api.add_plan(PLAN_ID, "Production", [])
    run(shell, many_events(450))
    api.refuse_write = 1
    cell = run(shell, f"%segment_plan push {PLAN_ID} --update")
    assert "200 of 450 rules were written before this; push again to finish" in str(cell.error)
    assert len(api.plans[PLAN_ID]["rules"]) == 200
    api.refuse_write = None
    again = run(shell, f"%segment_plan push {PLAN_ID} --update")
    assert again.error is None and "sent 250 rules (update)" in again.text
    assert len(api.plans[PLAN_ID]["rules"]) == 450


def test_pull_then_push_is_a_no_op(shell, api):
    api.add_plan(PLAN_ID, "Production", [track_rule("A", {"a": {"type": "string"}})])
    run(shell, f"%segment_plan pull {PLAN_ID}")
    cell = run(shell, f"%segment_plan push {PLAN_ID} --update")
    assert "Segment already has this plan" in cell.text or "sent 0 rules" in cell.text
    assert api.writes() == []


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (f"%segment_plan push {PLAN_ID} --update --replace", "not both"),
        ("%segment_plan push", "needs the tracking plan's id"),
        ("%segment_plan push ../../workspaces", "is not a tracking plan id"),
        ("%segment_plan pull tp_missing", "404"),
        ("%segment_plan pull tp_missing", "--api eu"),
        (f"%segment_plan pull {PLAN_ID} --api http://segment.example.com", "in clear"),
    ],
)
def test_mistakes_get_one_line_and_change_nothing(shell, api, line, words):
    api.add_plan(PLAN_ID, "Production", [track_rule("A", {})])
    run(shell, "%segment_plan load ecommerce")
    cell = run(shell, line)
    assert cell.error is not None and words in str(cell.error)
    assert "Traceback" not in cell.stdout + cell.stderr
    assert api.writes() == []


def test_wrong_token_and_rate_limits(shell, api, monkeypatch):
    api.add_plan(PLAN_ID, "Production", [track_rule("A", {})])
    api.faults.append((429, {"Retry-After": "0"}, {"errors": [{"type": "TooManyRequests"}]}))
    assert run(shell, f"%segment_plan pull {PLAN_ID}").error is None  # retried once
    monkeypatch.setenv("SEGMENT_PUBLIC_API_TOKEN", "not-the-token")
    cell = run(shell, f"%segment_plan pull {PLAN_ID}")
    assert "401" in str(cell.error) and "SEGMENT_PUBLIC_API_TOKEN" in str(cell.error)


def test_a_server_that_echoes_the_token_never_gets_it_shown(api):
    api.echo_auth = True
    client = PublicApi(ApiToken("s3cret-token-value", "test"), api.url)
    with pytest.raises(PublicApiError) as caught:
        client.tracking_plan(PLAN_ID)
    assert "s3cret-token-value" not in str(caught.value)
    assert "s3cret-token-value" not in repr(client)


def test_a_typed_token_is_asked_once_and_never_kept_anywhere_visible(shell, api, monkeypatch):
    monkeypatch.delenv("SEGMENT_PUBLIC_API_TOKEN")
    asked = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt: asked.append(prompt) or api.token)
    api.add_plan(PLAN_ID, "Production", [track_rule("A", {})])
    first = run(shell, f"%segment_plan pull {PLAN_ID}")
    second = run(shell, f"%segment_plan push {PLAN_ID}")
    assert first.error is None and second.error is None and len(asked) == 1
    assert "SEGMENT_PUBLIC_API_TOKEN" in asked[0]
    session = get_session(shell)
    visible = repr(session.__dict__) + json.dumps(
        {k: repr(v) for k, v in shell.user_ns.items() if not k.startswith("_")}
    )
    assert api.token not in visible
    assert api.token not in repr(run(shell, "%segment_history").result)


def test_a_notebook_plan_round_trips_through_segment_unchanged(shell, api):
    """A plan built in the notebook round-trips through Segment unchanged."""
    plan = parse_compact("Signed Up\n  plan: string! in [free, pro]\nidentify\n  email: string!")
    get_session(shell).use_plan(plan)
    api.add_plan(PLAN_ID, "Empty", [])
    run(shell, f"%segment_plan push {PLAN_ID} --replace")
    run(shell, "%segment_plan clear")
    run(shell, f"%segment_plan pull {PLAN_ID}")
    pulled = get_session(shell).plan
    assert {(r.type, r.key): r.json_schema for r in pulled.rules} == {
        (r.type, r.key): r.json_schema for r in plan.rules
    }
