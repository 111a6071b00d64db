"""The options of every ``%segment_*`` magic, in one table."""

from __future__ import annotations

from .parsing import MagicSpec, Option

# Options shared by every call magic. ``dest`` is the client's keyword argument.
COMMON = [
    Option(("--user-id",), "user_id", "the user's id in your system"),
    Option(("--anonymous-id",), "anonymous_id", "an anonymous visitor id"),
    Option(("--context",), "context", 'context object, e.g. {"ip": "8.8.8.8"}', "object"),
    Option(
        ("--integrations",), "integrations", 'destinations on/off, e.g. {"All": true}', "object"
    ),
    Option(("--timestamp",), "timestamp", "when it happened: ISO 8601 or a datetime"),
    Option(("--message-id",), "message_id", "deduplication id (generated when absent)"),
    Option(("--dry-run",), "dry_run", "build and validate, show the payload, send nothing", "flag"),
    Option(("-o", "--output"), "output", "also store the Result in this variable", "name"),
]
BULK = [
    Option(("--from",), "source", "send one call per row of a DataFrame / list of dicts", "object"),
    Option(
        ("--columns",), "body_columns", "with --from: only these columns (a,b,c) become the body"
    ),
    Option(("--user-id-col",), "user_id_col", "with --from: the column holding the user id"),
    Option(("--anonymous-id-col",), "anonymous_id_col", "with --from: the anonymous id column"),
    Option(("--timestamp-col",), "timestamp_col", "with --from: the timestamp column"),
    Option(("--message-id-col",), "message_id_col", "with --from: the messageId column"),
    Option(("--no-progress",), "no_progress", "with --from: no progress bar", "flag"),
]
PROPERTIES = Option(("--properties",), "properties", "event properties (dict)", "object")
TRAITS = Option(("--traits",), "traits", "traits (dict)", "object")
CATEGORY = Option(("--category",), "category", "page/screen category")

VALUE_FORMS = """\
Values: a literal ("quoted" or bare), $name for a notebook variable, {expression}
for a Python expression; dict options also take a dict variable's bare name or
inline JSON such as {"total": 99}. The cell form (%%) takes the {body} as a JSON
object or a Python dict in the cell body (true/false/null accepted).
A call that does not succeed shows its table and fails the cell."""


def _epilog(body: str) -> str:
    return VALUE_FORMS.replace("{body}", body)


def _view_spec(kind: str, what: str, example: str, positional_help: str) -> MagicSpec:
    """page and screen take the same options."""
    return MagicSpec(
        f"segment_{kind}",
        f"Send a {kind} call: {what}.\nExample: %segment_{kind} {example} --user-id $uid",
        [
            Option(("--name",), "name", f"the {kind} name (or give it first)"),
            CATEGORY,
            PROPERTIES,
            *COMMON,
            *BULK,
            Option(("--name-col",), "name_col", f"with --from: the {kind} name column"),
            Option(("--category-col",), "category_col", "with --from: the category column"),
        ],
        positional="name",
        positional_help=positional_help,
        epilog=_epilog("properties"),
    )


CALL_SPECS: dict[str, MagicSpec] = {
    "track": MagicSpec(
        "segment_track",
        "Send a track call: an event a user did, with its properties.\n"
        'Example: %segment_track "Order Completed" --user-id $uid --properties order',
        [
            Option(("--event",), "event", "the event name (or give it first)"),
            PROPERTIES,
            *COMMON,
            *BULK,
            Option(("--event-col",), "event_col", "with --from: the event name column"),
        ],
        positional="event",
        positional_help='the event name, e.g. "Order Completed"',
        epilog=_epilog("properties"),
    ),
    "identify": MagicSpec(
        "segment_identify",
        "Send an identify call: who a user is, with traits.\n"
        "Example: %segment_identify $uid --email ada@example.com --traits profile",
        [
            TRAITS,
            Option(("--email",), "email", "merged into traits.email"),
            Option(("--name",), "name", "merged into traits.name"),
            *COMMON,
            *BULK,
        ],
        positional="user_id",
        positional_help="the user id (or use --user-id)",
        epilog=_epilog("traits"),
    ),
    "page": _view_spec("page", "a page view", "Pricing", "the page name, e.g. Pricing"),
    "screen": _view_spec("screen", "a mobile screen view", "Home", "the screen name"),
    "group": MagicSpec(
        "segment_group",
        "Send a group call: a user joins an account or organisation, with its traits.\n"
        "Example: %segment_group acme --user-id $uid --traits company",
        [
            Option(("--group-id",), "group_id", "the group id (or give it first)"),
            TRAITS,
            *COMMON,
            *BULK,
            Option(("--group-id-col",), "group_id_col", "with --from: the group id column"),
        ],
        positional="group_id",
        positional_help="the group (account) id",
        epilog=_epilog("traits"),
    ),
    "alias": MagicSpec(
        "segment_alias",
        "Send an alias call: merge a previous id into a user id.\n"
        "Example: %segment_alias $anon_id $uid",
        [Option(("--previous-id",), "previous_id", "the old id (or give it first)"), *COMMON],
        positional="previous_id user_id",
        positional_help="the old id, then the new user id",
        epilog=VALUE_FORMS.split("\nThe cell form")[0],
    ),
}

# Which positional fills which field, per call.
POSITIONAL_FIELDS = {
    "track": ("event",),
    "identify": ("user_id",),
    "page": ("name",),
    "screen": ("name",),
    "group": ("group_id",),
    "alias": ("previous_id", "user_id"),
}

CONNECT = MagicSpec(
    "segment_connect",
    "Choose where calls go for this session and show where the key comes from.\n"
    "  us | eu     Segment's US or EU API (key from $SEGMENT_WRITE_KEY, else a prompt)\n"
    "  local       the embedded collector, started inside this kernel (no key needed)\n"
    "  URL         any Segment-compatible server, e.g. http://127.0.0.1:8787",
    [
        Option(("--write-key-env",), "write_key_env", "environment variable holding the key"),
    ],
    positional="target",
    positional_help="us, eu, local or a URL (default: the configured endpoint)",
)

RETRY = MagicSpec(
    "segment_retry",
    "Resend what the outbox keeps for the current endpoint, with the original messageIds.",
    [Option(("-o", "--output"), "output", "also store the result in this variable", "name")],
)

HISTORY = MagicSpec(
    "segment_history",
    "Show every call of this session, newest first (dry runs too).",
    [
        Option(("--failed",), "failed", "only calls that did not succeed", "flag"),
        Option(("--type",), "type", "only this call type, e.g. track"),
        Option(("--event",), "event", "only this event / page name / group id"),
        Option(("--limit",), "limit", "at most N calls", "int"),
        Option(("-o", "--output"), "output", "also store the selection in this variable", "name"),
    ],
)

FORM_HELP = """%segment_form [track|identify|page|screen|group|alias] [options]

Show an ipywidgets form for a call, sharing this session's client, configuration
and history. Preview does a dry run (the exact payload, nothing sent); Send sends.
The options are those of the matching call magic and prefill the form, e.g.
    %segment_form track --properties order --user-id $uid
"""
