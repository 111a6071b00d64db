"""The options of every ``%segment_*`` magic.

The six call magics are derived from the message layer's call records: one
option per field, one ``--<field>-col`` per field a DataFrame column can fill,
and the positionals, examples and help that the records give.
"""

from __future__ import annotations

from ..messages import CALLS, Call
from .parsing import MagicSpec, Option

# Options that are not fields of the message: how the magic runs.
RUN_OPTIONS = [
    Option(("--dry-run",), "dry_run", "build and validate, show the payload, send nothing", "flag"),
    Option(("-o", "--output"), "output", "also store the Result in this variable", "name"),
]
# Options of a backfill: each dest but ``source`` is a field of BulkOptions.
BULK_OPTIONS = [
    Option(("--from",), "source", "send one call per row of a DataFrame / list of dicts", "source"),
    Option(
        ("--columns",), "body_columns", "with --from: only these columns (a,b,c) become the body"
    ),
    Option(("--no-progress",), "progress", "with --from: no progress bar", "off"),
    Option(
        ("--anonymous",),
        "anonymous",
        "with --from: rows with no userId/anonymousId get a generated anonymousId "
        "(without it such rows are refused)",
        "flag",
    ),
    Option(
        ("--max-rate",),
        "max_rate",
        "with --from: at most this many events per second (shared by a cluster's workers)",
    ),
    Option(
        ("--key-col",),
        "key_column",
        "with --from: derive messageIds from this column (stable across reruns and shuffles)",
    ),
    Option(
        ("--failures-path",),
        "failures_path",
        "with --from a Spark/Dask DataFrame: where workers write what they could not "
        "deliver (shared storage on a cluster)",
    ),
    Option(
        ("--run-id",),
        "run_id",
        "with --from: name the run; the same id resumes it after a crash or Ctrl-C, "
        "resending the same messageIds",
    ),
    Option(
        ("--problems-path",),
        "problems_path",
        "with --from: also write every problem row to this file (JSON lines; "
        "pandas.read_json(path, lines=True) reads it)",
    ),
]
COLUMN_SUFFIX = "_col"

VALUE_FORMS = """\
Values: a literal ("quoted" or bare), $name for a notebook variable, {expression}
for a Python expression; dict options also take a dict variable's bare name or
inline JSON such as {"total": 99}."""
CELL_FORM = """
The cell form (%%) takes the {body} as a JSON object or a Python dict in the cell
body (true/false/null accepted)."""
FAILURE = "\nA call that does not succeed shows its table and fails the cell."


def field_options(call: Call) -> list[Option]:
    """One option per field of the call, e.g. ``--user-id`` or ``--properties``."""
    return [
        Option((f.flag,), f.name, f.help, "object" if f.kind == "object" else "scalar")
        for f in call.fields
    ]


def column_options(call: Call) -> list[Option]:
    """``--user-id-col`` and friends: which column fills a field in a bulk send."""
    return [
        Option(
            (f"{f.flag}-col",),
            f.name + COLUMN_SUFFIX,
            f"with --from: the column holding {f.wire} (default: {' or '.join(f.columns)})",
        )
        for f in call.column_fields
    ]


def bulk_options(call: Call) -> list[Option]:
    """The backfill options that mean something for this call (alias has no anonymousId
    to generate)."""
    return [o for o in BULK_OPTIONS if o.dest != "anonymous" or call.takes_anonymous_id]


def call_spec(call: Call) -> MagicSpec:
    epilog = VALUE_FORMS
    if call.body:
        epilog += CELL_FORM.replace("{body}", call.body)
    positional_help = " then ".join(
        call.field(name).help.split(" (")[0] for name in call.positional
    )
    return MagicSpec(
        f"segment_{call.kind}",
        f"{call.summary}\nExample: %segment_{call.kind} {call.example}",
        [*field_options(call), *RUN_OPTIONS, *bulk_options(call), *column_options(call)],
        positional=" ".join(call.positional),
        positional_help=positional_help,
        epilog=epilog + FAILURE,
        refused=_refused(call),
    )


def _refused(call: Call) -> dict[str, str]:
    if call.takes_anonymous_id:
        return {}
    why = (f"does not apply: {call.kind} takes no anonymousId "
           f"({' and '.join(call.field(n).flag for n in call.required)} only)")  # fmt: skip
    return {"--anonymous-id": why, "--anonymous": why}


CALL_SPECS: dict[str, MagicSpec] = {kind: call_spec(call) for kind, call in CALLS.items()}

CONNECT = MagicSpec(
    "segment_connect",
    "Choose where calls go for this session and show where the key comes from.\n"
    "  us | eu     Segment's US or EU API (key from $SEGMENT_WRITE_KEY, else a prompt)\n"
    "  local       the embedded collector, started inside this kernel (no key needed)\n"
    "  URL         any Segment-compatible server, e.g. http://127.0.0.1:8791",
    [
        Option(("--write-key-env",), "write_key_env", "environment variable holding the key"),
    ],
    positional="target",
    positional_help="us, eu, local or a URL (default: the configured endpoint)",
)

RETRY = MagicSpec(
    "segment_retry",
    "Resend what the outbox keeps for the current endpoint, with the original messageIds\n"
    "and timestamps; or, with --discard, remove it from the outbox.",
    [
        Option(
            ("--rejected",),
            "rejected",
            "also resend messages the server rejected (fix the cause first); with "
            "--discard: only the rejected ones",
            "flag",
        ),
        Option(
            ("--kept-for",),
            "kept_for",
            "what waits for another endpoint (a URL, local) or for any (all): resent here, "
            "or with --discard removed",
        ),
        Option(("--discard",), "discard", "remove messages instead of sending them", "flag"),
        Option(("--run-id",), "run_id", "with --discard: only the messages of this run"),
        Option(("--yes",), "yes", "with --discard: do not ask first", "flag"),
        Option(("-o", "--output"), "output", "also store the result in this variable", "name"),
    ],
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
