"""SegmentMagics: parse the line, resolve notebook values, call the session, display.

The magics never build payloads or talk HTTP: they hand keyword arguments to the
session (the UIs' one door to the client) and show the Result it returns. Each
magic runs inside one error boundary (:func:`_boundary`) that turns our errors
into one-line cell failures, or full tracebacks with ``short_errors = False``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    line_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)
from traitlets import Bool, Enum, Float, Int, TraitError, Unicode, observe, validate

from ..client import BulkResult, HistoryView, Result, resolve_endpoint
from ..client.distributed import engine_of
from ..display import ConnectionSummary
from ..errors import SegmentError
from ..messages import CALLS
from ..session import LOCAL, ConnectError, SegmentSession
from .errors import SegmentCallFailed, SegmentMagicError, SegmentUsageError
from .parsing import MagicSpec, Parsed, Token
from .planning import HELP as PLAN_HELP
from .planning import SPEC as PLAN_SPEC
from .planning import PlanCommand, run_plan_cell, run_plan_line
from .specs import CALL_SPECS, COLUMN_SUFFIX, CONNECT, FORM_HELP, HISTORY, RETRY
from .values import Namespace, parse_cell_body, resolve_object, resolve_scalar

F = TypeVar("F", bound=Callable[..., Any])
_ASSIGNED = re.compile(r"^\s*[^%=]+=\s*%")  # `r = %segment_track ...`

# Settings the client is built from: changing one rebuilds it.
CLIENT_SETTINGS = ("endpoint", "write_key_env", "timeout", "max_retries", "retry_budget", "gzip",
                   "outbox_path")  # fmt: skip


def _boundary(method: F) -> F:
    """The one error boundary of a magic: our errors fail the cell with one line.

    ``SegmentMagicError``s get the ``short_errors`` setting; other errors of ours
    (a plan that does not load, a bad value) become usage errors; anything else
    is a bug, shown in one line too unless ``short_errors`` is off.
    """

    @functools.wraps(method)
    def wrapper(self: SegmentMagics, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except SegmentMagicError as exc:
            exc.short = self.short_errors
            raise
        except SegmentError as exc:
            raise self._short(SegmentUsageError(str(exc))) from None
        except Exception as exc:
            if not self.short_errors:
                raise
            raise self._short(
                SegmentMagicError(
                    f"internal error ({type(exc).__name__}: {exc}); nothing more was sent. "
                    "%config SegmentMagics.short_errors = False shows the traceback"
                )
            ) from None

    return cast("F", wrapper)


def _call_magic(kind: str) -> Callable[..., Result | None]:
    """%segment_<kind> and %%segment_<kind>: the six call magics differ only in ``kind``."""

    def magic(
        self: SegmentMagics, line: str = "", cell: str | None = None, local_ns: Any = None
    ) -> Result | None:
        return self.run_call(kind, line, cell, local_ns)

    magic.__name__ = magic.__qualname__ = f"segment_{kind}"
    magic.__doc__ = CALL_SPECS[kind].help
    decorated = no_var_expand(needs_local_scope(line_cell_magic(_boundary(magic))))
    return cast("Callable[..., Result | None]", decorated)


@magics_class
class SegmentMagics(Magics):
    """Segment calls from notebook variables. Configure with ``%config SegmentMagics``."""

    endpoint = Unicode(
        LOCAL,
        help="Where calls go: 'local' (the embedded collector, started on first use), "
        "'us', 'eu', or the URL of a Segment-compatible server.",
    ).tag(config=True)
    write_key_env = Unicode(
        "SEGMENT_WRITE_KEY", help="Environment variable that holds the write key."
    ).tag(config=True)
    dry_run = Bool(False, help="Validate and show payloads without sending anything.").tag(
        config=True
    )
    timeout = Float(10.0, help="Seconds an HTTP attempt may take in all.").tag(config=True)
    max_retries = Int(3, help="Retries after the first attempt (retryable errors only).").tag(
        config=True
    )
    retry_budget = Float(
        30.0, help="Most seconds a call may spend waiting between retries in all."
    ).tag(config=True)
    gzip = Bool(False, help="gzip-compress request bodies.").tag(config=True)
    short_errors = Bool(
        True, help="Fail cells with a one-line message; False shows the full traceback."
    ).tag(config=True)
    display_limit = Int(20, help="Rows shown in history tables (0 = all).").tag(config=True)
    anonymous_id = Enum(
        ["per_call", "session"],
        "per_call",
        help="When a call has no userId/anonymousId: 'per_call' generates a new UUID each "
        "time (the node spec's default); 'session' uses one stable id for this kernel.",
    ).tag(config=True)

    progress = Bool(True, help="Show a progress bar for bulk sends (--from).").tag(config=True)
    plan_mode = Enum(
        ["warn", "block", "off"],
        "warn",
        help="With a tracking plan active: 'warn' sends and shows violations, 'block' refuses "
        "calls with violations (StatusCode -1, the cell fails), 'off' does not check.",
    ).tag(config=True)
    result_view = Enum(
        ["compact", "full"],
        "compact",
        help="How a call shows: 'compact' (outcome, what needs attention, who and what; "
        "the payload folded) or 'full' (every field of the result).",
    ).tag(config=True)
    public_api = Unicode(
        "us",
        help="Segment's Public API for %segment_plan pull/push: us, eu or an https URL. "
        "The token comes from $SEGMENT_PUBLIC_API_TOKEN or a getpass prompt.",
    ).tag(config=True)
    outbox_path = Unicode(
        "",
        help="sqlite file that keeps undeliverable messages for %segment_retry "
        "(empty: $SEGMENT_MAGICS_OUTBOX, else ~/.local/share/segment-magics/outbox.sqlite).",
    ).tag(config=True)

    def __init__(self, shell: InteractiveShell | None = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.session = SegmentSession(self)
        self.matcher: Any = None  # the Tab-completion matcher registered with the shell

    @validate("endpoint")
    def _check_endpoint(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip()
        if value.lower() == LOCAL:
            return LOCAL
        try:
            resolve_endpoint(value)
        except ValueError as exc:
            raise TraitError(str(exc)) from None
        return value

    @validate("display_limit", "max_retries")
    def _non_negative(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 0:
            raise TraitError(f"{proposal['trait'].name} must be 0 or more")
        return int(proposal["value"])

    @observe(*CLIENT_SETTINGS)
    def _settings_changed(self, change: dict[str, Any]) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            session.rebuild()

    @observe("plan_mode")
    def _plan_mode_changed(self, change: dict[str, Any]) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            session.use_plan(session.plan)

    # -- helpers ------------------------------------------------------------------
    @property
    def _shell(self) -> InteractiveShell:
        return cast("InteractiveShell", self.shell)

    def _namespace(self, local_ns: dict[str, Any] | None) -> Namespace:
        user_ns = self._shell.user_ns
        return Namespace(user_ns, local_ns if local_ns is not user_ns else None)

    def _short(self, exc: SegmentMagicError) -> SegmentMagicError:
        exc.short = self.short_errors
        return exc

    def _display(self, value: Any) -> None:
        """display() on this shell (IPython.display.display targets the global instance)."""
        formatter = self._shell.display_formatter
        assert formatter is not None
        data, metadata = formatter.format(value)
        self._shell.display_pub.publish(data=data, metadata=metadata)

    def _store(self, name: Token | None, value: Any) -> None:
        """-o VAR: put ``value`` into the notebook namespace."""
        if name is None:
            return
        if not name.text.isidentifier():
            raise SegmentUsageError(f"-o/--output needs a variable name, got {name.text!r}")
        self._shell.user_ns[name.text] = value

    def _finish(self, result: Result, output: Token | None, line: str) -> Result | None:
        """Store the result; a call that did not succeed shows its table and fails the cell.

        A trailing ``;`` silences the display, as for any expression, but
        ``r = %segment_track ...;`` still stores the Result in ``r``.
        """
        self._store(output, result)
        if not result.ok:
            self._display(result)
            raise SegmentCallFailed(result)
        return None if self._silenced(line) else result

    def _silenced(self, line: str) -> bool:
        """True for a bare ``%segment_... ;`` statement (nothing should be displayed).

        IPython's own ``@output_can_be_silenced`` returns None for every line that
        ends in ``;``, assignments included, so we look at the cell ourselves.
        """
        if not line.rstrip().endswith(";"):
            return False
        raw = self._current_cell()
        needle = line.strip()
        for text in reversed(raw.splitlines()):
            if needle in text:
                return _ASSIGNED.match(text) is None
        return True

    def _current_cell(self) -> str:
        """The raw text of the cell being run (history is not kept for every run)."""
        running = getattr(getattr(self._shell, "displayhook", None), "exec_result", None)
        raw = getattr(getattr(running, "info", None), "raw_cell", None)
        if isinstance(raw, str):
            return raw
        history = self._shell.history_manager
        return history.input_hist_raw[-1] if history and history.input_hist_raw else ""

    # -- the call magics ----------------------------------------------------------
    def run_call(
        self, kind: str, line: str, cell: str | None, local_ns: dict[str, Any] | None
    ) -> Result | None:
        """Shared body of %segment_track, %segment_identify, ... (line and cell forms)."""
        spec = CALL_SPECS[kind]
        parsed = spec.parse(line)
        ns = self._namespace(local_ns)
        fields = self._fields(kind, spec, parsed, ns, cell)
        dry = bool(parsed.values["dry_run"])
        if parsed.values.get("source") is not None:
            if cell is not None:
                raise SegmentUsageError(f"%%{spec.name}: --from takes no cell body")
            result: Result = self._bulk(kind, parsed, ns, fields, dry)
        else:
            result = self.session.send(kind, dry_run=dry, **fields)
        return self._finish(result, parsed.values["output"], line)

    def _bulk(
        self, kind: str, parsed: Parsed, ns: Namespace, defaults: dict[str, Any], dry: bool
    ) -> Result:
        """--from SOURCE: one call per row, through the session's send_many."""
        values = parsed.values
        source = resolve_object(values["source"], ns, "--from")
        distributed = engine_of(source) is not None
        if not distributed and (isinstance(source, dict) or not hasattr(source, "__iter__")):
            raise SegmentUsageError(
                f"--from needs a DataFrame, a list of dicts or an iterable, "
                f"got {type(source).__name__}"
            )
        rename = {
            key.removesuffix(COLUMN_SUFFIX): token.text
            for key, token in values.items()
            if key.endswith(COLUMN_SUFFIX) and token is not None
        }
        body = values.get("body_columns")
        body_columns = (
            [c.strip() for c in body.text.split(",") if c.strip()] if body is not None else None
        )
        options: dict[str, Any] = {}
        if values.get("no_progress"):
            options["progress"] = False
        if values.get("anonymous"):
            options["anonymous"] = True
        for name in ("key_column", "failures_path"):
            if values.get(name) is not None:
                options[name] = str(resolve_scalar(values[name], ns, name))
        if values.get("max_rate") is not None:
            options["max_rate"] = _positive(resolve_scalar(values["max_rate"], ns, "--max-rate"))
        if values.get("run_id") is not None:
            options["run_id"] = str(resolve_scalar(values["run_id"], ns, "--run-id"))
        return self.session.send_many(
            source, kind, columns=rename, body_columns=body_columns, defaults=defaults,
            dry_run=dry, **options,
        )  # fmt: skip

    def _fields(
        self, kind: str, spec: MagicSpec, parsed: Parsed, ns: Namespace, cell: str | None
    ) -> dict[str, Any]:
        call = CALLS[kind]
        fields: dict[str, Any] = {}
        for f in call.fields:
            token = parsed.values[f.name]
            if token is None:
                continue
            resolve = resolve_object if f.kind == "object" else resolve_scalar
            fields[f.name] = resolve(token, ns, f.flag)
        self._positionals(kind, spec, parsed.positional, ns, fields)
        if cell is not None:
            if call.body is None:
                raise SegmentUsageError(f"%%{spec.name} takes no cell body; use the line form")
            if fields.get(call.body) is not None:
                raise SegmentUsageError(
                    f"%%{spec.name}: give {call.body} in the cell body or with "
                    f"--{call.body}, not both"
                )
            fields[call.body] = parse_cell_body(cell, ns, f"%%{spec.name} cell body")
        return fields

    def _positionals(
        self, kind: str, spec: MagicSpec, tokens: list[Token], ns: Namespace, fields: dict[str, Any]
    ) -> None:
        names = CALLS[kind].positional
        if not tokens:
            return
        if len(names) == 1:
            (name,) = names
            if len(tokens) == 1:
                value = resolve_scalar(tokens[0], ns, spec.positional or name)
            elif all(t.kind == "word" and not t.text.startswith("$") for t in tokens):
                value = " ".join(t.text for t in tokens)  # %segment_track Order Completed
            else:
                raise SegmentUsageError(
                    f"%{spec.name}: expected one {spec.positional}, got {len(tokens)} values; "
                    "quote names that contain spaces"
                )
            values = [(name, value)]
        else:
            if len(tokens) > len(names):
                raise SegmentUsageError(
                    f"%{spec.name}: expected {spec.positional}, got {len(tokens)} values"
                )
            values = [(n, resolve_scalar(t, ns, n)) for n, t in zip(names, tokens, strict=False)]
        for name, value in values:
            if fields.get(name) is not None:
                flag = "--" + name.replace("_", "-")
                raise SegmentUsageError(f"%{spec.name}: {name} given twice (first and {flag})")
            fields[name] = value

    segment_track = _call_magic("track")
    segment_identify = _call_magic("identify")
    segment_page = _call_magic("page")
    segment_screen = _call_magic("screen")
    segment_group = _call_magic("group")
    segment_alias = _call_magic("alias")

    # -- tracking plans -------------------------------------------------------------
    @no_var_expand
    @needs_local_scope
    @line_cell_magic
    @_boundary
    def segment_plan(self, line: str = "", cell: str | None = None, local_ns: Any = None) -> Any:
        parsed = PLAN_SPEC.parse(line)
        command = PlanCommand(
            self.session, parsed.positional, parsed, self._namespace(local_ns), self.display_limit
        )
        if cell is not None:
            shown, stored = run_plan_cell(command, cell)
        else:
            shown, stored = run_plan_line(command)
        self._store(parsed.values["output"], stored)
        return shown

    # -- the form -----------------------------------------------------------------
    @no_var_expand
    @needs_local_scope
    @line_magic
    @_boundary
    def segment_form(self, line: str = "", local_ns: Any = None) -> Any:
        words = line.split(None, 1)
        kind = "track"
        if words and words[0] in CALL_SPECS:
            kind, line = words[0], words[1] if len(words) > 1 else ""
        spec = CALL_SPECS[kind]
        parsed = spec.parse(line)
        prefill = self._fields(kind, spec, parsed, self._namespace(local_ns), None)
        from ..form.widget import SegmentForm  # ipywidgets only when a form is asked for

        form = SegmentForm(self.session.send, kind, **prefill)
        self._store(parsed.values["output"], form)
        return form

    # -- connection, retry and history --------------------------------------------
    @no_var_expand
    @line_magic
    @_boundary
    def segment_connect(self, line: str = "") -> ConnectionSummary:
        parsed = CONNECT.parse(line)
        if len(parsed.positional) > 1:
            raise SegmentUsageError("%segment_connect takes one target: us, eu, local or a URL")
        target = parsed.positional[0].text if parsed.positional else None
        env = parsed.values["write_key_env"]
        try:
            return self.session.connect(target, env.text if env else None)
        except ConnectError as exc:
            raise SegmentUsageError(str(exc)) from None

    @no_var_expand
    @line_magic
    @_boundary
    def segment_retry(self, line: str = "") -> Result | None:
        parsed = RETRY.parse(line)
        result = self.session.retry(rejected=bool(parsed.values["rejected"]))
        if result.ok and not result.rows_read and isinstance(result, BulkResult):
            waiting = result.waiting_elsewhere
            more = f"; {waiting} wait elsewhere (%segment_history --failed)" if waiting else ""
            print(f"Nothing to resend to {result.endpoint or 'this endpoint'}{more}.")
            self._store(parsed.values["output"], result)
            return None
        return self._finish(result, parsed.values["output"], line)

    @no_var_expand
    @line_magic
    @_boundary
    def segment_history(self, line: str = "") -> HistoryView:
        parsed = HISTORY.parse(line)
        v = parsed.values
        limit = None
        if v["limit"] is not None:
            try:
                limit = int(v["limit"].text)
            except ValueError:
                raise SegmentUsageError("--limit needs a whole number") from None
        kind = v["type"].text if v["type"] else None
        event = v["event"].text if v["event"] else None
        if v["failed"]:
            view = self.session.failed(type=kind, event=event, limit=limit)
        else:
            view = self.session.history.select(
                type=kind, event=event, limit=limit, display_limit=self.display_limit
            )
        self._store(v["output"], view)
        return view


SegmentMagics.segment_connect.__doc__ = CONNECT.help
SegmentMagics.segment_form.__doc__ = FORM_HELP
SegmentMagics.segment_plan.__doc__ = PLAN_HELP
SegmentMagics.segment_history.__doc__ = HISTORY.help
SegmentMagics.segment_retry.__doc__ = RETRY.help


def _positive(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    if not number > 0:
        raise SegmentUsageError(
            f"--max-rate needs events per second (a positive number), got {value!r}"
        )
    return number
