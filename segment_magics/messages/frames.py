"""Tables read a column at a time: pandas, Polars and Arrow as chunks of plain columns.

A backfill from a table never asks for one row at a time. Each chunk of rows is
converted column by column (``tolist``, vectorized timestamps, missing-cell masks
from the table's own null bitmaps), so the per-row work that is left is putting
values together. Polars and Arrow tables are read by :mod:`.polars_frames` (bodies
written as JSON) or :mod:`.arrow_frames`; pandas here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .arrow_frames import ChunkStream, arrow_chunk, arrow_column, arrow_slice, is_extension
from .chunks import CHUNK_ROWS, Chunk, wire_times
from .polars_frames import polars_chunks

__all__ = ["CHUNK_ROWS", "Chunk", "ChunkStream", "arrow_table", "is_pandas", "table_chunks"]


def is_pandas(source: Any) -> bool:
    """A pandas DataFrame (a Series is a column of values: read like a list)."""
    return (
        type(source).__module__.startswith("pandas")
        and hasattr(source, "columns")
        and hasattr(source, "index")
    )


def is_series(source: Any) -> bool:
    return (
        type(source).__module__.startswith("pandas")
        and hasattr(source, "index")
        and hasattr(source, "tolist")
        and not hasattr(source, "columns")
    )


def arrow_table(source: Any) -> Any | None:
    """An Arrow table for a Polars DataFrame or an Arrow Table/RecordBatch (neither
    library is imported here); None for anything else."""
    module = type(source).__module__
    if module.startswith("polars") and hasattr(source, "to_arrow"):
        return source.to_arrow()
    if module.startswith("pyarrow") and hasattr(source, "num_rows") and hasattr(source, "slice"):
        return source
    return None


def table_chunks(
    source: Any, body_of: Callable[[tuple[str, ...]], Sequence[str]] | None = None
) -> tuple[Iterator[Chunk], int | None, Any] | None:
    """A table's chunks, its row count and its row labels (a pandas index, else None);
    None when ``source`` is not a table. ``body_of`` names the body columns among a
    table's columns: Polars then writes each row's body as JSON where it can."""
    if isinstance(source, ChunkStream):
        return iter(source), None, None
    if is_pandas(source):
        return pandas_chunks(source), len(source), source.index
    parts = table_parts(source)
    if parts is not None:
        return _streamed(parts, body_of), None, None
    written = polars_chunks(source, body_of)
    if written is not None:
        return written[0], written[1], None
    table = arrow_table(source)
    if table is None:
        return None
    rows = table.num_rows
    chunks = (
        arrow_chunk(arrow_slice(table, start, CHUNK_ROWS), start)
        for start in range(0, rows, CHUNK_ROWS)
    )
    return chunks, rows, None


# the libraries whose objects are tables (read by columns or partitions, not iterated)
TABLE_MODULES = ("pandas", "polars", "pyarrow", "pyspark", "dask")


def is_table(source: Any) -> bool:
    return type(source).__module__.startswith(TABLE_MODULES)


def column_names(rows: Any) -> list[str] | None:
    """A table's column names, as text (read without running a lazy one); None for
    rows that are not a table."""
    if isinstance(rows, dict | list | tuple):
        return None
    names = getattr(rows, "column_names", None)  # Arrow (whose .columns are the arrays)
    if names is None and hasattr(rows, "collect_schema"):  # a LazyFrame: without running it
        names = rows.collect_schema().names()
    if names is None and hasattr(rows, "schema") and hasattr(rows, "read_next_batch"):
        names = rows.schema.names  # an Arrow stream of batches
    if names is None:
        names = getattr(rows, "columns", None)  # pandas, Polars, Spark, Dask
    return None if names is None else [str(name) for name in names]


def table_parts(source: Any) -> Iterator[Any] | None:
    """A table that arrives in parts, as those parts: a Polars LazyFrame (run a chunk
    at a time) or an Arrow stream of record batches; None for anything else."""
    module = type(source).__module__
    if module.startswith("polars") and hasattr(source, "collect_batches"):
        return iter(source.collect_batches(chunk_size=CHUNK_ROWS))
    if module.startswith("pyarrow") and hasattr(source, "read_next_batch"):
        return iter(source)
    return None


def _streamed(
    parts: Iterator[Any], body_of: Callable[[tuple[str, ...]], Sequence[str]] | None
) -> Iterator[Chunk]:
    """The chunks of each part in turn, numbered on from the rows before them."""
    start = 0
    for part in parts:
        found = table_chunks(part, body_of)
        if found is None:  # not expected: the parts of a table are tables
            continue
        for chunk in found[0]:
            chunk.start += start
            yield chunk
        start += found[1] or 0


# -- pandas ---------------------------------------------------------------------------
def pandas_chunks(frame: Any) -> Iterator[Chunk]:
    """A pandas frame's chunks. Each column is taken from the frame once and sliced for
    each chunk: slicing the frame, then taking each column of the slice, was 57 ms of
    the 196 that reading the bench's 100,000 rows took."""
    names = [c if isinstance(c, str) else str(c) for c in frame.columns]
    columns = [frame.iloc[:, index] for index in range(len(names))]
    for start in range(0, len(frame), CHUNK_ROWS):
        yield pandas_chunk(names, columns, start, min(len(frame), start + CHUNK_ROWS))


def pandas_chunk(names: list[str], columns: list[Any], start: int, stop: int) -> Chunk:
    chunk = Chunk(start, stop - start, names, [], [], [])
    for index, whole in enumerate(columns):
        series = whole.iloc[start:stop]
        column, gaps, strange = pandas_column(series)
        chunk.values.append(column)
        chunk.missing.append(gaps)
        chunk.odd.append(strange)
        if getattr(series.dtype, "kind", "") == "M":
            chunk.times.add(index)
            if getattr(series.dt, "tz", None) is None:  # naive: read by the run's policy
                chunk.naive[index] = series.to_numpy(dtype="datetime64[ms]")
    return chunk


def pandas_column(series: Any) -> tuple[list[Any], list[bool] | None, list[bool] | None]:
    """A column's values as plain Python objects, its missing cells and its odd ones.

    Datetime columns become the wire form (ISO 8601 UTC with milliseconds; naive
    ones as if UTC, until :meth:`Chunk.read_naive`), numpy scalars Python numbers
    (``tolist()``): vectorized, per column.
    """
    import numpy as np

    kind = getattr(series.dtype, "kind", "")
    arrow = getattr(series.array, "__arrow_array__", None)
    if arrow is not None and kind != "M":  # Arrow-backed (pandas' str dtype): read as Arrow
        converted = arrow()
        if not is_extension(converted.type):  # periods, intervals: pandas' objects below
            values, missing, odd, texts = arrow_column(converted)
            if texts is None:
                return values, missing, odd
    if kind == "M":
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return wire_times(series.to_numpy(dtype="datetime64[ms]"))
    gaps = series.isna().to_numpy()
    missing = gaps.tolist() if gaps.any() else None
    odd = None
    if kind == "f":
        infinite = np.isinf(series.to_numpy(dtype="float64", na_value=np.nan))
        odd = infinite.tolist() if infinite.any() else None
    return series.tolist(), missing, odd
