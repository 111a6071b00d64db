"""Polars writes a chunk's bodies: the properties (or traits) of every row as JSON text.

For Polars and Arrow tables whose body columns hold strings, numbers, booleans and
lists or structs of them, one Polars expression per chunk writes each row's body
object, leaving out its missing cells (null, and NaN as pandas reads it), so the
rows never become Python values at all. Profiled on the benchmark's orders, this
took a row from about 5 µs to under 3. Without Polars, or for other column types,
:mod:`.frames` converts the columns to Python values instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .arrow_frames import arrow_chunk, arrow_slice
from .chunks import CHUNK_ROWS, Chunk

BodyOf = Callable[[tuple[str, ...]], Sequence[str]]  # a table's columns -> its body columns


def _as_polars(source: Any) -> Any | None:
    """A Polars DataFrame as it is, or a slice of an Arrow table through ``from_arrow``;
    None when Polars cannot read it (or is not installed)."""
    module = type(source).__module__
    if module.startswith("polars") and hasattr(source, "to_arrow"):
        return source
    try:
        import polars as pl
    except ImportError:
        return None
    try:
        frame = pl.from_arrow(source)
    except Exception:  # a type Polars cannot read: the Arrow path reads it
        return None
    return frame if isinstance(frame, pl.DataFrame) else None


def json_body_chunks(source: Any, body_of: BodyOf) -> tuple[Iterator[Chunk], int] | None:
    """A Polars or Arrow table's chunks with their bodies written as JSON, and its row
    count; None when a body column holds something else (dates, decimals, binary:
    their JSON is Python's to write). An Arrow table is converted a chunk at a time,
    so that memory follows the chunk."""
    module = type(source).__module__
    if not module.startswith(("polars", "pyarrow")) or not hasattr(source, "slice"):
        return None
    head = _as_polars(_part(source, 0, 1))
    if head is None:
        return None
    body = list(body_of(tuple(head.columns)))
    if not body or not all(_plain(head.schema[name]) for name in body):
        return None
    other = [c for c in head.columns if c not in body]
    expression = _body_expression(head, body)
    rows = source.height if module.startswith("polars") else source.num_rows

    def chunks() -> Iterator[Chunk]:
        for start in range(0, rows, CHUNK_ROWS):
            part = _as_polars(_part(source, start, CHUNK_ROWS))
            assert part is not None  # its first rows were read the same way
            yield _chunk(part, start, other, body, expression)

    return chunks(), rows


def _part(source: Any, start: int, rows: int) -> Any:
    """A Polars frame's slice as it is (Polars slices without copying), an Arrow
    table's with its nested columns on their own (:func:`.arrow_slice`)."""
    if type(source).__module__.startswith("polars"):
        return source.slice(start, rows)
    return arrow_slice(source, start, rows)


def _chunk(part: Any, start: int, other: list[str], body: list[str], expression: Any) -> Chunk:
    chunk = arrow_chunk(part.select(other).to_arrow(), start)
    chunk.count = part.height  # (with no column but the body's, the selection has no rows)
    chunk.body_json = part.select(expression).to_series().to_list()
    chunk.lazy_cell = lambda name, row: lazy_cell(part, name, row)
    for name in body:
        series = part.get_column(name)
        flags = _odd_cells(series)
        odd = flags.to_list() if flags is not None and flags.any() else None
        chunk.names.append(name)
        chunk.values.append([])
        chunk.missing.append(None)  # the JSON leaves missing cells out itself
        chunk.odd.append(odd)
        chunk.lazy_columns.add(len(chunk.names) - 1)
    return chunk


def _odd_cells(series: Any) -> Any | None:
    """The cells whose JSON Polars would write but Python would not send as it is:
    infinity, and integers beyond 64 bits (Int128), which JSON parsers and Segment
    cannot read as numbers. Their rows take the careful path, which names them."""
    import polars as pl

    if series.dtype.is_float():
        return series.is_infinite()
    if series.dtype in (pl.Int128, pl.UInt128):
        return (series > _U64_MAX) | (series < _I64_MIN)
    return None


_U64_MAX, _I64_MIN = 2**64 - 1, -(2**63)  # what orjson writes as a JSON number


def _body_expression(frame: Any, body: list[str]) -> Any:
    """``{"a":1,"b":"x"}`` per row: each present cell as ``"name":value``, joined."""
    import polars as pl

    pieces = []
    for name in body:
        column = pl.col(name)
        present = column.is_not_null()
        if frame.schema[name].is_float():
            present = present & column.is_not_nan()
        # a one-field struct writes '{"name":value}': its inside is the piece
        piece = pl.struct(column).struct.json_encode().str.slice(1).str.head(-1)
        pieces.append(pl.when(present).then(piece))
    return pl.format("{{{}}}", pl.concat_str(pieces, separator=",", ignore_nulls=True))


def _plain(dtype: Any) -> bool:
    """Strings, numbers and booleans, and lists and structs of them (or all-null)."""
    import polars as pl

    if isinstance(dtype, pl.List | pl.Array):
        return _plain(dtype.inner)
    if isinstance(dtype, pl.Struct):
        return all(_plain(f.dtype) for f in dtype.fields)
    return bool(
        dtype == pl.String
        or dtype == pl.Boolean
        or dtype == pl.Null
        or dtype.is_integer()
        or dtype.is_float()
    )


def lazy_cell(part: Any, name: str, row: int) -> Any:
    """One cell of a Polars chunk as a Python value (for the rows the careful path
    builds)."""
    return part.get_column(name).slice(row, 1).to_list()[0]


def polars_chunks(source: Any, body_of: BodyOf | None) -> tuple[Iterator[Chunk], int] | None:
    """A Polars or Arrow table's chunks with JSON bodies, and its row count; None when
    this path does not apply (no Polars, no body, other column types)."""
    if body_of is None:
        return None
    return json_body_chunks(source, body_of)
