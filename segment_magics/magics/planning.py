"""``%segment_plan`` subcommands: a table of small functions, each returning what it shows.

Every command takes a :class:`PlanCommand` (the session, its arguments, the
notebook's names) and returns ``(shown, stored)``: what the cell displays and
what ``-o VAR`` keeps. The magic does the parsing, storing and error handling.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from ..client import PublicApi, Result
from ..errors import SegmentError, ValidationError
from ..messages import CALL_KINDS
from ..messages.arguments import checked_share
from ..plan import (
    TEMPLATES,
    CheckReport,
    DiffView,
    InferenceView,
    MergeView,
    Plan,
    PlanLoaded,
    PlanView,
    PushMode,
    PushView,
    audit,
    check_messages,
    compare_rules,
    diff_plan,
    infer_plan,
    iter_messages,
    load_plan,
    parse_compact,
    plan_from_dict,
    save_plan,
    to_send,
)
from ..plan.audit import Window
from ..plan.audit_files import export_messages, export_rows, file_source
from ..plan.check import Labelled
from ..plan.infer import Inferred
from ..session import SegmentSession
from .errors import SegmentUsageError
from .parsing import Parsed, Token
from .plan_spec import only_its_options
from .values import Namespace, resolve_object, resolve_scalar


@dataclass(frozen=True)
class PlanCommand:
    """One ``%segment_plan`` invocation, as its subcommand sees it."""

    session: SegmentSession
    args: list[Token]
    parsed: Parsed
    ns: Namespace
    display_limit: int

    def flag(self, name: str) -> bool:
        return bool(self.parsed.values[name])

    def one(self, problem: str) -> Token:
        if len(self.args) != 1:
            raise SegmentUsageError(f"%segment_plan: {problem}")
        return self.args[0]

    def active(self, command: str) -> Plan:
        plan = self.session.plan
        if plan is None:
            raise SegmentUsageError(
                f"%segment_plan {command}: no plan is active; %segment_plan load ecommerce, for one"
            )
        return plan

    def kind(self, command: str) -> str | None:
        """``--kind identify``: flat rows are identify calls (their columns are traits)."""
        token = self.parsed.values["kind"]
        if token is None:
            return None
        text = str(resolve_scalar(token, self.ns, command)).lower()
        if text not in CALL_KINDS:
            raise SegmentUsageError(
                f"%segment_plan {command} --kind: {text!r} is not a call; "
                f"use one of {', '.join(CALL_KINDS)}"
            )
        return text

    def events(self, command: str) -> Any:
        """The events to check, infer from or diff: a variable, or this session's history."""
        token = self.parsed.values["source"] or (self.args[0] if self.args else None)
        if token is None or (token.kind == "word" and token.text == "history"):
            if command == "check" and token is None:
                raise SegmentUsageError(
                    "%segment_plan check needs the events: a list of messages or a DataFrame"
                )
            history = reversed(list(self.session.history))
            return [r.message for r in history if isinstance(r, Result) and r.message is not None]
        value = resolve_object(token, self.ns, f"%segment_plan {command}")
        if isinstance(value, Mapping | str | bytes | int | float) or value is None:
            raise SegmentUsageError(
                f"%segment_plan {command}: {token.text} is of type {type(value).__name__}; "
                "pass a list of messages or a DataFrame"
            )
        return value


Outcome = tuple[Any, Any]  # (shown, stored by -o)
T = TypeVar("T")


def activate(command: PlanCommand, plan: Plan) -> Outcome:
    """Make ``plan`` the active one; with ``--merge`` add it to the active plan and
    show what that added or changed (not the whole plan again)."""
    session = command.session
    before = session.plan
    if command.flag("merge") and before is not None:
        merged = before.merged(plan)
        session.use_plan(merged)
        return MergeView(before, plan, merged), merged
    session.use_plan(plan)
    validator = session.validator
    assert validator is not None
    return PlanLoaded(plan, validator.remarks()), plan


def _load(command: PlanCommand) -> Outcome:
    token = command.one("load needs a template name, a file or a variable")
    return activate(command, _plan_error(lambda: load_plan(_plan_source(token, command.ns))))


def _clear(command: PlanCommand) -> Outcome:
    command.session.use_plan(None)
    return None, None


def _show(command: PlanCommand) -> Outcome:
    plan = command.active("show")
    return _view(command), plan


def _view(command: PlanCommand) -> PlanView:
    """The active plan, with how it was read (shape, notes, rules that are not checked)."""
    validator = command.session.validator
    assert validator is not None  # a plan is active
    return PlanView.of(validator, command.display_limit)


def _export(command: PlanCommand) -> Outcome:
    plan = command.active("export")
    token = command.one("export needs a file path")
    target = Path(str(resolve_scalar(token, command.ns, "export"))).expanduser()
    _readable(lambda: save_plan(plan, target), "export")
    print(f"wrote {len(plan.rules)} rules (Segment Public API JSON) to {target.name}")
    return None, target


def _check(command: PlanCommand) -> Outcome:
    validator = command.session.validator
    if validator is None:
        raise SegmentUsageError("%segment_plan check: no plan is active; load one first")
    path, rows = _export_source(command, "check")
    source = Labelled(export_rows(path)) if path is not None else rows  # by file and line
    kind = command.kind("check")
    report: CheckReport = _readable(
        lambda: check_messages(validator, source, display_limit=command.display_limit, kind=kind),
        "check",
    )
    return report, report


def _readable(make: Callable[[], T], verb: str) -> T:
    """What reads the source's rows, with a source it cannot read named as a usage error."""
    try:
        return make()
    except ValidationError as exc:
        raise SegmentUsageError(f"%segment_plan {verb}: {exc}") from None


def _export_source(command: PlanCommand, verb: str) -> tuple[str | list[str] | None, Any]:
    """What ``check``, ``infer`` and ``diff`` read, as ``audit`` does: an export (a
    path, glob or directory, or a list of them, as ``glob.glob`` gives) and None, or
    None and the rows of the variable (or this session's history) they name."""
    source: str | list[str] | None = _export_path(command)
    if source is not None:
        return source, None
    rows = command.events(verb)
    source = file_source(rows) if isinstance(rows, list | tuple) else None
    return (source, None) if source is not None else (None, rows)


def _infer(command: PlanCommand) -> Outcome:
    share = _share(command)
    window = _window(command, "infer")
    path, rows = _export_source(command, "infer")
    kind = command.kind("infer")

    def inferred_plan() -> Inferred:
        if path is not None:
            messages = export_messages(path, window)
        else:
            messages = iter_messages(rows, kind)
            if window is not None:
                messages = (m for m in messages if window.takes(m))
        return infer_plan(messages, required_share=share)

    inferred = _readable(inferred_plan, "infer")
    if not inferred.plan.rules:
        asked = window.describe() if window is not None else ""
        plan = command.session.plan
        hints = window.unknown_events(plan.events, ()) if window is not None and plan else []
        where = f" in the window ({asked})" if asked else ""
        raise SegmentUsageError(
            "; ".join([f"%segment_plan infer: no events to infer from{where}", *hints])
        )
    if command.flag("use"):
        command.session.use_plan(inferred.plan)
    return InferenceView(inferred, command.display_limit), inferred.plan


def _share(command: PlanCommand) -> float:
    token = command.parsed.values["required_share"]
    if token is None:
        return 1.0
    try:
        value = resolve_scalar(token, command.ns, "--required-share")
        text = str(value).strip()
        share = float(text.removesuffix("%"))
        if text.endswith("%") or 1 < share <= 100:  # 95 means 95 %: no share is above 1
            share /= 100
        return checked_share("--required-share", share)
    except (TypeError, ValueError):  # (a ValidationError is a ValueError)
        raise SegmentUsageError(
            "%segment_plan infer --required-share: a share from 0 to 1 or a percentage, "
            "e.g. 0.95 or 95%"
        ) from None


def _export_path(command: PlanCommand) -> str | None:
    """A SOURCE that names files (a path, glob or directory) rather than a variable."""
    token = command.parsed.values["source"] or (command.args[0] if command.args else None)
    if token is None or (token.kind == "word" and token.text == "history"):
        return None
    if token.kind == "word" and token.text.isidentifier() and command.ns.has(token.text):
        return None
    text = str(resolve_scalar(token, command.ns, "SOURCE"))
    if any(ch in text for ch in "/*.") or Path(text).expanduser().exists():
        return text
    return None


def _audit(command: PlanCommand) -> Outcome:
    plan = command.active("audit")
    given = command.parsed.values["source"]  # --from SOURCE, as infer takes it, works too
    if len(command.args) + (given is not None) != 1:
        raise SegmentUsageError(
            "%segment_plan audit SOURCE: a path, glob or directory of exports, or a DataFrame"
        )
    path = _export_path(command)
    source: Any = path
    token = given or command.args[0]
    sent = path is None and token.kind == "word" and token.text == "history" \
        and not command.ns.has("history")  # fmt: skip
    if sent:
        source = command.events("audit")  # what this session sent, as check and infer read it
    elif path is None:
        source = resolve_object(token, command.ns, "%segment_plan audit")
    since, until, events = _narrowing(command)
    progress = not command.parsed.values["no_progress"]
    report = _readable(lambda: audit(plan, source, since=since, until=until, events=events,
                                     progress=progress), "audit")  # fmt: skip
    if sent:
        report.source = "this session's history"
    return report, report


def _narrowing(command: PlanCommand) -> tuple[str | None, str | None, list[str] | None]:
    """``--since``, ``--until`` and ``--events`` as given (None when not)."""
    values = command.parsed.values
    text = {
        name: str(resolve_scalar(values[name], command.ns, f"--{name}"))
        if values[name] is not None
        else None
        for name in ("since", "until", "events")
    }
    events = [e.strip() for e in (text["events"] or "").split(",") if e.strip()] or None
    return text["since"], text["until"], events


def _window(command: PlanCommand, verb: str) -> Window | None:
    """The messages ``--since``/``--until``/``--events`` keep; None when all of them."""
    since, until, events = _narrowing(command)
    if since is None and until is None and events is None:
        return None
    return _readable(lambda: Window(since, until, events), verb)


def _diff(command: PlanCommand) -> Outcome:
    plan = command.active("diff")
    path, rows = _export_source(command, "diff")
    kind = command.kind("diff")
    messages = export_messages(path) if path is not None else iter_messages(rows, kind)
    view = DiffView(_readable(lambda: diff_plan(plan, messages), "diff"), command.display_limit)
    return view, view


def _plan_id(command: PlanCommand, verb: str) -> str:
    token = command.one(f"{verb} needs the tracking plan's id (tp_..., from its URL in Segment)")
    return str(resolve_scalar(token, command.ns, verb))


def _api(command: PlanCommand) -> PublicApi:
    token = command.parsed.values["api"]
    where = str(resolve_scalar(token, command.ns, "api")) if token is not None else None
    return command.session.public_api(where)


def _pull(command: PlanCommand) -> Outcome:
    """Segment's plan (and all its rules) becomes the active plan."""
    plan_id = _plan_id(command, "pull")
    api = _api(command)
    plan = _from_api(lambda: api.pull(plan_id), "pull")
    return activate(command, replace(plan, shape=f"pulled from Segment ({plan_id}, {api.base})"))


def _push(command: PlanCommand) -> Outcome:
    """The diff with Segment's plan first; rules are sent only with --update/--replace."""
    plan = command.active("push")
    plan_id = _plan_id(command, "push")
    update, replacing = command.flag("update"), command.flag("replace")
    if update and replacing:
        raise SegmentUsageError("%segment_plan push: choose --update or --replace, not both")
    api = _api(command)
    remote = _from_api(lambda: plan_from_dict(api.rules(plan_id)), "push")
    changes = compare_rules(plan, remote)
    mode: PushMode = (
        "dry run" if command.flag("dry_run") else
        "update" if update else "replace" if replacing else "preview"
    )  # fmt: skip
    sent = 0
    if mode in ("update", "replace"):
        rules = to_send(changes, remote, replace=mode == "replace")
        if mode == "replace" and not rules:
            raise SegmentUsageError(
                f"%segment_plan push: the active plan has no rules; refusing to replace "
                f"Segment's {len(remote.newest_rules())} rules with none"
            )
        if rules:
            send = api.replace_rules if mode == "replace" else api.update_rules
            _from_api(lambda: send(plan_id, rules), "push")
        sent = len(rules)
    view = PushView(plan_id, changes, mode, sent, command.display_limit)
    return view, view


def _from_api(call: Callable[[], T], verb: str) -> T:
    try:
        return call()
    except SegmentError as exc:
        raise SegmentUsageError(f"%segment_plan {verb}: {exc}") from None


COMMANDS: dict[str, Callable[[PlanCommand], Outcome]] = {
    "load": _load,
    "clear": _clear,
    "show": _show,
    "export": _export,
    "check": _check,
    "infer": _infer,
    "audit": _audit,
    "diff": _diff,
    "pull": _pull,
    "push": _push,
}


def run_plan_line(command: PlanCommand) -> Outcome:
    """Route ``%segment_plan <command> ...`` to its function."""
    if not command.args:
        raise SegmentUsageError(
            "%segment_plan needs a command: " + ", ".join(COMMANDS) + " (see %segment_plan?)"
        )
    name = command.args[0].text
    handler = COMMANDS.get(name)
    if handler is None:
        raise SegmentUsageError(
            f"%segment_plan: unknown command {name!r}; use one of {', '.join(COMMANDS)}"
        )
    only_its_options(command.parsed, name)
    return handler(replace(command, args=command.args[1:]))


def run_plan_cell(command: PlanCommand, cell: str) -> Outcome:
    """``%%segment_plan``: the cell body is a plan in the compact notation."""
    only_its_options(command.parsed, "cell")
    name = " ".join(t.text for t in command.args) or "notebook plan"
    return activate(command, _plan_error(lambda: parse_compact(cell, name=name)))


def _plan_error(make: Callable[[], Plan]) -> Plan:
    try:
        return make()
    except ValidationError as exc:
        raise SegmentUsageError(f"%segment_plan: {exc}") from None


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
        if isinstance(value, Mapping | Plan | str | Path | list | tuple):
            return value  # a list: Public API rules
        raise SegmentUsageError(
            f"%segment_plan load: {text} is a {type(value).__name__}, not a plan"
        )
    if token.kind == "braced":
        return resolve_object(token, ns, "load")
    return text
