"""The pure message layer: required fields, ids, traits merge, timestamps, limits."""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import uuid

import numpy as np
import pandas as pd
import pytest

from segment_magics import __version__
from segment_magics.errors import ValidationError
from segment_magics.messages import (
    MAX_MESSAGE_BYTES,
    build_from_segment_dict,
    build_message,
    normalize_timestamp,
)


def error_of(kind: str, **fields) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        build_message(kind, **fields)
    return info.value


@pytest.mark.parametrize(
    ("kind", "fields", "field"),
    [
        ("track", {"user_id": "u"}, "event"),
        ("track", {"user_id": "u", "event": "  "}, "event"),
        ("group", {"user_id": "u"}, "groupId"),
        ("alias", {"user_id": "u"}, "previousId"),
        ("alias", {"previous_id": "old"}, "userId"),
    ],
)
def test_required_fields_are_named(kind, fields, field):
    assert error_of(kind, **fields).field == field


def test_missing_ids_generate_a_uuid4_anonymous_id_with_a_warning():
    built = build_message("track", event="Signed Up")
    anon = built.message["anonymousId"]
    assert uuid.UUID(anon).version == 4
    assert "userId" not in built.message
    assert any("generated anonymousId" in w and anon in w for w in built.warnings)


def test_alias_does_not_invent_an_anonymous_id():
    built = build_message("alias", previous_id="anon-1", user_id="u1")
    assert built.message["previousId"] == "anon-1"
    assert "anonymousId" not in built.message
    assert not built.warnings


@pytest.mark.parametrize("value", [42, np.int64(42), 42.0])
def test_integer_ids_are_sent_as_strings(value):
    built = build_message("group", user_id=value, group_id=value)
    assert built.message["userId"] == "42"
    assert built.message["groupId"] == "42"


def test_bad_id_type_is_named():
    assert error_of("track", event="e", user_id=["u"]).field == "userId"


def test_identify_merges_email_and_name_into_traits_explicit_wins():
    traits = {"email": "old@example.com", "plan": "pro"}
    built = build_message(
        "identify", user_id="u1", traits=traits, email="new@example.com", name="Ada Lovelace"
    )
    assert built.message["traits"] == {
        "email": "new@example.com",
        "plan": "pro",
        "name": "Ada Lovelace",
    }
    assert traits == {"email": "old@example.com", "plan": "pro"}  # caller's dict untouched


@pytest.mark.parametrize("field", ["properties", "context", "integrations"])
@pytest.mark.parametrize("value", [[1, 2], "text", 3])
def test_objects_must_be_dicts(field, value):
    error = error_of("track", event="e", user_id="u", **{field: value})
    assert error.field == field
    assert "JSON object" in str(error)


def test_traits_must_be_a_dict():
    assert error_of("identify", user_id="u", traits=["a"]).field == "traits"


def test_field_that_a_call_does_not_take_is_refused_with_a_hint():
    error = error_of("identify", user_id="u", properties={"a": 1})
    assert error.field == "properties"
    assert "traits" in str(error)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-15T10:30:00Z", "2024-01-15T10:30:00.000Z"),
        ("2024-01-15T10:30:00-08:00", "2024-01-15T18:30:00.000Z"),
        ("2024-01-15T10:30:00.123Z", "2024-01-15T10:30:00.123Z"),
        ("2024-01-15T10:30:00.123456+02:00", "2024-01-15T08:30:00.123Z"),
        ("2024-01-15T10:30:00", "2024-01-15T10:30:00.000Z"),
        (dt.datetime(2024, 1, 15, 10, 30), "2024-01-15T10:30:00.000Z"),
        (
            dt.datetime(2024, 1, 15, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            "2024-01-15T09:30:00.000Z",
        ),
        (dt.date(2024, 1, 15), "2024-01-15T00:00:00.000Z"),
        (pd.Timestamp("2024-01-15 10:30:00.5", tz="US/Pacific"), "2024-01-15T18:30:00.500Z"),
        (None, None),
        (pd.NaT, None),
    ],
)
def test_timestamps_become_iso_utc_with_milliseconds(value, expected):
    assert normalize_timestamp(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01T00:00:00Z", "15/01/2024", 1705314600])
def test_bad_timestamps_show_an_example(value):
    error = error_of("track", event="e", user_id="u", timestamp=value)
    assert error.field == "timestamp"
    assert "2024-01-15T10:30:00Z" in str(error)


def test_message_id_is_generated_and_kept_when_given():
    generated = build_message("track", event="e", user_id="u").message["messageId"]
    assert uuid.UUID(generated).version == 4
    given = build_message("track", event="e", user_id="u", message_id="order-1").message
    assert given["messageId"] == "order-1"


def test_message_id_over_100_characters_is_refused():
    error = error_of("track", event="e", user_id="u", message_id="x" * 101)
    assert error.field == "messageId"
    assert "101" in str(error) and "100" in str(error)
    assert build_message("track", event="e", user_id="u", message_id="x" * 100)


def test_notebook_values_become_plain_json():
    props = {
        "count": np.int64(3),
        "ratio": np.float32(0.5),
        "flag": np.bool_(True),
        "arr": np.array([1, 2]),
        "when": pd.Timestamp("2024-01-15T10:30:00Z"),
        "missing": pd.NA,
        "nat": pd.NaT,
        "day": dt.date(2024, 1, 2),
        "price": decimal.Decimal("9.99"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "pair": (1, 2),
        "tags": {"b", "a"},
    }
    built = build_message("track", event="e", user_id="u", properties=props)
    assert built.message["properties"] == {
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "arr": [1, 2],
        "when": "2024-01-15T10:30:00.000Z",
        "missing": None,
        "nat": None,
        "day": "2024-01-02",  # a date stays a date, as the official SDK sends it
        "price": 9.99,
        "id": "12345678-1234-5678-1234-567812345678",
        "pair": [1, 2],
        "tags": ["a", "b"],
    }


def test_nan_and_infinity_become_null_with_a_warning_naming_the_path():
    props = {"products": [{"price": 1.0}, {"price": float("nan")}], "score": float("inf")}
    built = build_message("track", event="e", user_id="u", properties=props)
    assert built.message["properties"]["products"][1]["price"] is None
    assert built.message["properties"]["score"] is None
    assert any("properties.products[1].price" in w for w in built.warnings)
    assert any("properties.score" in w for w in built.warnings)


def test_unrepresentable_value_is_an_error_naming_its_path():
    class Order:
        pass

    props = {"products": [{"price": 1}, {"price": Order()}]}
    error = error_of("track", event="e", user_id="u", properties=props)
    assert error.field == "properties.products[1].price"
    assert "Order" in str(error)


def test_deep_nesting_is_a_warning_not_an_error():
    built = build_message("track", event="e", user_id="u", properties={"a": {"b": {"c": {"d": 1}}}})
    assert built.message["properties"]["a"]["b"]["c"]["d"] == 1
    assert any("4 levels" in w for w in built.warnings)
    shallow = build_message("track", event="e", user_id="u", properties={"a": {"b": {"c": 1}}})
    assert not shallow.warnings


def test_messages_over_32_kb_are_refused_with_size_and_limit():
    error = error_of("track", event="e", user_id="u", properties={"blob": "x" * MAX_MESSAGE_BYTES})
    assert error.field == "message"
    assert "32,768" in str(error)
    assert f"{MAX_MESSAGE_BYTES + 100:,}"[:3] in str(error)


def test_context_library_is_ours_and_callers_dicts_are_not_mutated():
    context = {"ip": "8.8.8.8", "library": {"name": "other"}}
    props = {"products": [{"price": 1}]}
    before = copy.deepcopy((context, props))
    built = build_message("track", event="e", user_id="u", context=context, properties=props)
    assert built.message["context"] == {
        "ip": "8.8.8.8",
        "library": {"name": "segment-magics", "version": __version__},
    }
    assert (context, props) == before
    built.message["properties"]["products"][0]["price"] = 2
    assert props["products"][0]["price"] == 1


def test_segment_dicts_accept_wire_names_and_suggest_fixes():
    built = build_from_segment_dict({"type": "track", "event": "e", "userId": 7, "messageId": "m"})
    assert built.message["userId"] == "7"
    assert built.message["messageId"] == "m"
    with pytest.raises(ValidationError) as info:
        build_from_segment_dict({"type": "track", "event": "e", "userid": "u"}, where="batch[2]")
    assert info.value.field == "batch[2].userid"
    assert "userId" in str(info.value)
    with pytest.raises(ValidationError) as info:
        build_from_segment_dict({"event": "e"})
    assert info.value.field == "type"


@pytest.mark.parametrize("text", ["x" * 10, "x" * 900, "é" * 5_000])
def test_a_message_holds_no_more_memory_than_its_json(text):
    """A backfill keeps thousands of payloads at once (a batch's, a table chunk's):
    each must hold its JSON, not the larger buffer it was written into."""
    import tracemalloc

    from segment_magics.messages.build import serialize

    message = {"type": "track", "event": "E", "userId": "u", "properties": {"note": text}}
    serialize(message)  # (a str keeps its UTF-8 once it was asked for it)
    tracemalloc.start()
    try:
        payload = serialize(message)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held <= len(payload) + 128
