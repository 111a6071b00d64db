"""Who a bulk row is about: never invented without being asked.

Segment needs a userId or an anonymousId on every call but alias. A backfill whose
rows carry neither is refused before anything is sent, naming the columns it saw;
``anonymous=True`` (``--anonymous``) sends such rows with generated anonymousIds,
stable per run id and row so that a resumed run sends the same ones. Rows missing
ids among others are refused one by one (or, with ``anonymous``, given one) and
counted in the summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError
from ..messages import ColumnMap, call_of, is_missing
from ..messages.frames import column_names
from ..messages.ids import RowIds
from ..messages.rows import is_dataframe

ID_FIELDS = ("user_id", "anonymous_id")
_WIRE_IDS = ("userId", "anonymousId", "user_id", "anonymous_id")
HOW_TO_FIX = "name the column that holds one, or send such rows with generated anonymousIds"


class MissingIds(ValidationError):
    """A row with neither a userId nor an anonymousId, in a run that may not make one up."""

    def __init__(self) -> None:
        super().__init__("userId", "no userId or anonymousId; " + HOW_TO_FIX)


@dataclass
class Identities:
    """What a run does with a row that has no id: ``fallback`` (the session's id), a
    generated one (``anonymous``), or refuse it."""

    run_id: str
    anonymous: bool = False
    fallback: str | None = None
    generated: int = 0  # rows sent with a generated anonymousId

    def __post_init__(self) -> None:
        self._ids = RowIds(f"{self.run_id}/anonymousId") if self.anonymous else None

    def fill(self, args: dict[str, Any], position: int) -> None:
        """Give ``args`` (call arguments) an anonymousId if it needs one, or refuse."""
        if given(args.get("user_id")) or given(args.get("anonymous_id")):
            return
        if self.fallback is not None:
            args["anonymous_id"] = self.fallback
        elif self._ids is not None:
            args["anonymous_id"] = self._ids(position)
            self.generated += 1
        else:
            raise MissingIds


def given(value: Any) -> bool:
    """An id is given unless it is missing or blank (0 is an id)."""
    if value is None or is_missing(value):
        return False
    return not (isinstance(value, str) and not value.strip())


def _needs_no_id(kind: object) -> bool:
    """Calls that identify nobody by userId/anonymousId (alias: previousId and userId)."""
    call = call_of(kind)
    return call is not None and not call.takes_anonymous_id


def _has_id(row: Any) -> bool:
    return isinstance(row, Mapping) and (
        _needs_no_id(row.get("type")) or any(given(row.get(k)) for k in _WIRE_IDS)
    )


def refusal(
    rows: Any, kind: str | None, mapping: ColumnMap | None, defaults: Mapping[str, Any],
    names: list[str] | None = None,
) -> str | None:  # fmt: skip
    """Why the run cannot start (no row can have an id), or None. DataFrames are
    checked by column, lists until the first row with an id; iterators are read
    lazily, so their rows are refused one by one instead."""
    if _needs_no_id(kind) or any(given(defaults.get(name)) for name in ID_FIELDS):
        return None
    names = names if names is not None else column_names(rows)
    if names is not None:  # a table: its columns say whether a row can have an id
        problem = columns_refusal(names, kind, mapping, defaults)
        if problem is not None or not is_dataframe(rows):
            return problem
        columns = _id_columns(names, mapping)
        if not len(rows) or any(rows[c].notna().any() for c in columns):
            return None
        return _message(f"every row's {' and '.join(columns)} is empty", names)
    if not isinstance(rows, Sequence) or isinstance(rows, str | bytes) or not rows:
        return None
    if mapping is None:
        if any(_has_id(row) for row in rows):
            return None
    elif any(
        isinstance(row, Mapping) and any(given(mapping.arguments(row).get(n)) for n in ID_FIELDS)
        for row in rows
    ):
        return None
    first = rows[0]
    return _message(
        "no row has a userId or anonymousId", list(first) if isinstance(first, Mapping) else []
    )


def _id_columns(names: list[str], mapping: ColumnMap | None) -> list[str]:
    if mapping is None:
        return [c for c in names if c in _WIRE_IDS]
    fields, _ = mapping.layout(tuple(names))
    return [column for name, column in fields if name in ID_FIELDS]


def columns_refusal(
    names: list[str], kind: str | None, mapping: ColumnMap | None, defaults: Mapping[str, Any]
) -> str | None:
    """Why no row of a table with these columns can have an id, or None (for frames
    whose values stay on workers, the columns are all that is checked up front)."""
    if _needs_no_id(kind) or any(given(defaults.get(name)) for name in ID_FIELDS):
        return None
    if _id_columns(names, mapping):
        return None
    return _message("no column gives a userId or anonymousId", names)


def _message(problem: str, columns: list[str]) -> str:
    seen = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
    return f"{problem} (columns: {seen or 'none'}); nothing was sent: {HOW_TO_FIX}"
