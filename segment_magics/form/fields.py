"""Which fields each call shows, in what order, and which are required (no widgets here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Field:
    key: str  # the client's keyword argument
    label: str
    kind: Literal["text", "json"] = "text"
    placeholder: str = ""


FIELDS: dict[str, Field] = {
    f.key: f
    for f in (
        Field("event", "Event", placeholder="Order Completed"),
        Field("name", "Name", placeholder="page/screen name, or the user's name"),
        Field("group_id", "GroupId", placeholder="acme"),
        Field("previous_id", "PreviousId", placeholder="the old id"),
        Field("user_id", "UserId", placeholder="user_12345"),
        Field("anonymous_id", "AnonymousId", placeholder="generated when both ids are empty"),
        Field("email", "Email", placeholder="ada@example.com"),
        Field("category", "Category", placeholder="Docs"),
        Field("properties", "Properties", "json", '{"total": 99.0, "currency": "USD"}'),
        Field("traits", "Traits", "json", '{"plan": "pro"}'),
        Field("context", "Context", "json", '{"ip": "8.8.8.8"}'),
        Field("integrations", "Integrations", "json", '{"All": true}'),
        Field("timestamp", "Timestamp", placeholder="2024-01-15T10:30:00Z (empty: now)"),
        Field("message_id", "MessageId", placeholder="generated when empty"),
    )
}

_TAIL = ("context", "integrations", "timestamp", "message_id")
LAYOUTS: dict[str, tuple[str, ...]] = {
    "track": ("event", "user_id", "anonymous_id", "properties", *_TAIL),
    "identify": ("user_id", "anonymous_id", "email", "name", "traits", *_TAIL),
    "page": ("name", "category", "user_id", "anonymous_id", "properties", *_TAIL),
    "screen": ("name", "category", "user_id", "anonymous_id", "properties", *_TAIL),
    "group": ("group_id", "user_id", "anonymous_id", "traits", *_TAIL),
    "alias": ("previous_id", "user_id", *_TAIL),
}
REQUIRED: dict[str, frozenset[str]] = {
    "track": frozenset({"event"}),
    "group": frozenset({"group_id"}),
    "alias": frozenset({"previous_id", "user_id"}),
}
KINDS = tuple(LAYOUTS)
