"""Property-based: whatever JSON-like value goes in comes out as equal, valid JSON."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from segment_magics.messages import to_json_safe

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_plain_json_round_trips_unchanged(value):
    warnings: list[str] = []
    out = to_json_safe(value, "properties", warnings)
    assert out == value
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert warnings == []


@given(st.lists(st.floats(), max_size=6))
def test_floats_never_produce_invalid_json(values):
    warnings: list[str] = []
    out = to_json_safe(values, "p", warnings)
    json.dumps(out, allow_nan=False)  # raises on NaN/inf
    bad = sum(1 for v in values if not math.isfinite(v))
    assert len(warnings) == bad


def test_a_field_path_names_odd_keys_unmistakably():
    """An empty key read "properties." and a key with a dot read as two levels; a key
    that is no string showed its repr after a dot (found by fuzzing the cell magics)."""
    from segment_magics import SegmentClient

    client = SegmentClient(endpoint="http://127.0.0.1:9", write_key="k")
    cases = {
        "properties['']": {"": b"x"},
        "properties['x.y']['']": {"x.y": {"": b"x"}},
        "properties.a.b[1]['c.d']": {"a": {"b": [1, {"c.d": b"x"}]}},
        "properties[(1, 2)]": {(1, 2): 1},
        "properties[1.5]": {1.5: 1},
        "properties.plain": {"plain": b"x"},
    }
    for path, properties in cases.items():
        result = client.track("E", user_id="u", properties=properties, dry_run=True)
        assert result.error_message.startswith(f"{path}: "), result.error_message
