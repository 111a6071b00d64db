"""The call magics: ``%segment_track`` ... ``%segment_alias`` (line and cell) and
``%segment_form``. They parse the line, resolve notebook values, hand keyword
arguments to the session and show the Result it returns; they never build payloads
or talk HTTP. :class:`SegmentMagics` also owns the settings and the session that
the other families of magics share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import (
    line_cell_magic,
    line_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)

from ..client import BulkOptions, Outcome
from ..client.distributed import engine_of
from ..messages import CALL_KINDS, CALLS, DEFAULT_KIND
from ..messages.rows import rows_refusal
from ..session import SegmentSession
from .base import MagicsBase, boundary
from .errors import SegmentUsageError
from .parsing import MagicSpec, Parsed, Token
from .settings import SegmentSettings
from .specs import BULK_OPTIONS, CALL_SPECS, COLUMN_SUFFIX, FORM_HELP
from .values import Namespace, parse_cell_body, resolve_object, resolve_scalar


class SegmentMagics(SegmentSettings, MagicsBase):
    """Segment calls from notebook variables. Configure with ``%config SegmentMagics``."""

    def __init__(self, shell: InteractiveShell | None = None, **kwargs: Any) -> None:
        MagicsBase.__init__(self, shell, self)
        self._session = SegmentSession(self)
        self.matcher: Any = None  # the Tab-completion matcher registered with the shell

    # -- the call magics ----------------------------------------------------------
    def run_call(
        self, kind: str, line: str, cell: str | None, local_ns: dict[str, Any] | None
    ) -> Outcome | None:
        """Shared body of %segment_track, %segment_identify, ... (line and cell forms)."""
        spec = CALL_SPECS[kind]
        parsed = spec.parse(line)
        ns = self._namespace(local_ns)
        fields = self._fields(kind, spec, parsed, ns, cell)
        dry = bool(parsed.values["dry_run"])
        if parsed.values.get("source") is not None:
            if cell is not None:
                raise SegmentUsageError(f"%%{spec.name}: --from takes no cell body")
            result: Outcome = self._bulk(kind, parsed, ns, fields, dry)
        else:
            _no_backfill_options(spec, parsed)
            result = self.session.send(kind, dry_run=dry, **fields)
        return self._finish(result, parsed.values["output"], spec.name, line)

    def _bulk(
        self, kind: str, parsed: Parsed, ns: Namespace, defaults: dict[str, Any], dry: bool
    ) -> Outcome:
        """--from SOURCE: one call per row, through the session's send_many."""
        values = parsed.values
        source = resolve_object(values["source"], ns, "--from")
        not_rows = rows_refusal(source) if engine_of(source) is None else None
        if not_rows is not None:
            raise SegmentUsageError(f"--from {values['source'].text}: {not_rows.problem}")
        rename = {
            key.removesuffix(COLUMN_SUFFIX): token.text
            for key, token in values.items()
            if key.endswith(COLUMN_SUFFIX) and token is not None
        }
        options: dict[str, Any] = {"progress": self.progress}
        for option in BULK_OPTIONS:
            value = values.get(option.dest)
            if option.kind == "flag":
                if value:
                    options[option.dest] = True
            elif option.kind == "off":
                if value is False:
                    options[option.dest] = False
            elif option.dest != "source" and value is not None:
                options[option.dest] = _option_value(option.dest, value, ns)
        run = BulkOptions(kind=kind, columns=rename, defaults=defaults, dry_run=dry, **options)
        return self.session.send_many(source, run)

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

    # -- the form -----------------------------------------------------------------
    @no_var_expand
    @needs_local_scope
    @line_magic
    @boundary
    def segment_form(self, line: str = "", local_ns: Any = None) -> Any:
        words = line.split(None, 1)
        kind: str = DEFAULT_KIND
        if words and words[0] in CALL_SPECS:
            kind, line = words[0], words[1] if len(words) > 1 else ""
        spec = CALL_SPECS[kind]
        parsed = spec.parse(line)
        prefill = self._fields(kind, spec, parsed, self._namespace(local_ns), None)
        from ..widgets.form import SegmentForm  # ipywidgets only when a form is asked for

        form = SegmentForm(self.session.send, kind, **prefill)
        self._store(parsed.values["output"], form)
        return form


def _call_magic(kind: str) -> Callable[..., Outcome | None]:
    """%segment_<kind> and %%segment_<kind>: the six call magics differ only in ``kind``."""

    def magic(
        self: SegmentMagics, line: str = "", cell: str | None = None, local_ns: Any = None
    ) -> Outcome | None:
        return self.run_call(kind, line, cell, local_ns)

    magic.__name__ = magic.__qualname__ = f"segment_{kind}"
    magic.__doc__ = CALL_SPECS[kind].help
    decorated = no_var_expand(needs_local_scope(line_cell_magic(boundary(magic))))
    return cast("Callable[..., Outcome | None]", decorated)


def _no_backfill_options(spec: MagicSpec, parsed: Parsed) -> None:
    """A single call refuses what only a backfill reads, rather than ignore it."""
    given = [
        o.flags[-1]
        for o in spec.options
        if (o in BULK_OPTIONS or o.dest.endswith(COLUMN_SUFFIX))
        and parsed.values[o.dest] not in (None, o.kind == "off")
    ]
    if given:
        raise SegmentUsageError(
            f"%{spec.name}: {', '.join(given)} only applies with --from (one call per row of "
            "a DataFrame); this is a single call, so drop it or add --from ROWS"
        )


def _option_value(dest: str, token: Token, ns: Namespace) -> Any:
    """A bulk option's value from its token: numbers for --max-rate and --workers, a
    tuple for --columns, text for the rest."""
    flag = "--" + dest.replace("_", "-")
    if dest == "body_columns":
        return tuple(c.strip() for c in token.text.split(",") if c.strip())
    value = resolve_scalar(token, ns, flag)
    if dest in ("max_rate", "workers"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = 0.0
        if not number > 0:
            raise SegmentUsageError(f"{flag} needs a positive number, got {value!r}")
        return int(number) if dest == "workers" else number
    return str(value)


for _kind in CALL_KINDS:
    setattr(SegmentMagics, f"segment_{_kind}", _call_magic(_kind))
magics_class(SegmentMagics)
SegmentMagics.segment_form.__doc__ = FORM_HELP
