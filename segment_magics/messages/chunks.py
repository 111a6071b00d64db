"""A chunk of a table: some of its rows, as columns of plain Python values.

Backfills from tables read a chunk at a time (:mod:`.frames`), so that memory follows
the chunk and not the table, and the per-row work is only putting values together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .naive_time import DEFAULT, NaiveTime
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
    # Columns of datetimes without a time zone, as datetime64[ms], until they are read
    # by the run's ``naive_timezone`` (:meth:`read_naive`); their cells are naive.
    naive: dict[int, Any] = field(default_factory=dict)
    notes: dict[int, list[Any]] = field(default_factory=dict)  # column -> each cell's note

    def cell(self, column: int, row: int) -> Any:
        """One cell as a Python value (a nested cell written as JSON is read back, a
        timestamp keeps the mark of its wire form, a naive one is a naive datetime)."""
        naive = self.naive.get(column)
        if naive is not None:
            stamp = naive[row]
            return None if stamp != stamp else stamp.astype("datetime64[us]").item()
        if column in self.lazy_columns and self.lazy_cell is not None:
            return self.lazy_cell(self.names[column], row)
        texts = self.json.get(column)
        if texts is not None:
            import orjson

            text = texts[row]
            return None if text is None else orjson.loads(text)
        value = self.values[column][row]
        return WireTime(value) if column in self.times and value is not None else value

    def read_naive(self, naive: NaiveTime | None) -> None:
        """Read the naive columns by ``naive`` (default: the SDK's guess), at once: they
        become UTC wire times, and ``notes`` says how each cell was read."""
        for column, stamps in self.naive.items():
            utc, notes = (naive or DEFAULT).read_column(stamps, self.names[column])
            self.values[column] = wire_times(utc)[0]
            self.times.add(column)
            self.notes[column] = notes
        self.naive = {}

    def row_notes(self, row: int) -> tuple[str, ...]:
        """How the naive values of a row were read."""
        return tuple(n[row] for n in self.notes.values() if n[row] is not None)


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
