"""What each of Segment's six calls is, written down once.

One :class:`Call` record per call says which fields it takes (in the order the
form shows them), which of them are required and what to say when they are
missing, which field carries its body, which DataFrame columns fill each field,
and what its positional arguments are. The builders, the row mapping, the magic
options and help, the form and the tracking plan's body field are all derived
from these records, so adding a field to a call is one line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

CallKind = Literal["track", "identify", "page", "screen", "group", "alias"]
FieldKind = Literal["id", "text", "object", "timestamp", "message_id"]


@dataclass(frozen=True)
class Field:
    """One argument of a call.

    ``name`` is the keyword argument (``user_id``), ``wire`` its name in the
    message (``userId``). ``columns`` are the DataFrame columns read for it by
    default (empty: the field is not read from columns). ``into`` names the body
    a value is merged into (identify's ``email`` goes to ``traits.email``).
    """

    name: str
    wire: str
    kind: FieldKind
    help: str
    label: str
    placeholder: str = ""
    columns: tuple[str, ...] = ()
    into: str | None = None

    @property
    def flag(self) -> str:
        """The magic option, e.g. ``--user-id``."""
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Call:
    """One Segment call: its fields in form order, required ones and its body."""

    kind: CallKind
    summary: str  # what the call records, for %segment_<kind>? and the form
    example: str  # the arguments of an example line
    positional: tuple[str, ...]  # fields filled by positional arguments, in order
    fields: tuple[Field, ...]
    required: Mapping[str, str] = field(default_factory=dict)  # field -> what is missing
    body: str | None = None  # "properties" or "traits"
    label: str | None = None  # the field a person calls a message by (its event, name, ...)
    rule: str | None = None  # the tracking-plan rule type that checks this call (TRACK, ...)
    keyed_by: str | None = None  # the field whose value picks the rule (track: event)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def column_fields(self) -> tuple[Field, ...]:
        """Fields a DataFrame column can fill; every other column goes to the body."""
        return tuple(f for f in self.fields if f.columns)

    @property
    def takes_anonymous_id(self) -> bool:
        """Every call but alias identifies its user by a userId or an anonymousId."""
        return "anonymous_id" in self.names

    @property
    def label_wire(self) -> str | None:
        """The label's name in the message (``event``, ``name``, ``groupId``, ...)."""
        return self.field(self.label).wire if self.label else None

    @property
    def keyed_wire(self) -> str | None:
        """The message field whose value picks this call's plan rule, if any."""
        return self.field(self.keyed_by).wire if self.keyed_by else None


def _f(
    name: str,
    wire: str,
    kind: FieldKind,
    help: str,
    label: str,
    placeholder: str = "",
    columns: tuple[str, ...] | None = None,
    into: str | None = None,
) -> Field:
    """A field; by default read from the columns named like its wire and keyword names."""
    cols = tuple(dict.fromkeys((wire, name))) if columns is None else columns
    return Field(name, wire, kind, help, label, placeholder, cols, into)


USER_ID = _f("user_id", "userId", "id", "the user's id in your system", "UserId", "e.g. user_12345")
ANONYMOUS_ID = _f(
    "anonymous_id",
    "anonymousId",
    "id",
    "an anonymous visitor id",
    "AnonymousId",
    "generated when both ids are empty",
)
CONTEXT = _f(
    "context",
    "context",
    "object",
    'context object, e.g. {"ip": "8.8.8.8"}',
    "Context",
    'e.g. {"ip": "8.8.8.8"}',
)
INTEGRATIONS = _f(
    "integrations",
    "integrations",
    "object",
    'destinations on/off, e.g. {"All": true}',
    "Integrations",
    'e.g. {"All": true}',
)
TIMESTAMP = _f(
    "timestamp",
    "timestamp",
    "timestamp",
    "when it happened: ISO 8601 or a datetime (default: now)",
    "Timestamp",
    "e.g. 2024-01-15T10:30:00Z (empty: now)",
)
MESSAGE_ID = _f(
    "message_id",
    "messageId",
    "message_id",
    "deduplication id (generated when absent)",
    "MessageId",
    "generated when empty",
)
PROPERTIES = _f(
    "properties",
    "properties",
    "object",
    "event properties (dict)",
    "Properties",
    'e.g. {"total": 99.0, "currency": "USD"}',
    columns=(),
)
TRAITS = _f(
    "traits", "traits", "object", "traits (dict)", "Traits", 'e.g. {"plan": "pro"}', columns=()
)
CATEGORY = _f("category", "category", "text", "the category", "Category", "e.g. Docs")
_TAIL = (CONTEXT, INTEGRATIONS, TIMESTAMP, MESSAGE_ID)
_IDS = (USER_ID, ANONYMOUS_ID)


def _view(kind: CallKind, what: str, example: str, placeholder: str) -> Call:
    """page and screen take the same fields."""
    name = _f("name", "name", "text", f"the {kind} name (or give it first)", "Name", placeholder)
    return Call(
        kind,
        f"Send a {kind} call: {what}.",
        f"{example} --user-id $uid",
        ("name",),
        (name, replace(CATEGORY, help=f"the {kind} category"), *_IDS, PROPERTIES, *_TAIL),
        body="properties",
        label="name",
        rule=kind.upper(),
        keyed_by="name",
    )


CALLS: dict[str, Call] = {
    call.kind: call
    for call in (
        Call(
            "track",
            "Send a track call: an event a user did, with its properties.",
            '"Order Completed" --user-id $uid --properties order',
            ("event",),
            (
                _f(
                    "event",
                    "event",
                    "text",
                    "the event name (or give it first)",
                    "Event",
                    "e.g. Order Completed",
                ),
                *_IDS,
                PROPERTIES,
                *_TAIL,
            ),
            required={"event": "track needs a non-empty event name, e.g. 'Order Completed'"},
            body="properties",
            label="event",
            rule="TRACK",
            keyed_by="event",
        ),
        Call(
            "identify",
            "Send an identify call: who a user is, with traits.",
            "$uid --email ada@example.com --traits profile",
            ("user_id",),
            (
                *_IDS,
                _f(
                    "email",
                    "email",
                    "text",
                    "merged into traits.email",
                    "Email",
                    "e.g. ada@example.com",
                    columns=(),
                    into="traits",
                ),
                _f(
                    "name",
                    "name",
                    "text",
                    "the user's name, merged into traits.name",
                    "Name (trait)",
                    "e.g. Ada Lovelace",
                    columns=(),
                    into="traits",
                ),
                TRAITS,
                *_TAIL,
            ),
            body="traits",
            rule="IDENTIFY",
        ),
        _view("page", "a page view", "Pricing", "e.g. Pricing"),
        _view("screen", "a mobile screen view", "Home", "e.g. Home"),
        Call(
            "group",
            "Send a group call: a user joins an account or organisation, with its traits.",
            "acme --user-id $uid --traits company",
            ("group_id",),
            (
                _f(
                    "group_id",
                    "groupId",
                    "id",
                    "the group (account) id (or give it first)",
                    "GroupId",
                    "e.g. acme",
                ),
                *_IDS,
                TRAITS,
                *_TAIL,
            ),
            required={"group_id": "group needs the id of the group (account), e.g. 'acme'"},
            body="traits",
            label="group_id",
            rule="GROUP",
        ),
        Call(
            "alias",
            "Send an alias call: merge a previous id into a user id.",
            "$anon_id $uid",
            ("previous_id", "user_id"),
            (
                _f(
                    "previous_id",
                    "previousId",
                    "id",
                    "the old id (or give it first)",
                    "PreviousId",
                    "e.g. anon-42 (the old id)",
                ),
                replace(USER_ID, help="the new user id (or give it second)"),
                *_TAIL,
            ),
            required={
                "previous_id": "alias needs the previous id (the old id)",
                "user_id": "alias needs the new userId",
            },
            label="previous_id",
        ),
    )
}
CALL_KINDS: tuple[str, ...] = tuple(CALLS)
# The kinds by name, for code that means one call in particular.
TRACK, IDENTIFY, PAGE, SCREEN, GROUP, ALIAS = (CALLS[k].kind for k in CALL_KINDS)
DEFAULT_KIND: CallKind = "track"  # flat rows without a type, the form's first call
COMMON_RULE = "COMMON"  # a plan rule that checks every message, whatever its call
# The tracking plan's rule types, and the call each one checks.
CALL_OF_RULE: dict[str, Call] = {call.rule: call for call in CALLS.values() if call.rule}
RULE_TYPES: tuple[str, ...] = (*CALL_OF_RULE, COMMON_RULE)
EVENT_RULE = str(CALLS[TRACK].rule)  # the rules whose key is an event name

# Every wire name <-> keyword argument, across the calls.
WIRE_NAMES: dict[str, str] = {
    f.wire: f.name for call in CALLS.values() for f in call.fields if f.wire != f.name
}
ALL_FIELDS: tuple[str, ...] = tuple(
    dict.fromkeys(f.name for call in CALLS.values() for f in call.fields)
)
BODY: dict[str, str] = {kind: call.body for kind, call in CALLS.items() if call.body}
# The wire fields a person calls a message by, in the order they are looked for.
LABEL_WIRES: tuple[str, ...] = tuple(
    dict.fromkeys(w for call in CALLS.values() if (w := call.label_wire) is not None)
)


def call_of(message_type: object) -> Call | None:
    """The call record for a message's ``type`` (any case), or None."""
    return CALLS.get(message_type.lower()) if isinstance(message_type, str) else None


def rule_key(message: Mapping[str, object]) -> tuple[str, str | None] | None:
    """The plan rule (type, key) a message is checked by: ``("TRACK", "Order Completed")``,
    ``("IDENTIFY", None)``; None for calls no rule checks (alias) and unknown types."""
    call = call_of(message.get("type"))
    if call is None or call.rule is None:
        return None
    wire = call.keyed_wire
    value = message.get(wire) if wire else None
    return call.rule, (str(value) if value not in (None, "") else None)
