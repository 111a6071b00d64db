"""Every call of a session, newest first, shared by the magics and the form."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..display import PLAIN, Cell, CellStatus, Rendered, Style, Table, plural
from ..errors import require
from .bulk_result import BulkResult
from .remedies import Remedy, next_steps
from .result import Outcome, Result

COLUMNS = (
    "time", "type", "event/name", "userId/anonymousId", "StatusCode",
    "OriginalStatusCode", "ErrorMessage", "messageId", "plan",
)  # fmt: skip


# What the table's headers say (records() and to_pandas() keep COLUMNS): short, so the
# table fits 1,000 px; the times are UTC, whatever the machine's zone, and say so.
SHOWN_AS = ("time (UTC)", "type", "event/name", "user", "Status", "HTTP", "ErrorMessage",
            "messageId", "plan")  # fmt: skip


def message_id_of(result: Outcome) -> str:
    return (result.message_id or "") if isinstance(result, Result) else ""


ERROR_SHOWN = 90  # characters of an error message in the history table


def _shorten(text: str) -> str:
    return text if len(text) <= ERROR_SHOWN else text[: ERROR_SHOWN - 1] + "…"


class Later:
    """What retries delivered after a call or a run first failed: single calls by
    messageId, runs by run id (how many of their kept messages)."""

    def __init__(self) -> None:
        self.message_ids: set[str] = set()
        self.runs: dict[str, int] = {}

    def note(self, result: Outcome) -> None:
        resent = getattr(result, "resent", None)
        if resent is None:
            return
        self.message_ids |= resent.message_ids
        for run_id, count in resent.runs.items():
            self.runs[run_id] = self.runs.get(run_id, 0) + count

    def delivered(self, result: Outcome) -> bool:
        """A failed call or run whose kept messages a later retry delivered."""
        if result.ok:
            return False
        if isinstance(result, BulkResult):
            kept = result.failed + result.rejected
            unsent = result.invalid + result.unsent
            return bool(kept and not unsent and self.runs.get(result.run_id, 0) >= kept)
        return message_id_of(result) in self.message_ids


class History:
    """A bounded, thread-safe log of results (and what later retries delivered)."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._items: deque[Outcome] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.later = Later()
        self.version = 0  # goes up with every call recorded: a viewer knows to look again

    def record(self, result: Outcome) -> None:
        with self._lock:
            self._items.append(result)
            self.later.note(result)
            self.version += 1

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Outcome]:
        """Newest first."""
        with self._lock:
            items = list(self._items)
        return reversed(items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def select(
        self,
        *,
        failed: bool = False,
        type: str | None = None,
        event: str | None = None,
        limit: int | None = None,
        display_limit: int = 20,
        extra: Iterable[Outcome] = (),
    ) -> HistoryView:
        """Newest first, filtered; ``extra`` adds results kept elsewhere (the outbox)
        that are not already in the history, in their place by time. ``failed`` leaves
        out what succeeded, and what a later retry delivered."""
        recorded = list(self)
        seen = {message_id_of(r) for r in recorded} - {""}
        candidates = recorded + [r for r in extra if message_id_of(r) not in seen]
        candidates.sort(key=lambda r: r.created_at, reverse=True)
        chosen = [
            r
            for r in candidates
            if (not failed or (not r.ok and not self.later.delivered(r)))
            and (type is None or r.type == type)
            and (event is None or r.label == event)
        ]
        if limit is not None:
            chosen = chosen[:limit]
        return HistoryView(chosen, display_limit, self.later)


def _row(result: Outcome, later: Later) -> dict[str, Any]:
    delivered_later = later.delivered(result)
    status = result.status_code
    error = result.error_message
    if delivered_later:
        error = f"delivered later, by a retry (first: {error})"
    return {
        "time": result.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "type": result.type + (" (dry run)" if result.dry_run else ""),
        "event/name": result.label,
        "userId/anonymousId": result.who,
        "StatusCode": status,
        "OriginalStatusCode": result.original_status_code,
        "ErrorMessage": error,
        "messageId": message_id_of(result),
        "plan": result.verdict,
    }


@dataclass(eq=False)
class HistoryView(Rendered):
    """A selection of the history: a table, a list of Results, or a DataFrame."""

    results: list[Outcome]
    display_limit: int = 20
    later: Later = field(default_factory=Later)

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[Outcome]:
        return iter(self.results)

    def __getitem__(self, index: int) -> Outcome:
        return self.results[index]

    def records(self) -> list[dict[str, Any]]:
        return [_row(r, self.later) for r in self.results]

    def to_pandas(self) -> Any:
        """A pandas DataFrame of the rows (needs pandas)."""
        pd = require("pandas", "to_pandas()", "audit")
        return pd.DataFrame(self.records(), columns=list(COLUMNS))

    to_dataframe = to_pandas

    def tables(self, style: Style = PLAIN) -> list[Table]:
        return [self.table(style)]

    def table(self, style: Style = PLAIN) -> Table:
        limit = self.display_limit if self.display_limit > 0 else len(self.results)
        shown = self.results[:limit]
        rows = []
        failed = set()
        for index, result in enumerate(shown):
            row = _row(result, self.later)
            good = result.ok or self.later.delivered(result)
            status: CellStatus = "muted" if result.dry_run and good else "ok" if good else "fail"
            if not good:
                failed.add(index)
            row["ErrorMessage"] = _shorten(row["ErrorMessage"])  # whole in records()
            code = "dry run" if result.dry_run and good else row["StatusCode"]
            cells = {
                "StatusCode": Cell(code, status=status),
                "messageId": Cell(row["messageId"], clip=True),
            }
            rows.append([cells.get(c, row[c]) for c in COLUMNS])
        more = next_steps((Remedy("show_all"),), style.phrase)[0]
        return Table(
            title=f"Segment history ({plural(len(self.results), 'call')}, newest first)",
            columns=SHOWN_AS,
            rows=rows,
            total=len(self.results),
            more=more,
            failed_rows=frozenset(failed),
            nowrap=frozenset({COLUMNS.index("time")}),
            wide=frozenset({COLUMNS.index("ErrorMessage")}),
        )

    def __repr__(self) -> str:
        return f"<HistoryView {plural(len(self.results), 'call')}>"
