"""Tracking plans: formats, the compact notation, every violation kind, modes, inference."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import requests
from conftest import run

from segment_magics import SegmentClient, start_collector
from segment_magics.collector import wait_for_collector
from segment_magics.errors import ValidationError
from segment_magics.magics import get_session
from segment_magics.messages import build_message
from segment_magics.plan import (
    PlanValidator,
    diff_plan,
    infer_plan,
    load_plan,
    parse_compact,
    plan_from_dict,
    save_plan,
)

PLAN = """\
Order Completed
  order_id: string!
  total: number >= 0
  currency: string! in [USD, EUR]
  coupon: string /^[A-Z]+$/
  products: array!
    product_id: string!
    price: number >= 0
    quantity: integer 1..100
identify
  email: string!
  plan: string in [free, pro]
common
  userId: string!
"""
GOOD = {"order_id": "o1", "total": 10, "currency": "USD",
        "products": [{"product_id": "p1", "price": 9.5, "quantity": 1}]}  # fmt: skip


def track(properties, event="Order Completed", user_id="u1"):
    return build_message("track", event=event, user_id=user_id, properties=properties).message


def kinds(violations):
    return sorted((v.kind, v.field) for v in violations)


@pytest.fixture
def validator():
    return PlanValidator(parse_compact(PLAN))


def test_valid_message_has_no_violations(validator):
    assert validator.check(track(GOOD)) == []
    assert (
        validator.check(build_message("identify", user_id="u", traits={"email": "a@b.c"}).message)
        == []
    )


def test_unplanned_event(validator):
    (violation,) = validator.check(track({}, event="Order Compleeted"))
    assert violation.kind == "unplanned event" and "Order Compleeted" in violation.detail


def test_missing_required_names_the_nested_path(validator):
    props = {**GOOD, "products": [{"product_id": "p1"}, {"price": 3}]}
    del props["currency"]
    assert kinds(validator.check(track(props))) == [
        ("missing required", "properties.currency"),
        ("missing required", "properties.products[1].product_id"),
    ]


def test_wrong_type_says_what_was_expected(validator):
    (violation,) = validator.check(track({**GOOD, "total": "10"}))
    assert (violation.kind, violation.field) == ("wrong type", "properties.total")
    assert violation.detail == '"10" is not of type "number"'


def test_unplanned_properties_top_level_and_nested(validator):
    props = {**GOOD, "colour": "red", "products": [{"product_id": "p", "sku": "x"}]}
    assert kinds(validator.check(track(props))) == [
        ("unplanned property", "properties.colour"),
        ("unplanned property", "properties.products[0].sku"),
    ]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"currency": "JPY"}, "properties.currency", '"JPY" is not one of "USD" or "EUR"'),
        ({"coupon": "spring"}, "properties.coupon", '"spring" does not match "^[A-Z]+$"'),
        ({"total": -1}, "properties.total", "-1 is less than the minimum of 0"),
        ({"products": [{"product_id": "p", "quantity": 500}]}, "properties.products[0].quantity",
         "500 is greater than the maximum of 100"),
    ],
)  # fmt: skip
def test_value_rules(validator, change, field, words):
    (violation,) = validator.check(track({**GOOD, **change}))
    assert (violation.kind, violation.field, violation.detail) == ("value rule", field, words)


def test_common_rule_applies_to_every_call(validator):
    message = build_message("identify", anonymous_id="a1", traits={"email": "a@b.c"}).message
    (violation,) = validator.check(message)
    assert violation.kind == "common rule" and "userId" in violation.detail


def test_identify_traits_are_checked(validator):
    message = build_message("identify", user_id="u", traits={"plan": "gold"}).message
    assert kinds(validator.check(message)) == [
        ("missing required", "traits.email"),
        ("value rule", "traits.plan"),
    ]


def test_compact_notation_compiles_to_segment_json_schema():
    plan = parse_compact(PLAN)
    rule = plan.rule_for("TRACK", "Order Completed")
    schema = rule.json_schema
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    body = schema["properties"]["properties"]
    assert body["required"] == ["order_id", "currency", "products"]
    assert body["properties"]["currency"] == {"type": "string", "enum": ["USD", "EUR"]}
    assert body["properties"]["products"]["items"]["properties"]["quantity"] == {
        "type": "integer", "minimum": 1, "maximum": 100,
    }  # fmt: skip
    assert plan.rule_for("COMMON", None).json_schema["required"] == ["userId"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Order Completed\n  total: numbr", "line 2: unknown type 'numbr'"),
        ("  total: number", "line 1: start with an event name"),
        ("Order Completed\n  total number", "line 2: expected `name: type`"),
        ("Order Completed\n  total: number >> 3", "line 2: cannot read '>>'"),
    ],
)
def test_compact_notation_errors_name_the_line(text, words):
    with pytest.raises(ValidationError, match=words):
        parse_compact(text)


def test_public_api_json_round_trip(tmp_path):
    plan = load_plan("ecommerce")
    path = save_plan(plan, tmp_path / "plan.json")
    data = json.loads(path.read_text())
    assert {r["type"] for r in data["rules"]} == {"TRACK"}
    assert all({"key", "type", "version", "jsonSchema"} <= set(r) for r in data["rules"])
    again = load_plan(str(path))
    assert again.rules == plan.rules and again.name == plan.name


def test_config_api_typewriter_shape_loads():
    legacy = {
        "display_name": "Legacy",
        "rules": {
            "events": [{"name": "Signed Up", "version": 2, "rules": {
                "type": "object",
                "properties": {"properties": {"type": "object", "properties": {"plan": {"type": "string"}},
                                              "required": ["plan"]}}}}],
            "identify": {"type": "object", "properties": {"traits": {"type": "object",
                         "required": ["email"]}}},
            "global": {},
        },
    }  # fmt: skip
    plan = plan_from_dict(legacy)
    assert plan.name == "Legacy" and [r.type for r in plan.rules] == ["TRACK", "IDENTIFY"]
    validator = PlanValidator(plan)
    message = build_message("track", event="Signed Up", user_id="u", properties={}).message
    assert kinds(validator.check(message)) == [("missing required", "properties.plan")]


def test_bad_plan_files_are_named(tmp_path):
    with pytest.raises(ValidationError, match="neither a file nor a template"):
        load_plan("nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValidationError, match=r"bad\.json is not JSON"):
        load_plan(str(bad))
    with pytest.raises(ValidationError, match=r"rules\[0\].type"):
        plan_from_dict({"rules": [{"type": "CLICK", "jsonSchema": {}}]})


def test_client_warn_sends_and_reports(collector):
    client = SegmentClient(endpoint=collector.url, plan=parse_compact(PLAN))
    result = client.track("Order Completed", user_id="u", properties={**GOOD, "total": "x"})
    assert result.ok and collector.count() == 1
    assert result.verdict == "1 violation"
    assert "1 violation" in result._repr_html_() and "wrong type" in str(result)


def test_client_block_refuses_and_sends_nothing(collector):
    client = SegmentClient(endpoint=collector.url, plan=parse_compact(PLAN), plan_mode="block")
    result = client.track("Order Completed", user_id="u", properties={**GOOD, "total": "x"})
    assert result.status_code == -1 and not result.sent and collector.count() == 0
    assert "1 violation" in result.error_message  # said once; the violation is listed below
    assert [v.field for v in result.violations] == ["properties.total"]
    assert str(result).count("properties.total") == 1
    assert client.track("Order Completed", user_id="u", properties=GOOD).ok
    batch = client.batch([{"type": "track", "event": "Nope", "userId": "u"}])
    assert batch.status_code == -1 and "batch[0]" in batch.error_message
    assert collector.count() == 1


@pytest.mark.parametrize("kind", ["list", "pandas", "polars", "arrow"])
def test_bulk_rows_are_checked(collector, kind):
    """Every kind of table is checked as it goes out: Polars and Arrow tables write
    bodies and nested cells as JSON text, which the plan reads as sent."""
    import polars as pl
    import pyarrow as pa

    rows = [{"userId": "u", "order_id": f"o{i}", "currency": "USD", "total": i,
             "products": [{"product_id": "p", "quantity": 1}]} for i in range(4)]  # fmt: skip
    rows[2]["currency"] = "JPY"
    rows[3]["products"] = [{"product_id": "p", "quantity": 500}]  # a rule inside the list
    source = {"list": rows, "pandas": pd.DataFrame(rows), "polars": pl.DataFrame(rows),
              "arrow": pa.Table.from_pylist(rows)}[kind]  # fmt: skip
    client = SegmentClient(endpoint=collector.url, plan=parse_compact(PLAN), plan_mode="block")
    result = client.send_many(source, "track", event="Order Completed", progress=False)
    assert [p.row for p in result.problems] == [2, 3]
    assert result.accepted == 2 and result.invalid == 2
    assert "properties.currency" in result.problems[0].reason
    assert "properties.products[0].quantity" in result.problems[1].reason
    assert {e["properties"]["order_id"] for e in collector.events()} == {"o0", "o1"}
    client.plan_mode = "warn"
    result = client.send_many(source, "track", event="Order Completed", progress=False)
    assert result.ok and result.accepted == 4 and result.plan_violations == 2


def test_magics_plan_modes_and_history(ip, collector):
    run(ip, f"%%segment_plan\n{PLAN}")
    out = run(ip, '%segment_track "Order Completed" --user-id u --properties {"order_id": 1}')
    assert out.error is None and collector.count() == 1  # warn: sent
    assert "Tracking plan" in out.html and "missing required" in out.html
    run(ip, "%config SegmentMagics.plan_mode = 'block'")
    out = run(ip, '%segment_track "Order Completed" --user-id u --properties {"order_id": 1}')
    assert out.error is not None and "tracking plan" in str(out.error) and collector.count() == 1
    history = run(ip, "%segment_history").result.to_pandas()
    assert list(history["plan"])[:2] == ["3 violations", "3 violations"]  # type + 2 missing
    run(ip, "%config SegmentMagics.plan_mode = 'off'")
    assert run(ip, '%segment_track "Anything" --user-id u').error is None
    run(ip, "%segment_plan clear")
    run(ip, "%config SegmentMagics.plan_mode = 'block'")
    assert run(ip, '%segment_track "Anything" --user-id u').error is None


def test_form_is_checked_too(ip, collector):
    run(ip, "%segment_plan load ecommerce")
    run(ip, "%config SegmentMagics.plan_mode = 'block'")
    form = run(ip, "%segment_form track --user-id u").result
    form.inputs["event"].value = "Order Completed"
    form.inputs["properties"].value = '{"order_id": 7}'
    form.send_button.click()
    assert collector.count() == 0
    html = "".join(o["data"].get("text/html", "") for o in form.output.outputs)
    assert "tracking plan" in html and "properties.order_id" in html


def test_plan_load_show_export_and_load_back(ip, tmp_path):
    ip.user_ns["my_plan"] = parse_compact(PLAN).to_segment()
    out = run(ip, "%segment_plan load my_plan")
    assert out.text.count("\n") == 1 and "is active: 1 event, 2 other rules, 11 fields" in out.text
    assert "properties.products[].price" in run(ip, "%segment_plan show").text
    target = tmp_path / "exported.json"
    run(ip, f"%segment_plan export {target}")
    out = run(ip, f"%segment_plan load {target} -o again")
    assert ip.user_ns["again"].rules == parse_compact(PLAN).rules
    out = run(ip, "%segment_plan show")
    assert "currency" in out.text and "one of USD, EUR" in out.text
    assert "did you mean" not in run(ip, "%segment_plan lod x").stdout
    assert "unknown command 'lod'" in str(run(ip, "%segment_plan lod x").error)


def test_an_exported_plan_is_private_and_a_bad_path_gets_one_line(ip, tmp_path):
    import stat

    from segment_magics.magics import SegmentUsageError

    run(ip, "%segment_plan load ecommerce")
    target = tmp_path / "new folder" / "plan.json"
    assert run(ip, f'%segment_plan export "{target}"').error is None
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and target.stat().st_size > 1_000
    (tmp_path / "a file").write_text("not a folder")  # (root may write anywhere else)
    for path, words in ((tmp_path, "is a folder; give a file name in it"),
                        (tmp_path / "a file" / "plan.json", "cannot write")):  # fmt: skip
        out = run(ip, f'%segment_plan export "{path}"')
        assert isinstance(out.error, SegmentUsageError) and words in str(out.error), out.error
        assert "internal error" not in str(out.error)


def test_plan_check_on_a_dataframe_and_a_list(ip):
    run(ip, f"%%segment_plan\n{PLAN}")
    ip.user_ns["events"] = pd.DataFrame(
        {"event": ["Order Completed", "Order Completed", "Nope"], "userId": ["u", "u", "u"],
         "order_id": ["o1", None, "o3"], "currency": ["USD", "GBP", "USD"],
         "products": [[{"product_id": "p"}]] * 3}
    )  # fmt: skip
    report = run(ip, "%segment_plan check events").result
    assert (report.checked, report.valid) == (3, 1)
    assert report.by_kind == {"missing required": 1, "value rule": 1, "unplanned event": 1}
    out = run(ip, "%segment_plan check messages")
    assert "not defined" in str(out.error)
    ip.user_ns["messages"] = [
        {"type": "identify", "userId": "u", "traits": {"email": "e"}},
        {"nope": 1},
    ]
    report = run(ip, "%segment_plan check messages").result
    assert report.checked == 1 and report.valid == 1 and len(report.invalid_rows) == 1


def test_plan_check_reads_identify_group_and_page_rows(ip):
    run(ip, f"%%segment_plan\n{PLAN}\npage Pricing\n  path: string!")
    people = pd.DataFrame(
        {"userId": ["u1", "u2", "u3"], "email": ["a@x.io", None, "c@x.io"],
         "plan": ["free", "pro", "gold"]}
    )  # fmt: skip
    ip.user_ns["people"] = people
    report = run(ip, "%segment_plan check people --kind identify").result
    assert (report.checked, report.valid) == (3, 1)
    assert sorted((v.kind, v.field) for _, v in report.violations) == [
        ("missing required", "traits.email"),
        ("value rule", "traits.plan"),
    ]
    ip.user_ns["typed"] = people.assign(type="identify")
    again = run(ip, "%segment_plan check typed")
    assert (again.result.checked, again.result.valid) == (3, 1)
    assert "needs an event" not in again.text
    ip.user_ns["pages"] = [
        {"type": "page", "name": "Pricing", "userId": "u", "path": "/pricing"},
        {"type": "page", "name": "Pricing", "userId": "u"},
    ]
    pages = run(ip, "%segment_plan check pages").result
    assert (pages.checked, pages.valid) == (2, 1)
    assert [(v.kind, v.field) for _, v in pages.violations] == [
        ("missing required", "properties.path")
    ]
    bad = run(ip, "%segment_plan check people --kind idenitfy")
    assert "'idenitfy' is not a call" in str(bad.error) and "identify" in str(bad.error)


def test_merge_shows_what_it_added_or_changed(ip):
    run(ip, "%segment_plan load ecommerce")
    cell = (
        "%%segment_plan --merge\n"
        "Order Completed\n  order_id: string!\n  gift_wrap: boolean\n"
        "Newsletter Signed Up\n  list: string!\n"
    )
    shown = run(ip, cell)
    assert shown.error is None
    text = shown.text
    assert "1 added, 1 changed" in text
    assert "Newsletter Signed Up" in text and "gift_wrap" in text
    assert "Products Searched" not in text  # not the template again
    session_plan = get_session(ip).plan
    assert {"Newsletter Signed Up", "Products Searched"} <= set(session_plan.events)


def test_inference_on_mixed_and_nested_data():
    messages = [
        {"type": "track", "event": "Order Completed", "properties": {
            "order_id": f"o{i}", "currency": ["USD", "EUR"][i % 2], "total": i * 1.5,
            "coupon": "X" if i % 3 == 0 else None, "size": "L" if i % 2 else 3,
            "products": [{"product_id": "p", "price": 1.0}, {"product_id": "q"}],
            "shipping": {"method": "post", "days": i}}}
        for i in range(12)
    ] + [{"type": "identify", "userId": "u", "traits": {"email": "a@b.c", "age": 30}}]  # fmt: skip
    inferred = infer_plan(messages)
    rule = inferred.plan.rule_for("TRACK", "Order Completed")
    body = rule.body_schema
    assert set(body["required"]) == {
        "order_id",
        "currency",
        "total",
        "size",
        "products",
        "shipping",
    }
    assert body["properties"]["currency"]["enum"] == ["EUR", "USD"]
    assert body["properties"]["coupon"]["type"] == ["string", "null"]
    assert body["properties"]["size"]["type"] == ["string", "integer"]
    assert body["properties"]["products"]["items"]["required"] == ["product_id"]
    assert body["properties"]["shipping"]["properties"]["days"]["type"] == "integer"
    assert any("mixed types" in n and "size" in n for n in inferred.notes)
    assert any("null in 8 of 12" in n for n in inferred.notes)
    traits = inferred.plan.rule_for("IDENTIFY", None).body_schema
    assert traits["properties"]["age"]["type"] == "integer"
    validator = PlanValidator(inferred.plan)
    assert all(validator.check(m) == [] for m in messages)  # every sample satisfies its plan


def test_diff_both_directions():
    plan = parse_compact(PLAN + "Signed Up\n  plan: string!\n")
    observed = [track({**GOOD, "extra": 1}), track({**GOOD, "extra": 2})]
    differences = diff_plan(plan, observed)
    first = differences[0]
    assert (first.direction, first.field, first.kind, first.count) == (
        "observed, not allowed", "properties.extra", "unplanned property", 2)  # fmt: skip
    assert any(d.event == "Signed Up" and d.kind == "event never sent" for d in differences)


def test_infer_and_diff_magics_from_history(ip):
    for i in range(6):
        run(ip, f'%segment_track "Viewed" --user-id u --properties {{"n": {i}, "kind": "a"}}')
    out = run(ip, "%segment_plan infer -o inferred --use")
    assert "Inferred from 6 messages" in out.text and "properties.n" in out.text
    assert ip.user_ns["inferred"].rule_for("TRACK", "Viewed") is not None
    run(ip, '%segment_track "Viewed" --user-id u --properties {"n": "x"}')
    out = run(ip, "%segment_plan diff")
    assert "wrong type" in out.text


def test_collector_gives_each_event_a_verdict(collector):
    with start_collector(plan=parse_compact(PLAN)) as checking:
        client = SegmentClient(endpoint=checking.url)
        client.track("Order Completed", user_id="u", properties=GOOD)
        client.track("Order Completed", user_id="u", properties={**GOOD, "total": "x"})
        bad = requests.get(f"{checking.url}/v1/events", params={"valid": "false"}, timeout=5).json()
        violations = bad["events"][0]["verdict"]["violations"]
        assert bad["count"] == 1 and violations[0]["field"] == "properties.total"
        assert [r["verdict"]["valid"] for r in checking.records()] == [False, True]
        assert requests.get(f"{checking.url}/health", timeout=5).json()["invalid"] == 1
        page = requests.get(checking.url, timeout=5).text
        assert '"valid":1' in page and '"invalid":1' in page and '"plan":true' in page


def test_collector_cli_takes_a_plan(tmp_path):
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = save_plan(parse_compact(PLAN), tmp_path / "plan.json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "segment_magics.collector", "--port", str(port), "--plan", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_collector(url)
        SegmentClient(endpoint=url).track(
            "Order Completed", user_id="u", properties={"order_id": 1}
        )
        bad = requests.get(f"{url}/v1/events", params={"valid": "false"}, timeout=5).json()
        assert bad["count"] == 1
        assert {v["kind"] for v in bad["events"][0]["verdict"]["violations"]} == {
            "wrong type",
            "missing required",
        }
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_plan_functions_take_any_plan_source_and_refuse_what_is_none(tmp_path):
    """A validator, a check, a diff and a save take a template's name, a file or JSON as
    ``load_plan`` does (before: AttributeError 'str' object has no attribute ...); what
    is not a plan, a share or compact text is refused by name."""
    from segment_magics.plan import (
        PlanValidator,
        check_messages,
        diff_plan,
        infer_plan,
        parse_compact,
        save_plan,
    )

    message = {"type": "track", "event": "Order Completed", "userId": "u",
               "properties": {"order_id": "1"}}  # fmt: skip
    assert PlanValidator("ecommerce").plan.name == PlanValidator(load_plan("ecommerce")).plan.name
    assert check_messages("ecommerce", [message]).checked == 1
    assert diff_plan("ecommerce", [message]) == diff_plan(load_plan("ecommerce"), [message])
    saved = save_plan("ecommerce", tmp_path / "plan.json")
    assert load_plan(str(saved)).rules == load_plan("ecommerce").rules
    refusals = [
        (lambda: PlanValidator(5), "plan: cannot load a plan from a int"),
        (lambda: check_messages(b"x", [message]), "plan: cannot load a plan from a bytes"),
        (lambda: save_plan("ecommerce", 5), "path: must be a path"),
        (lambda: parse_compact({"a": 1}), "text: give the plan in compact notation as text"),
        (lambda: infer_plan([message], required_share=95), "required_share: 95 is not a share"),
        (lambda: infer_plan([message], required_share="95%"), "required_share: '95%' is not"),
    ]
    for call, words in refusals:
        with pytest.raises(ValidationError) as refused:
            call()
        assert str(refused.value).startswith(words), words


def test_client_settings_of_the_wrong_kind_are_refused_by_name(tmp_path):
    from segment_magics import form

    for arguments, words in [
        ({"endpoint": None}, "endpoint: give 'us', 'eu' or a URL as text, not NoneType"),
        ({"outbox": 5}, "outbox: must be a path"),
        ({"history": []}, "history: give a History, not list"),
        ({"proxy": 0}, "proxy: must be text, not int"),
        ({"ca_bundle": 5}, "ca_bundle: must be a path"),
    ]:
        with pytest.raises(ValidationError) as refused:
            SegmentClient(**{"endpoint": "http://127.0.0.1:9", **arguments})
        assert str(refused.value).startswith(words), words
    with pytest.raises(ValidationError, match="client: give a SegmentClient, not dict"):
        form("track", client={})
