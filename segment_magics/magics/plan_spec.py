"""What ``%segment_plan`` takes: its help, its options and which command reads which."""

from __future__ import annotations

from ..plan import TEMPLATES
from .errors import SegmentUsageError
from .parsing import MagicSpec, Option, Parsed

HELP = f"""%segment_plan load PLAN [--merge]   a template ({", ".join(sorted(TEMPLATES))}),
                                    a JSON file (Public API rules or response, Config API,
                                    Typewriter v7/v8 plan.json or local plan),
                                    or a dict/list/Plan variable
%segment_plan clear                 stop checking calls
%segment_plan show [-o VAR]         the active plan as a table
%segment_plan export PATH           write it as Segment Public API JSON
%segment_plan check SOURCE [--kind K] [-o VAR]
                                    validate a list of messages / a DataFrame / an export (as
                                    audit reads it) without sending; flat rows are track calls
                                    unless a type column or --kind (identify, group, page,
                                    screen, alias) says otherwise
%segment_plan infer [--from SOURCE] [--required-share 0.95|95%] [-o VAR] [--use]
                                    a plan from observed events (default: this session's history;
                                    SOURCE can also be an export: a path, a glob or a directory);
                                    --since, --until and --events narrow it, as for audit
%segment_plan audit SOURCE [--since DATE] [--until DATE] [--events "A,B"] [--no-progress]
                    [-o VAR]        months of history against the active plan: Segment's S3/GCS
                                    export (gzipped NDJSON), NDJSON or Parquet files, or a pandas,
                                    Polars, Spark or Dask DataFrame, or `history` (what this
                                    session sent); violations grouped as Protocols groups them
                                    (report.plot() draws them per day); files that take more
                                    than two seconds to read show a progress bar
%segment_plan diff [--from SOURCE]  what observed events (history, a variable or an export) do
                                    that the plan forbids, and what the plan requires that
                                    nothing sends
%segment_plan pull PLAN_ID [--api us|eu|URL]
                                    Segment's plan becomes the active one (Public API; token
                                    from $SEGMENT_PUBLIC_API_TOKEN or a prompt, never stored)
%segment_plan push PLAN_ID [--dry-run] [--update | --replace] [--api us|eu|URL]
                                    first the difference with Segment's plan; --update adds
                                    and changes rules, --replace also removes Segment's others
%%segment_plan [--merge]            the cell body is a plan in the compact notation:

    Order Completed
      order_id: string!                  # ! = required
      total: number >= 0
      currency: string! in [USD, EUR]
      products: array!                   # fields of array items / objects indented below
        product_id: string!
        price: number >= 0
    identify                             # traits; also group, page [Name], screen [Name], common
      email: string! /^[^@]+@[^@]+$/

With a plan active every call is checked before it is sent:
%config SegmentMagics.plan_mode = "warn" (send, show violations) | "block" | "off".
"""

SPEC = MagicSpec(
    "segment_plan",
    "Tracking plans.",
    [
        Option(("--merge",), "merge", "add to the active plan instead of replacing it", "flag"),
        Option(("--from",), "source", "history (default) or a variable with events", "object"),
        Option(("--use",), "use", "infer: make the inferred plan the active one", "flag"),
        Option(
            ("--kind",),
            "kind",
            "check/infer/diff: read flat rows as this call (default: a type column, else track)",
        ),
        Option(
            ("--update",), "update", "push: add and change rules, keep Segment's others", "flag"
        ),
        Option(("--replace",), "replace", "push: make Segment's plan exactly this one", "flag"),
        Option(("--dry-run",), "dry_run", "push: show what would change, send nothing", "flag"),
        Option(("--api",), "api", "pull/push: us, eu or an https URL (default: public_api)"),
        Option(
            ("--since",),
            "since",
            "audit/infer: from this date or time (ISO; UTC unless it has an offset)",
        ),
        Option(("--until",), "until", "audit/infer: up to this date or time (inclusive; UTC too)"),
        Option(("--events",), "events", "audit/infer: only these events or call types (a,b,c)"),
        Option(
            ("--required-share",),
            "required_share",
            "infer: required when present in at least this share (default 1.0)",
        ),
        Option(("--no-progress",), "no_progress", "audit: no progress bar for a long read", "flag"),
        Option(("-o", "--output"), "output", "store the result in this variable", "name"),
    ],
    positional="command",
)


# The options each command reads (-o/--output: every one); any other is refused, so that
# an option never appears to work where it is ignored.
_NARROW = ("since", "until", "events")
TAKES: dict[str, tuple[str, ...]] = {
    "load": ("merge",),
    "clear": (),
    "show": (),
    "export": (),
    "check": ("source", "kind"),
    "infer": ("source", "kind", "use", "required_share", *_NARROW),
    "audit": ("source", "no_progress", *_NARROW),
    "diff": ("source", "kind"),
    "pull": ("merge", "api"),
    "push": ("update", "replace", "dry_run", "api"),
    "cell": ("merge",),
}


def only_its_options(parsed: Parsed, verb: str) -> None:
    """Refuse the options ``verb`` does not read ("cell": ``%%segment_plan``)."""
    values = parsed.values
    given = [o for o in SPEC.options if o.dest != "output" and values[o.dest] not in (None, False)]
    extra = [o for o in given if o.dest not in TAKES[verb]]
    if extra:
        named = "%%segment_plan" if verb == "cell" else f"%segment_plan {verb}"
        takes = [o.flags[-1] for o in SPEC.options if o.dest in TAKES[verb]]
        raise SegmentUsageError(
            f"{named}: {', '.join(o.flags[-1] for o in extra)} does not apply here; "
            f"it takes {', '.join([*takes, '-o VAR'])}"
        )
