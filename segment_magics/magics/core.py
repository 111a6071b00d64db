"""SegmentMagics: parse the line, resolve notebook values, call the client, display.

The magics never build payloads or talk HTTP: they hand keyword arguments to the
shared SegmentClient and show the Result it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    line_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
    output_can_be_silenced,
)
from traitlets import Bool, Enum, Float, Int, TraitError, Unicode, validate

from ..client import HistoryView, Result, resolve_endpoint
from ..messages import BODY
from ..session import LOCAL, ConnectError, ConnectionSummary, SegmentSession
from .errors import SegmentCallFailed, SegmentMagicError, SegmentUsageError
from .parsing import MagicSpec, Parsed, Token
from .planning import HELP as PLAN_HELP
from .planning import run_plan
from .specs import CALL_SPECS, CONNECT, FORM_HELP, HISTORY, POSITIONAL_FIELDS, RETRY
from .values import Namespace, parse_cell_body, resolve_object, resolve_scalar


def _call_magic(kind: str) -> Callable[..., Result]:
    """%segment_<kind> and %%segment_<kind>: the six call magics differ only in ``kind``."""

    def magic(
        self: SegmentMagics, line: str = "", cell: str | None = None, local_ns: Any = None
    ) -> Result:
        return self.run_call(kind, line, cell, local_ns)

    magic.__name__ = magic.__qualname__ = f"segment_{kind}"
    magic.__doc__ = CALL_SPECS[kind].help
    decorated = no_var_expand(needs_local_scope(output_can_be_silenced(line_cell_magic(magic))))
    return cast("Callable[..., Result]", decorated)


_NOT_FIELDS = frozenset({"dry_run", "output", "source", "body_columns", "no_progress"})


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
    timeout = Float(10.0, help="Seconds to wait for each HTTP attempt.").tag(config=True)
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
    outbox_path = Unicode(
        "",
        help="sqlite file that keeps undeliverable messages for %segment_retry "
        "(empty: $SEGMENT_MAGICS_OUTBOX, else ~/.local/share/segment-magics/outbox.sqlite).",
    ).tag(config=True)

    def __init__(self, shell: InteractiveShell | None = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.session = SegmentSession(self)

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

    # -- helpers ------------------------------------------------------------------
    @property
    def _shell(self) -> InteractiveShell:
        return cast("InteractiveShell", self.shell)

    def _namespace(self, local_ns: dict[str, Any] | None) -> Namespace:
        user_ns = self._shell.user_ns
        return Namespace(user_ns, local_ns if local_ns is not user_ns else None)

    def _parse(self, spec: MagicSpec, line: str) -> Parsed:
        try:
            return spec.parse(line)
        except SegmentMagicError as exc:
            raise self._short(exc) from None

    def _short(self, exc: SegmentMagicError) -> SegmentMagicError:
        exc.short = self.short_errors
        return exc

    def _display(self, value: Any) -> None:
        """display() on this shell (IPython.display.display targets the global instance)."""
        formatter = self._shell.display_formatter
        assert formatter is not None
        data, metadata = formatter.format(value)
        self._shell.display_pub.publish(data=data, metadata=metadata)

    def store(self, name: str | Token | None, value: Any) -> None:
        """-o VAR: put ``value`` into the notebook namespace."""
        self._store(name, value)

    def _store(self, name: str | Token | None, value: Any) -> None:
        if name is None:
            return
        text = name.text if isinstance(name, Token) else name
        if not text.isidentifier():
            raise self._short(SegmentUsageError(f"-o/--output needs a variable name, got {text!r}"))
        self._shell.user_ns[text] = value

    # -- the call magics ----------------------------------------------------------
    def run_call(
        self, kind: str, line: str, cell: str | None, local_ns: dict[str, Any] | None
    ) -> Result:
        """Shared body of %segment_track, %segment_identify, ... (line and cell forms)."""
        spec = CALL_SPECS[kind]
        parsed = self._parse(spec, line)
        ns = self._namespace(local_ns)
        try:
            fields = self._fields(kind, spec, parsed, ns, cell)
        except SegmentMagicError as exc:
            raise self._short(exc) from None
        if parsed.values.get("source") is not None:
            if cell is not None:
                raise self._short(SegmentUsageError(f"%%{spec.name}: --from takes no cell body"))
            result = self._bulk(kind, parsed, ns, fields)
        else:
            result = self.session.send(kind, dry_run=bool(parsed.values["dry_run"]), **fields)
        self._store(parsed.values["output"], result)
        if not result.ok:
            self._display(result)
            raise self._short(SegmentCallFailed(result))
        return result

    def _bulk(self, kind: str, parsed: Parsed, ns: Namespace, defaults: dict[str, Any]) -> Result:
        """--from SOURCE: one call per row, through the client's send_many."""
        values = parsed.values
        try:
            source = resolve_object(values["source"], ns, "--from")
        except SegmentMagicError as exc:
            raise self._short(exc) from None
        if isinstance(source, dict) or not hasattr(source, "__iter__"):
            kind_name = type(source).__name__
            raise self._short(
                SegmentUsageError(
                    f"--from needs a DataFrame, a list of dicts or an iterable, got {kind_name}"
                )
            )
        rename = {
            key[: -len("_col")]: token.text
            for key, token in values.items()
            if key.endswith("_col") and token is not None
        }
        body = values.get("body_columns")
        body_columns = (
            [c.strip() for c in body.text.split(",") if c.strip()] if body is not None else None
        )
        return self.session.client.send_many(
            source,
            kind,
            columns=rename,
            body_columns=body_columns,
            defaults=defaults,
            dry_run=bool(values["dry_run"]) or self.dry_run,
            progress=self.progress and not values.get("no_progress"),
        )

    def _fields(
        self, kind: str, spec: MagicSpec, parsed: Parsed, ns: Namespace, cell: str | None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for option in spec.options:
            if option.dest in _NOT_FIELDS or option.dest.endswith("_col"):
                continue
            token = parsed.values[option.dest]
            if token is None:
                continue
            where = option.flags[-1]
            resolve = resolve_object if option.kind == "object" else resolve_scalar
            fields[option.dest] = resolve(token, ns, where)
        self._positionals(kind, spec, parsed.positional, ns, fields)
        if cell is not None:
            body_field = BODY.get(kind)
            if body_field is None:
                raise SegmentUsageError(f"%%{spec.name} takes no cell body; use the line form")
            if fields.get(body_field) is not None:
                raise SegmentUsageError(
                    f"%%{spec.name}: give {body_field} in the cell body or with "
                    f"--{body_field}, not both"
                )
            fields[body_field] = parse_cell_body(cell, ns, f"%%{spec.name} cell body")
        return fields

    def _positionals(
        self, kind: str, spec: MagicSpec, tokens: list[Token], ns: Namespace, fields: dict[str, Any]
    ) -> None:
        names = POSITIONAL_FIELDS[kind]
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
    @output_can_be_silenced
    @line_cell_magic
    def segment_plan(self, line: str = "", cell: str | None = None, local_ns: Any = None) -> Any:
        try:
            return run_plan(self, line, cell, self._namespace(local_ns))
        except SegmentMagicError as exc:
            raise self._short(exc) from None

    # -- the form -----------------------------------------------------------------
    @no_var_expand
    @needs_local_scope
    @line_magic
    def segment_form(self, line: str = "", local_ns: Any = None) -> Any:
        words = line.split(None, 1)
        kind = "track"
        if words and words[0] in CALL_SPECS:
            kind, line = words[0], words[1] if len(words) > 1 else ""
        spec = CALL_SPECS[kind]
        parsed = self._parse(spec, line)
        try:
            prefill = self._fields(kind, spec, parsed, self._namespace(local_ns), None)
        except SegmentMagicError as exc:
            raise self._short(exc) from None
        from ..form import SegmentForm  # ipywidgets only when a form is asked for

        form = SegmentForm(self.session.send, kind, **prefill)
        self._store(parsed.values["output"], form)
        return form

    # -- connection and history ---------------------------------------------------
    @no_var_expand
    @line_magic
    def segment_connect(self, line: str = "") -> ConnectionSummary:
        parsed = self._parse(CONNECT, line)
        if len(parsed.positional) > 1:
            raise self._short(
                SegmentUsageError("%segment_connect takes one target: us, eu, local or a URL")
            )
        target = parsed.positional[0].text if parsed.positional else None
        env = parsed.values["write_key_env"]
        try:
            return self.session.connect(target, env.text if env else None)
        except ConnectError as exc:
            raise self._short(SegmentUsageError(str(exc))) from None

    @no_var_expand
    @output_can_be_silenced
    @line_magic
    def segment_retry(self, line: str = "") -> Result:
        parsed = self._parse(RETRY, line)
        result = self.session.client.retry_outbox(progress=self.progress)
        self._store(parsed.values["output"], result)
        if not result.ok:
            self._display(result)
            raise self._short(SegmentCallFailed(result))
        return result

    @no_var_expand
    @output_can_be_silenced
    @line_magic
    def segment_history(self, line: str = "") -> HistoryView:
        parsed = self._parse(HISTORY, line)
        v = parsed.values
        limit = None
        if v["limit"] is not None:
            try:
                limit = int(v["limit"].text)
            except ValueError:
                raise self._short(SegmentUsageError("--limit needs a whole number")) from None
        view = self.session.history.select(
            failed=bool(v["failed"]),
            type=v["type"].text if v["type"] else None,
            event=v["event"].text if v["event"] else None,
            limit=limit,
            display_limit=self.display_limit,
            # --failed also lists what waits in the outbox, e.g. from before a restart
            extra=self.session.client.kept_results() if v["failed"] else (),
        )
        self._store(v["output"], view)
        return view


def _document(method: Callable[..., Any], spec: MagicSpec) -> None:
    method.__doc__ = spec.help


_document(SegmentMagics.segment_connect, CONNECT)
SegmentMagics.segment_form.__doc__ = FORM_HELP
SegmentMagics.segment_plan.__doc__ = PLAN_HELP
_document(SegmentMagics.segment_history, HISTORY)
_document(SegmentMagics.segment_retry, RETRY)
