"""Where calls go and what became of them: ``%segment_connect``, ``%segment_retry`` and
``%segment_history``."""

from __future__ import annotations

from IPython.core.magic import line_magic, magics_class, no_var_expand

from ..client import BulkResult, HistoryView, Outcome
from ..display import ConnectionSummary
from ..session import ConnectError
from .base import MagicsBase, boundary
from .errors import SegmentUsageError
from .specs import CONNECT, HISTORY, RETRY


@magics_class
class SegmentConnectionMagics(MagicsBase):
    """The connection, the outbox and the history of this session."""

    @no_var_expand
    @line_magic
    @boundary
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
    @boundary
    def segment_retry(self, line: str = "") -> Outcome | None:
        parsed = RETRY.parse(line)
        result = self.session.retry(rejected=bool(parsed.values["rejected"]))
        if result.ok and not result.rows_read and isinstance(result, BulkResult):
            waiting = result.waiting_elsewhere
            more = f"; {waiting} wait elsewhere (%segment_history --failed)" if waiting else ""
            print(f"Nothing to resend to {result.endpoint or 'this endpoint'}{more}.")
            self._store(parsed.values["output"], result)
            return None
        return self._finish(result, parsed.values["output"], RETRY.name, line)

    @no_var_expand
    @line_magic
    @boundary
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
                type=kind, event=event, limit=limit, display_limit=self.settings.display_limit
            )
        self._store(v["output"], view)
        return view


SegmentConnectionMagics.segment_connect.__doc__ = CONNECT.help
SegmentConnectionMagics.segment_history.__doc__ = HISTORY.help
SegmentConnectionMagics.segment_retry.__doc__ = RETRY.help
