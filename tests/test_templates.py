"""The built-in templates match Segment's spec pages: every published example passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segment_magics.messages import build_message
from segment_magics.plan import TEMPLATES, PlanValidator, load_plan

EXAMPLES = Path(__file__).parent / "data" / "spec-examples"


def examples(name):
    return [
        pytest.param(e["event"], e["properties"], id=f"{e.get('section', e['event'])}-{i}")
        for i, e in enumerate(json.loads((EXAMPLES / f"{name}.json").read_text()))
    ]


def check(template, event, properties):
    validator = PlanValidator(load_plan(template))
    message = build_message("track", event=event, user_id="u1", properties=properties).message
    return [str(v) for v in validator.check(message)]


@pytest.mark.parametrize(("event", "properties"), examples("ecommerce-v2"))
def test_every_ecommerce_v2_example_passes(event, properties):
    assert check("ecommerce", event, properties) == []


@pytest.mark.parametrize(("event", "properties"), examples("video"))
def test_every_video_example_passes(event, properties):
    assert check("video", event, properties) == []


def test_the_examples_cover_every_event_of_the_spec_pages():
    for template, name in (("ecommerce", "ecommerce-v2"), ("video", "video")):
        planned = set(PlanValidator(load_plan(template)).planned_events)
        shown = {e["event"] for e in json.loads((EXAMPLES / f"{name}.json").read_text())}
        assert shown <= planned
        # every planned event but the ones the page shows no example for
        assert planned - shown <= {"Cart Shared", "Video Quality Updated"}


@pytest.mark.parametrize(
    ("template", "event", "properties", "expected"),
    [
        ("ecommerce", "Products Searched", {"query": {"text": "roses", "max_price": 20}}, []),
        ("ecommerce", "Products Searched", {"query": 5}, ["properties.query"]),
        ("ecommerce", "Payment Info Entered", {"checkout_id": "c1"}, []),
        ("ecommerce", "Order Completed", {"order_id": "o1"}, ["properties.currency"]),
        ("video", "Video Ad Started", {"session_id": "s", "type": "sideways"}, ["properties.type"]),
        ("video", "Video Playback Paused", {"position": 3}, ["properties.session_id"]),
    ],
)
def test_templates_still_catch_what_the_spec_rules_out(template, event, properties, expected):
    found = check(template, event, properties)
    assert [f.split(":")[0] for f in found] == expected


def test_every_template_is_marked_as_one():
    assert all(make().template for make in TEMPLATES.values())
    assert not load_plan({"rules": []}).template
