"""Where calls go and what became of them: ``%segment_connect``, ``%segment_retry`` and
``%segment_history``."""

from __future__ import annotations

from IPython.core.magic import line_magic, magics_class, no_var_expand

from ..client import BulkResult, HistoryView, Outcome
from ..display import ConnectionSummary, plural
from ..messages import CALL_KINDS
from ..session import ConnectError
from .base import MagicsBase, boundary
from .errors import SegmentUsageError
from .specs import CONNECT, HISTORY, RETRY

# what --type can name: the calls, a backfill of Segment dicts, a resend of the outbox
HISTORY_TYPES = (*CALL_KINDS, "messages", "resend")


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
        v = parsed.values
        kept_for = v["kept_for"].text if v["kept_for"] is not None else None
        if v["discard"]:
            run_id = v["run_id"].text if v["run_id"] is not None else None
            self._discard(kept_for, run_id, bool(v["rejected"]), bool(v["yes"]))
            return None
        if v["run_id"] is not None or v["yes"]:
            raise SegmentUsageError("%segment_retry: --run-id and --yes go with --discard")
        result = self.session.retry(rejected=bool(v["rejected"]), kept_for=kept_for)
        if result.ok and not result.rows_read and isinstance(result, BulkResult):
            print(f"Nothing to resend to {result.endpoint or 'this endpoint'}."
                  + "".join(_elsewhere(result.waiting_for, result.rejected_here)))  # fmt: skip
            self._store(v["output"], result)
            return None
        return self._finish(result, v["output"], RETRY.name, line)

    def _discard(self, kept_for: str | None, run_id: str | None, rejected: bool,
                 yes: bool) -> None:  # fmt: skip
        """Say what goes, ask, then remove it."""
        which = {"kept_for": kept_for, "run_id": run_id, "rejected": rejected}
        counts = self.session.kept_counts(**which)
        total = sum(counts.values())
        if not total:
            print("Nothing in the outbox matches; nothing was removed.")
            return
        kind = "rejected message" if rejected else "message"
        places = ", ".join(f"{n:,} for {where}" for where, n in counts.items())
        run = f" of run {run_id}" if run_id else ""
        print(f"This removes {plural(total, kind)}{run} from the outbox ({places}); "
              "they will not be sent.")  # fmt: skip
        if not yes:
            answer = input("Remove them? [y/N] ").strip().lower()
            if answer not in ("y", "yes"):
                print("Nothing was removed.")
                return
        removed = self.session.discard(**which)
        print(f"Removed {plural(removed, 'message')}.")

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
                limit = 0
            if limit < 1:
                raise SegmentUsageError(
                    f"%segment_history --limit: {v['limit'].text!r} is not a whole number of "
                    "1 or more, e.g. --limit 20"
                )
        kind = v["type"].text.lower() if v["type"] else None
        if kind is not None and kind not in HISTORY_TYPES:
            raise SegmentUsageError(
                f"%segment_history --type: {kind!r} is not a call; use one of "
                f"{', '.join(HISTORY_TYPES)}"
            )
        event = v["event"].text if v["event"] else None
        if v["failed"]:
            view = self.session.failed(type=kind, event=event, limit=limit)
        else:
            view = self.session.calls(type=kind, event=event, limit=limit)
        self._store(v["output"], view)
        return view


def _elsewhere(waiting: dict[str, int], rejected: int) -> list[str]:
    """What else waits, and the magic that resends it here."""
    lines = [
        f" {plural(n, 'message')} {_wait(n)} for {where}: %segment_retry --kept-for {where} "
        "resends them here (--discard removes them)."
        for where, n in waiting.items()
    ]
    if rejected:
        lines.append(
            f" {plural(rejected, 'rejected message')} {_wait(rejected)} here: "
            "%segment_retry --rejected resends them once fixed."
        )
    return lines


def _wait(count: int) -> str:
    return "waits" if count == 1 else "wait"


SegmentConnectionMagics.segment_connect.__doc__ = CONNECT.help
SegmentConnectionMagics.segment_history.__doc__ = HISTORY.help
SegmentConnectionMagics.segment_retry.__doc__ = RETRY.help
