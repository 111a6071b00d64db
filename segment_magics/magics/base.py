"""What every family of magics shares: one error boundary, and how results are shown.

Each magic runs inside :func:`boundary`, which turns our errors into one-line
cell failures (or full tracebacks with ``short_errors = False``). Results are
shown through the shell's own formatters, which :func:`show_results` teaches to
draw them in the configured view with next steps phrased as magics.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics

from ..client import BatchResult, BulkResult, HistoryView, Outcome, Result
from ..client.scrub import clear_chain
from ..display import Style
from ..errors import SegmentError
from ..session import SegmentSession
from .call_site import usages
from .errors import SegmentCallFailed, SegmentMagicError, SegmentUsageError
from .parsing import Token
from .phrasing import magic_phrase
from .settings import SegmentSettings
from .values import Namespace, too_deep

F = TypeVar("F", bound=Callable[..., Any])
SHOWN_TYPES = (Result, BatchResult, BulkResult, HistoryView)  # drawn by the formatters below


def boundary(method: F) -> F:
    """The one error boundary of a magic: our errors fail the cell with one line.

    ``SegmentMagicError``s get the ``short_errors`` setting; other errors of ours
    (a plan that does not load, a bad value) become usage errors; anything else
    is a bug, shown in one line too unless ``short_errors`` is off.
    """

    @functools.wraps(method)
    def wrapper(self: MagicsBase, *args: Any, **kwargs: Any) -> Any:
        short = self.settings.short_errors
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            failure = _failure(exc, short)
            if failure is None:  # a bug, and its traceback was asked for
                raise
            # the frames under a magic hold its line, which may carry a key in a URL
            clear_chain(exc)
            del args, kwargs
            if failure is exc:
                raise
            raise failure from None

    return cast("F", wrapper)


def _failure(exc: Exception, short: bool) -> SegmentMagicError | None:
    """What a magic's error fails the cell with; None: let it through as it is."""
    if isinstance(exc, SegmentMagicError):
        return _shortened(exc, short)
    if isinstance(exc, SegmentError):
        return _shortened(SegmentUsageError(str(exc)), short)
    if isinstance(exc, RecursionError):
        return _shortened(too_deep("a value"), short)
    if not short:
        return None
    return _shortened(
        SegmentMagicError(
            f"internal error ({type(exc).__name__}: {exc}); nothing more was sent. "
            "%config SegmentMagics.short_errors = False shows the traceback"
        ),
        short,
    )


def _shortened(exc: SegmentMagicError, short: bool) -> SegmentMagicError:
    exc.short = short
    return exc


class MagicsBase(Magics):
    """A family of magics over the one session and settings of ``SegmentMagics``."""

    def __init__(self, shell: InteractiveShell | None, settings: SegmentSettings) -> None:
        super().__init__(shell=shell)
        self.settings = settings
        self._seen: dict[tuple[int, str, str], int] = {}  # calls per line in the running cell

    @property
    def session(self) -> SegmentSession:
        return self.settings.session

    @property
    def _shell(self) -> InteractiveShell:
        return cast("InteractiveShell", self.shell)

    def _namespace(self, local_ns: dict[str, Any] | None) -> Namespace:
        user_ns = self._shell.user_ns
        return Namespace(user_ns, local_ns if local_ns is not user_ns else None)

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

    def _finish(
        self, result: Outcome, output: Token | None, magic: str, line: str
    ) -> Outcome | None:
        """Store the result and show it once: a failed call shows its table and fails the
        cell; a call on its own line shows its table where it runs; the cell's last
        expression is left to IPython; an assigned or ``;``-ended call shows nothing."""
        self._store(output, result)
        if not result.ok:
            self._display(result)
            raise SegmentCallFailed(result, self.session_phrase)
        usage = self._usage(magic, line)
        if usage == "assigned":
            return result
        if line.rstrip().endswith(";"):
            return result if usage != "shown by IPython" else None
        if usage == "statement":
            self._display(result)
        return result

    @staticmethod
    def session_phrase(remedy: Any) -> str:
        return magic_phrase(remedy)

    def _usage(self, magic: str, line: str) -> str:
        """How this run of ``%magic line`` is used in the running cell (see call_site)."""
        raw = self._current_cell()
        if not raw:
            return "unknown"
        try:
            code = self._shell.transform_cell(raw)
        except Exception:
            return "unknown"
        found = usages(code, magic, line, str(self._shell.ast_node_interactivity))
        if not found:
            return "unknown"
        key = (self._shell.execution_count, magic, line)
        count = self._seen.get(key, 0)
        if not count:  # a new cell: forget the counts of earlier ones
            self._seen = {k: v for k, v in self._seen.items() if k[0] == key[0]}
        self._seen[key] = count + 1
        return found[min(count, len(found) - 1)]

    def _current_cell(self) -> str:
        """The raw text of the cell being run (history is not kept for every run)."""
        running = getattr(getattr(self._shell, "displayhook", None), "exec_result", None)
        raw = getattr(getattr(running, "info", None), "raw_cell", None)
        if isinstance(raw, str):
            return raw
        history = self._shell.history_manager
        return history.input_hist_raw[-1] if history and history.input_hist_raw else ""


def show_results(shell: InteractiveShell, style: Callable[[Any], Style]) -> None:
    """Draw results in this shell with ``style(result)`` (its view and its phrasing)."""
    formatter = shell.display_formatter
    if formatter is None:  # pragma: no cover - every InteractiveShell has one
        return
    html = formatter.formatters["text/html"]
    plain = formatter.formatters["text/plain"]
    for kind in SHOWN_TYPES:
        html.for_type(kind, lambda obj: obj.to_html(style(obj)))
        plain.for_type(kind, lambda obj, printer, cycle: printer.text(obj.to_text(style(obj))))


def forget_results(shell: InteractiveShell) -> None:
    """Undo :func:`show_results` (``%unload_ext``)."""
    formatter = shell.display_formatter
    if formatter is None:  # pragma: no cover
        return
    for name in ("text/html", "text/plain"):
        for kind in SHOWN_TYPES:
            formatter.formatters[name].pop(kind, None)
