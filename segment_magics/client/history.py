"""Every call of a session, newest first, shared by the magics and the form."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..display import Cell, CellStatus, Rendered, Table, plural
from .result import Outcome, Result

COLUMNS = (
    "time", "type", "event/name", "userId/anonymousId", "StatusCode",
    "OriginalStatusCode", "ErrorMessage", "messageId", "plan",
)  # fmt: skip


def message_id_of(result: Outcome) -> str:
    return (result.message_id or "") if isinstance(result, Result) else ""


def _row(result: Outcome) -> dict[str, Any]:
    return {
        "time": result.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "type": result.type + (" (dry run)" if result.dry_run else ""),
        "event/name": result.label,
        "userId/anonymousId": result.who,
        "StatusCode": result.status_code,
        "OriginalStatusCode": result.original_status_code,
        "ErrorMessage": result.error_message,
        "messageId": message_id_of(result),
        "plan": result.verdict,
    }


ERROR_SHOWN = 90  # characters of an error message in the history table


def _shorten(text: str) -> str:
    return text if len(text) <= ERROR_SHOWN else text[: ERROR_SHOWN - 1] + "…"


class History:
    """A bounded, thread-safe log of Results."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._items: deque[Outcome] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def record(self, result: Outcome) -> None:
        with self._lock:
            self._items.append(result)

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
        that are not already in the history, after them."""
        recorded = list(self)
        seen = {message_id_of(r) for r in recorded} - {""}
        candidates = recorded + [r for r in extra if message_id_of(r) not in seen]
        chosen = [
            r
            for r in candidates
            if (not failed or not r.ok)
            and (type is None or r.type == type)
            and (event is None or r.label == event)
        ]
        if limit is not None:
            chosen = chosen[:limit]
        return HistoryView(chosen, display_limit)


@dataclass(eq=False)
class HistoryView(Rendered):
    """A selection of the history: a table, a list of Results, or a DataFrame."""

    results: list[Outcome]
    display_limit: int = 20

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[Outcome]:
        return iter(self.results)

    def __getitem__(self, index: int) -> Outcome:
        return self.results[index]

    def records(self) -> list[dict[str, Any]]:
        return [_row(r) for r in self.results]

    def to_pandas(self) -> Any:
        """A pandas DataFrame of the rows (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is in the test extras
            raise ImportError("to_pandas() needs pandas: pip install pandas") from exc
        return pd.DataFrame(self.records(), columns=list(COLUMNS))

    to_dataframe = to_pandas

    def table(self) -> Table:
        limit = self.display_limit if self.display_limit > 0 else len(self.results)
        shown = self.results[:limit]
        rows = []
        failed = set()
        for index, result in enumerate(shown):
            row = _row(result)
            status: CellStatus = "ok" if result.ok else "fail"
            if not result.ok:
                failed.add(index)
            row["ErrorMessage"] = _shorten(row["ErrorMessage"])  # whole in records()
            rows.append(
                [Cell(row[c], status=status) if c == "StatusCode" else row[c] for c in COLUMNS]
            )
        return Table(
            title=f"Segment history ({plural(len(self.results), 'call')}, newest first)",
            columns=COLUMNS,
            rows=rows,
            total=len(self.results),
            failed_rows=frozenset(failed),
            nowrap=frozenset(COLUMNS.index(c) for c in ("time", "messageId")),
            wide=frozenset({COLUMNS.index("ErrorMessage")}),
        )

    def __repr__(self) -> str:
        return f"<HistoryView {plural(len(self.results), 'call')}>"
