"""A chunk of a table: some of its rows, as columns of plain Python values.

Backfills from tables read a chunk at a time (:mod:`.frames`), so that memory follows
the chunk and not the table, and the per-row work is only putting values together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .timestamps import WireTime

CHUNK_ROWS = 5_000  # rows converted at a time


@dataclass
class Chunk:
    """Rows ``start .. start + count`` of a table, as columns of plain Python values.

    ``missing[c]`` marks the cells of column ``c`` that hold no value (None, NaN, NaT,
    NA); ``odd[c]`` marks cells that need the careful path (an infinite float). Either
    is None when the column has no such cell.
    """

    start: int
    count: int
    names: list[str]
    values: list[list[Any]]
    missing: list[list[bool] | None]
    odd: list[list[bool] | None]
    json: dict[int, list[str | None]] = field(default_factory=dict)  # column -> JSON texts
    times: set[int] = field(default_factory=set)  # columns of timestamps in the wire form
    body_json: list[str] | None = None  # each row's body object, written by Polars
    lazy_columns: set[int] = field(default_factory=set)  # columns read only on demand
    lazy_cell: Callable[[str, int], Any] | None = None  # (column name, row) -> its value

    def cell(self, column: int, row: int) -> Any:
        """One cell as a Python value (a nested cell written as JSON is read back, a
        timestamp keeps the mark of its wire form)."""
        if column in self.lazy_columns and self.lazy_cell is not None:
            return self.lazy_cell(self.names[column], row)
        texts = self.json.get(column)
        if texts is not None:
            import orjson

            text = texts[row]
            return None if text is None else orjson.loads(text)
        value = self.values[column][row]
        return WireTime(value) if column in self.times and value is not None else value


def wire_times(stamps: Any) -> tuple[list[Any], list[bool] | None, None]:
    """datetime64 values (UTC) as wire strings, NaT as None, a column at a time (Arrow
    formats them when it is installed: a few times faster than numpy)."""
    import numpy as np

    stamps = stamps.astype("datetime64[ms]")
    gaps = np.isnat(stamps)
    missing = gaps.tolist() if gaps.any() else None
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:
        text: list[Any] = np.datetime_as_string(stamps, unit="ms", timezone="UTC").tolist()
    else:  # "2024-01-15 10:30:00.000" -> "2024-01-15T10:30:00.000Z"
        spaced = pa.array(stamps).cast(pa.string())
        text = pc.binary_join_element_wise(
            pc.utf8_replace_slice(spaced, 10, 11, "T"), "Z", ""
        ).to_pylist()
    if missing is not None:
        for index in np.flatnonzero(gaps):
            text[index] = None
    return text, missing, None
