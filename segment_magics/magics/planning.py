"""``%segment_plan`` and ``%%segment_plan``: load, write, show, export, check, infer, diff."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..plan import (
    TEMPLATES,
    DiffView,
    InferenceView,
    Plan,
    PlanView,
    check_messages,
    diff_plan,
    infer_plan,
    iter_messages,
    load_plan,
    parse_compact,
    save_plan,
)
from .errors import SegmentUsageError
from .parsing import MagicSpec, Option, Token
from .values import Namespace, resolve_object, resolve_scalar

if TYPE_CHECKING:
    from .core import SegmentMagics

COMMANDS = ("load", "clear", "show", "export", "check", "infer", "diff")
HELP = f"""%segment_plan load PLAN [--merge]   a template ({", ".join(sorted(TEMPLATES))}),
                                    a JSON file (Segment Public API or Config API shape),
                                    or a dict/Plan variable
%segment_plan clear                 stop checking calls
%segment_plan show [-o VAR]         the active plan as a table
%segment_plan export PATH           write it as Segment Public API JSON
%segment_plan check SOURCE [-o VAR] validate a list of messages / a DataFrame without sending
%segment_plan infer [--from SOURCE] [-o VAR] [--use]
                                    a plan from observed events (default: this session's history)
%segment_plan diff [--from SOURCE]  what observed events do that the plan forbids, and what the
                                    plan requires that nothing sends
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
        Option(("-o", "--output"), "output", "store the result in this variable", "name"),
    ],
    positional="command",
)


def run_plan(magics: SegmentMagics, line: str, cell: str | None, ns: Namespace) -> Any:
    parsed = SPEC.parse(line)
    words = parsed.positional
    session = magics.session
    if cell is not None:
        name = " ".join(t.text for t in words) or "notebook plan"
        written = _plan_error(lambda: parse_compact(cell, name=name))
        return _activate(magics, written, bool(parsed.values["merge"]), parsed.values["output"])
    if not words:
        raise SegmentUsageError(
            "%segment_plan needs a command: " + ", ".join(COMMANDS) + " (see %segment_plan?)"
        )
    command, args = words[0].text, words[1:]
    if command not in COMMANDS:
        raise SegmentUsageError(
            f"%segment_plan: unknown command {command!r}; use one of {', '.join(COMMANDS)}"
        )
    limit = magics.display_limit
    if command == "load":
        source = _one(args, "load needs a template name, a file or a variable")
        loaded = _plan_error(lambda: load_plan(_plan_source(source, ns)))
        return _activate(magics, loaded, bool(parsed.values["merge"]), parsed.values["output"])
    if command == "clear":
        session.clear_plan()
        return None
    plan = session.plan
    if command in {"show", "export", "diff"} and plan is None:
        raise SegmentUsageError(
            f"%segment_plan {command}: no plan is active; %segment_plan load ecommerce, for one"
        )
    if command == "show" and plan is not None:
        magics.store(parsed.values["output"], plan)
        return PlanView(plan, limit)
    if command == "export" and plan is not None:
        token = _one(args, "export needs a file path")
        target = Path(str(resolve_scalar(token, ns, "export"))).expanduser()
        save_plan(plan, target)
        print(f"wrote {len(plan.rules)} rules (Segment Public API JSON) to {target.name}")
        return None
    source = _events(magics, parsed.values["source"] or (args[0] if args else None), ns, command)
    if command == "check":
        if session.validator is None:
            raise SegmentUsageError("%segment_plan check: no plan is active; load one first")
        report = check_messages(session.validator, source, display_limit=limit)
        magics.store(parsed.values["output"], report)
        return report
    if command == "infer":
        inferred = infer_plan(iter_messages(source))
        if not inferred.plan.rules:
            raise SegmentUsageError("%segment_plan infer: no events to infer from")
        magics.store(parsed.values["output"], inferred.plan)
        if parsed.values["use"]:
            session.activate_plan(inferred.plan)
        return InferenceView(inferred, limit)
    assert plan is not None  # diff: checked above
    return DiffView(diff_plan(plan, iter_messages(source)), limit)


def _activate(magics: SegmentMagics, plan: Plan, merge: bool, output: Token | None) -> PlanView:
    session = magics.session
    if merge and session.plan is not None:
        plan = session.plan.merged(plan)
    session.activate_plan(plan)
    magics.store(output, plan)
    return PlanView(plan, magics.display_limit)


def _plan_error(make: Any) -> Plan:
    try:
        return make()
    except ValidationError as exc:
        raise SegmentUsageError(f"%segment_plan: {exc}") from None


def _one(args: list[Token], problem: str) -> Token:
    if len(args) != 1:
        raise SegmentUsageError(f"%segment_plan: {problem}")
    return args[0]


def _plan_source(token: Token, ns: Namespace) -> Any:
    """A variable (dict or Plan) by name or $name, else a template name or a path."""
    text = token.text
    if token.kind == "word" and (
        text.startswith("$") or (text.isidentifier() and text not in TEMPLATES)
    ):
        try:
            value = resolve_object(token, ns, "load")
        except SegmentUsageError:
            if text.startswith("$"):
                raise
            return text  # a file called e.g. "plan" without an extension
        if isinstance(value, Mapping | Plan):
            return value
        if isinstance(value, str | Path):
            return value
        raise SegmentUsageError(
            f"%segment_plan load: {text} is a {type(value).__name__}, not a plan"
        )
    if token.kind == "braced":
        return resolve_object(token, ns, "load")
    return text


def _events(magics: SegmentMagics, token: Token | None, ns: Namespace, command: str) -> Any:
    if token is None or (token.kind == "word" and token.text == "history"):
        if command == "check" and token is None:
            raise SegmentUsageError(
                "%segment_plan check needs the events: a list of messages or a DataFrame"
            )
        return [r.message for r in reversed(list(magics.session.history)) if r.message is not None]
    value = resolve_object(token, ns, f"%segment_plan {command}")
    if isinstance(value, Mapping) or not hasattr(value, "__iter__"):
        raise SegmentUsageError(
            f"%segment_plan {command}: {token.text} is a {type(value).__name__}; "
            "pass a list of messages or a DataFrame"
        )
    return value
