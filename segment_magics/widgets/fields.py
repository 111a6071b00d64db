"""Which fields each call shows, in what order, and which are required (no widgets here).

Everything comes from the message layer's call records, so the form always shows
exactly the fields the call takes, labelled for that call.
"""

from __future__ import annotations

from ..messages import CALLS, Field


def layout(kind: str) -> tuple[Field, ...]:
    """The call's fields in the order the form shows them."""
    return CALLS[kind].fields


def required(kind: str) -> frozenset[str]:
    return frozenset(CALLS[kind].required)


def is_json(field: Field) -> bool:
    """Dict fields are edited as JSON."""
    return field.kind == "object"


# One input per field name, shared by the calls (values survive switching the call).
INPUTS: dict[str, Field] = {}
for _call in CALLS.values():
    for _field in _call.fields:
        INPUTS.setdefault(_field.name, _field)
