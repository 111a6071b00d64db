"""The ipywidgets form, driven through widget state: values, clicks, Output, delivery."""

from __future__ import annotations

import ipywidgets as w
import pytest
from conftest import SENTINEL_KEY, run

import segment_magics
from segment_magics import SegmentClient
from segment_magics.widgets import SegmentForm
from segment_magics.widgets.fields import layout

EXPECTED_LABELS = {
    "track": ["Event *", "UserId", "AnonymousId", "Properties"],
    "identify": ["UserId", "AnonymousId", "Email", "Name (trait)", "Traits"],
    "page": ["Name", "Category", "UserId", "AnonymousId", "Properties"],
    "screen": ["Name", "Category", "UserId", "AnonymousId", "Properties"],
    "group": ["GroupId *", "UserId", "AnonymousId", "Traits"],
    "alias": ["PreviousId *", "UserId *"],
}
TAIL = ["Context", "Integrations", "Timestamp", "MessageId"]


def labels(form: SegmentForm) -> list[str]:
    return [form.inputs[f.name].description for f in layout(form.kind.value)]


def shown_outputs(form: SegmentForm) -> str:
    return "\n".join(
        o["data"].get("text/html", "") + o["data"]["text/plain"] for o in form.output.outputs
    )


@pytest.fixture
def form(collector):
    return SegmentForm(SegmentClient(endpoint=collector.url).send, "track")


@pytest.mark.parametrize("kind", list(EXPECTED_LABELS))
def test_each_call_shows_exactly_its_fields(form, kind):
    form.kind.value = kind
    assert labels(form) == EXPECTED_LABELS[kind] + TAIL
    shown = [child for child in form.fields_box.children]
    assert len(shown) == len(EXPECTED_LABELS[kind]) + len(TAIL)


def test_send_delivers_and_shows_the_table(form, collector):
    form.inputs["event"].value = "Form Order"
    form.inputs["user_id"].value = "u-form"
    form.inputs["properties"].value = '{"total": 12.5, "items": [1, 2]}'
    form.inputs["context"].value = '{"ip": "8.8.8.8"}'
    form.send_button.click()
    (event,) = collector.events()
    assert event["event"] == "Form Order" and event["userId"] == "u-form"
    assert event["properties"] == {"total": 12.5, "items": [1, 2]}
    assert event["context"]["ip"] == "8.8.8.8"
    html = shown_outputs(form)
    assert "Segment track · Form Order" in html and "delivered" in html


def test_preview_shows_the_payload_and_sends_nothing(form, collector):
    form.inputs["event"].value = "Previewed"
    form.inputs["anonymous_id"].value = "anon-7"
    form.preview_button.click()
    assert collector.count() == 0
    html = shown_outputs(form)
    assert "dry run" in html and "&quot;anonymousId&quot;: &quot;anon-7&quot;" in html
    assert form.last_result.dry_run and form.last_result.message["event"] == "Previewed"


@pytest.mark.parametrize(
    ("text", "problem"),
    [("{bad json", "not valid JSON"), ("[1, 2]", "must be a JSON object"), ('"text"', "got str")],
)
def test_bad_json_is_flagged_next_to_the_editor_and_nothing_is_sent(form, collector, text, problem):
    form.inputs["event"].value = "E"
    form.inputs["properties"].value = text
    assert problem in form.notes["properties"].value  # shown as soon as it is typed
    form.send_button.click()
    assert collector.count() == 0
    assert problem in shown_outputs(form) and "Not sent" in shown_outputs(form)
    form.inputs["properties"].value = '{"ok": true}'
    assert form.notes["properties"].value == ""


@pytest.mark.parametrize(
    ("kind", "missing"), [("track", "Event"), ("group", "GroupId"), ("alias", "PreviousId")]
)
def test_missing_required_fields_are_refused(form, collector, kind, missing):
    form.kind.value = kind
    form.inputs["user_id"].value = "u"
    form.send_button.click()
    assert collector.count() == 0
    assert f"{missing} is required for {kind}" in shown_outputs(form)


@pytest.mark.parametrize(
    ("kind", "values", "expect"),
    [
        ("track", {"event": "T", "user_id": "u"}, {"event": "T"}),
        ("identify", {"user_id": "u", "email": "a@b.c", "name": "Ada", "traits": '{"plan": "pro"}'},
         {"traits": {"plan": "pro", "email": "a@b.c", "name": "Ada"}}),
        ("page", {"name": "Pricing", "category": "Docs", "user_id": "u"}, {"name": "Pricing", "category": "Docs"}),
        ("screen", {"name": "Home", "anonymous_id": "a"}, {"name": "Home", "anonymousId": "a"}),
        ("group", {"group_id": "acme", "user_id": "u", "traits": '{"employees": 5}'},
         {"groupId": "acme", "traits": {"employees": 5}}),
        ("alias", {"previous_id": "old", "user_id": "new"}, {"previousId": "old", "userId": "new"}),
    ],
)  # fmt: skip
def test_all_six_calls_send(form, collector, kind, values, expect):
    form.kind.value = kind
    for key, value in values.items():
        form.inputs[key].value = value
    form.inputs["timestamp"].value = "2024-01-15T10:30:00Z"
    form.inputs["message_id"].value = f"form-{kind}"
    form.send_button.click()
    (event,) = collector.events()
    assert event["type"] == kind and event["messageId"] == f"form-{kind}"
    assert event["timestamp"] == "2024-01-15T10:30:00.000Z"
    for key, value in expect.items():
        assert event[key] == value


def test_hidden_fields_are_not_sent(form, collector):
    form.inputs["traits"].value = '{"plan": "pro"}'  # not a track field
    form.inputs["event"].value = "Only Visible"
    form.inputs["user_id"].value = "u"
    form.send_button.click()
    assert "traits" not in collector.events()[0]


def test_validation_errors_from_the_client_show_in_the_output(form, collector):
    form.inputs["event"].value = "E"
    form.inputs["timestamp"].value = "yesterday"
    form.send_button.click()
    assert collector.count() == 0
    assert "timestamp" in shown_outputs(form) and "invalid: not sent" in shown_outputs(form)


def test_exceptions_in_callbacks_are_shown_not_swallowed():
    def broken(*args, **kwargs):
        raise RuntimeError("kaput")

    form = SegmentForm(broken, "track")
    form.inputs["event"].value = "E"
    form.send_button.click()
    assert "RuntimeError: kaput" in shown_outputs(form)


def test_magic_prefills_from_notebook_variables_and_shares_history(ip, collector):
    ip.user_ns.update(uid="u-pre", order={"order_id": "o1", "total": 5})
    out = run(ip, "%segment_form track --properties order --user-id $uid")
    form = out.result
    assert isinstance(form, SegmentForm)
    assert "application/vnd.jupyter.widget-view+json" in out.outputs[-1]
    assert form.inputs["user_id"].value == "u-pre"
    assert '"order_id": "o1"' in form.inputs["properties"].value
    form.inputs["event"].value = "From Form"
    form.send_button.click()
    assert collector.events()[0]["properties"] == {"order_id": "o1", "total": 5}
    history = run(ip, "%segment_history").result
    assert history[0].label == "From Form"
    run(ip, "%segment_form group acme -o g")
    assert (
        ip.user_ns["g"].kind.value == "group" and ip.user_ns["g"].inputs["group_id"].value == "acme"
    )


def test_python_api_uses_the_notebook_session(ip, collector, monkeypatch):
    monkeypatch.setattr("IPython.get_ipython", lambda: ip)
    form = segment_magics.form("page", name="Pricing", user_id="u")
    form.send_button.click()
    assert collector.events()[0]["name"] == "Pricing"


def test_write_key_never_enters_widget_state(collector, monkeypatch):
    monkeypatch.setenv("SEGMENT_WRITE_KEY", SENTINEL_KEY)
    client = SegmentClient(endpoint=collector.url)
    form = SegmentForm(client.send, "track", event="E", user_id="u")
    form.send_button.click()
    form.preview_button.click()
    states = [widget.get_state() for widget in list(w.widgets.widget._instances.values())]
    assert SENTINEL_KEY not in repr(states)
    assert SENTINEL_KEY not in shown_outputs(form)


# -- issue 12 ----------------------------------------------------------------------------
def test_the_form_is_a_widget_that_fits_in_other_layouts(form, collector):
    assert isinstance(form, w.VBox) and not hasattr(form, "widget")
    tabs = w.Tab(children=[form, w.HTML("other")])
    assert tabs.children[0] is form
    form.inputs["event"].value = "Inside A Tab"
    assert form.send().ok and collector.count() == 1


def test_a_fields_error_clears_when_it_is_edited(form):
    form.kind.value = "alias"
    form.send()
    assert "PreviousId is required" in form.notes["previous_id"].value
    form.inputs["previous_id"].value = "anon-1"
    assert form.notes["previous_id"].value == ""
    form.kind.value = "track"
    form.inputs["properties"].value = "{nope"
    assert "not valid JSON" in form.notes["properties"].value
    form.inputs["properties"].value = '{"ok": 1}'
    assert form.notes["properties"].value == ""


def test_the_result_area_clears_when_the_call_changes(form):
    form.inputs["event"].value = "E"
    form.preview()
    assert form.output.outputs
    form.kind.value = "identify"
    assert form.output.outputs == ()


def test_json_editors_grow_with_their_content(collector):
    order = {f"field_{i}": i for i in range(12)}
    form = SegmentForm(SegmentClient(endpoint=collector.url).send, "track", properties=order)
    editor = form.inputs["properties"]
    assert editor.rows >= editor.value.count("\n") + 1
    editor.value = "{}"
    assert editor.rows == 3


def test_placeholders_read_as_examples_and_help_fits_the_call(form):
    for kind in EXPECTED_LABELS:
        form.kind.value = kind
        for field in layout(kind):
            text = form.inputs[field.name].placeholder
            assert text.startswith("e.g. ") or "generated" in text, (kind, field.name, text)
    form.kind.value = "identify"
    assert "page" not in form.inputs["name"].tooltip and "user" in form.inputs["name"].tooltip
    form.kind.value = "page"
    assert "page" in form.inputs["name"].tooltip
