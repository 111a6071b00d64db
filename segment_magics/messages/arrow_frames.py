"""Arrow tables and record batches (Spark's partitions among them) as chunks.

Scalar columns convert with ``to_pylist``, timestamps with one vectorized format,
missing cells come from Arrow's null bitmaps (and NaN, which pandas counts as
missing). Nested columns (lists, structs of plain values) are written as JSON by
Polars when it is installed and embedded as :class:`orjson.Fragment`: Arrow's own
conversion to Python objects costs more than the rest of a message.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from .chunks import Chunk, wire_times
from .jsonsafe import plain_decimal


class ChunkStream:
    """Arrow record batches that arrive one after another (a Spark partition), as chunks."""

    def __init__(self, batches: Iterable[Any]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[Chunk]:
        start = 0
        for batch in self.batches:
            chunk = arrow_chunk(batch, start)
            start += chunk.count
            yield chunk


def arrow_chunk(table: Any, start: int = 0) -> Chunk:
    """An Arrow table or record batch (a slice of one) as a chunk."""
    names = [str(n) for n in table.column_names]
    chunk = Chunk(start, table.num_rows, names, [], [], [])
    for index in range(table.num_columns):
        cells = table.column(index)
        column, gaps, strange, texts = arrow_column(cells)
        if _is_timestamp(cells.type):
            chunk.times.add(index)
            if cells.type.tz is None:  # naive: read by the run's policy
                chunk.naive[index] = cells.to_numpy(zero_copy_only=False).astype("datetime64[ms]")
        chunk.values.append(column)
        chunk.missing.append(gaps)
        chunk.odd.append(strange)
        if texts is not None:
            chunk.json[index] = texts
    return chunk


def arrow_slice(table: Any, start: int, rows: int) -> Any:
    """Rows ``start`` to ``start + rows`` of an Arrow table or record batch, with its
    nested columns copied out on their own. A slice of a list or struct column still
    holds the whole column's children, and converting it (Polars, ``to_pylist``) walks
    all of them: chunk by chunk, a table's conversion grew with the square of its rows
    (a 100,000-row table of orders spent 0.1 s of its 0.5 s there; 400,000 rows, 1.6 s)."""
    import pyarrow as pa

    part = table.slice(start, rows)
    nested = [i for i, f in enumerate(part.schema) if pa.types.is_nested(f.type)]
    if not nested:
        return part
    columns = list(part.columns)
    for i in nested:
        column = columns[i]
        pieces = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        if pieces:
            columns[i] = pa.concat_arrays(pieces)  # copies just the slice's own values
    return type(part).from_arrays(columns, schema=part.schema)


def arrow_column(
    column: Any,
) -> tuple[list[Any], list[bool] | None, list[bool] | None, list[str | None] | None]:
    """Values, missing cells, odd cells, and for nested columns written by Polars the
    JSON text of each cell (the values are then fragments of it)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_timestamp(kind):
        return (*wire_times(column.to_numpy(zero_copy_only=False)), None)
    missing = (
        column.is_null().to_numpy(zero_copy_only=False).tolist() if column.null_count else None
    )
    if is_extension(kind):
        return extension_cells(column), missing, None, None
    odd = None
    if pa.types.is_floating(kind):
        nan = pc.is_nan(column)
        if pc.any(nan).as_py():
            flags = nan.to_numpy(zero_copy_only=False)
            gaps = np.logical_or(flags, missing) if missing is not None else flags
            missing = np.asarray(gaps, dtype=bool).tolist()
        infinite = pc.is_inf(column)
        if pc.any(infinite).as_py():
            odd = infinite.to_numpy(zero_copy_only=False).tolist()
    if _nested(kind) and _plain_leaves(kind):
        texts = _json_texts(column)
        if texts is not None:
            import orjson

            fragment = orjson.Fragment
            cells = [None if t is None else fragment(t) for t in texts]
            return cells, missing, odd, texts
    if pa.types.is_decimal(kind):  # Spark's arithmetic on literals: sent as numbers
        return (
            [None if d is None else plain_decimal(d) for d in column.to_pylist()],
            missing,
            odd,
            None,
        )
    return column.to_pylist(), missing, odd, None


def extension_cells(column: Any) -> list[Any]:
    """An extension column's values as what they stand for. Its storage is not: a
    pandas period column stores ordinals (2024-01 is 648) and an interval column
    (left, right) pairs. pandas' own types become pandas' objects again, which the
    careful path names (as it names a Period in a list of dicts); others, such as
    Arrow's uuid, give what ``as_py`` gives."""
    if str(column.type.extension_name).startswith("pandas."):
        with contextlib.suppress(Exception):  # pandas missing, or the type unregistered
            return list(column.to_pandas().tolist())
    return list(column.to_pylist())


def is_extension(kind: Any) -> bool:
    import pyarrow as pa

    return isinstance(kind, pa.ExtensionType)


def _is_timestamp(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_timestamp(kind))


def _nested(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_struct(kind))


def _plain_leaves(kind: Any) -> bool:
    """Lists and structs of strings, numbers and booleans: their JSON is the same
    whoever writes it (dates, decimals, maps and binaries are left to Python)."""
    import pyarrow as pa

    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _plain_leaves(kind.value_type)
    if pa.types.is_struct(kind):
        return all(_plain_leaves(kind.field(i).type) for i in range(kind.num_fields))
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
    )


def _json_texts(column: Any) -> list[str | None] | None:
    """Each cell of a nested column as JSON text, written by Polars (None when Polars
    is not installed)."""
    if "polars" not in sys.modules:
        try:
            import polars  # noqa: F401 - only to learn whether it is there
        except ImportError:
            return None
    import polars as pl

    series = pl.from_arrow(column)
    assert isinstance(series, pl.Series)
    name = "v"
    encoded = (
        pl.DataFrame({name: series}).select(pl.struct(pl.col(name)).struct.json_encode())
    ).to_series()
    skip = len('{"v":')
    return [None if text is None else text[skip:-1] for text in encoded.to_list()]
