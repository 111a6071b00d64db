"""Rows (DataFrame records, dicts) to call arguments: the column mapping for bulk sends.

Pure: every id/timestamp/... column is found by its Segment or snake_case name (or
an explicit column), every other column becomes a property (track, page, screen)
or a trait (identify, group), and missing cells (NaN, NA, NaT, None) are omitted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationError
from .calls import BODY, CALLS
from .jsonsafe import checked, is_missing
from .timestamps import WireTime

DATAFRAME_CHUNK = 5_000  # rows converted at a time: memory follows the chunk, not the frame


def is_dataframe(source: Any) -> bool:
    return (
        type(source).__module__.startswith("pandas")
        and hasattr(source, "to_dict")
        and hasattr(source, "index")
    )


def _column(series: Any) -> tuple[list[Any], bool]:
    """A column's values as plain Python objects, and whether any of them is missing.

    Datetime columns become the wire form (ISO 8601 UTC with milliseconds, NaT ->
    None), numpy scalars Python numbers (``tolist()``): vectorized, per column.
    """
    import numpy as np

    if getattr(series.dtype, "kind", "") == "M":
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        stamps = series.to_numpy(dtype="datetime64[ms]")
        missing = np.isnat(stamps)
        strings = np.datetime_as_string(stamps, unit="ms", timezone="UTC").tolist()
        text = list(map(WireTime, strings))
        if missing.any():
            for index in np.flatnonzero(missing):
                text[index] = None  # type: ignore[call-overload]
        return text, bool(missing.any())
    return series.tolist(), bool(series.isna().to_numpy().any())


def frame_records(frame: Any, start: int, stop: int) -> list[dict[str, Any]]:
    """Rows ``start:stop`` of a DataFrame as dicts of plain Python values.

    Column-wise and vectorized (much faster than ``to_dict("records")``).
    """

    part = frame.iloc[start:stop]
    columns = [str(c) if not isinstance(c, str) else c for c in part.columns]
    values = [_column(series)[0] for _, series in part.items()]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


_Columns = list[tuple[str, list[Any]]]  # (name, values) per column


def _rows(columns: _Columns, count: int) -> Iterator[tuple[Any, ...]]:
    """The columns' values row by row (empty tuples when there are no columns)."""
    if not columns:
        return iter([()] * count)
    return zip(*(values for _, values in columns), strict=True)


def iter_rows(
    source: Any, columns: ColumnMap | None = None
) -> tuple[Iterator[tuple[Any, Mapping[str, Any]]], int | None, Any]:
    """(label, row) pairs read lazily, the row count when known, and DataFrame labels.

    With ``columns``, a DataFrame's rows come as the call's arguments already
    (:meth:`ColumnMap.frame_arguments`), which is much faster than per-row mapping.
    """
    if is_dataframe(source):
        frame = source

        def frame_rows() -> Iterator[tuple[Any, Mapping[str, Any]]]:
            labels = frame.index
            for start in range(0, len(frame), DATAFRAME_CHUNK):
                stop = start + DATAFRAME_CHUNK
                if columns is not None:
                    records = columns.frame_arguments(frame, start, stop)
                else:
                    records = frame_records(frame, start, stop)
                yield from zip(labels[start:stop], records, strict=True)

        return frame_rows(), len(frame), frame.index
    table = arrow_table(source)
    if table is not None:
        return enumerate(_arrow_rows(table)), table.num_rows, None
    total = len(source) if hasattr(source, "__len__") else None
    return enumerate(iter(source)), total, None


def arrow_table(source: Any) -> Any | None:
    """An Arrow table for a polars DataFrame or an Arrow Table/RecordBatch (neither
    library is imported here); None for anything else."""
    module = type(source).__module__
    if module.startswith("polars") and hasattr(source, "to_arrow"):
        return source.to_arrow()
    if module.startswith("pyarrow") and hasattr(source, "num_rows") and hasattr(source, "slice"):
        return source
    return None


def _arrow_rows(table: Any) -> Iterator[dict[str, Any]]:
    """An Arrow table's rows, converted a chunk of columns at a time."""
    names = [str(n) for n in table.column_names]
    for start in range(0, table.num_rows, DATAFRAME_CHUNK):
        columns = table.slice(start, DATAFRAME_CHUNK).to_pydict()
        for row in zip(*(columns[n] for n in table.column_names), strict=True):
            yield dict(zip(names, row, strict=True))


@dataclass(frozen=True)
class ColumnMap:
    """How a row becomes a call: explicit column names and the body columns to keep."""

    kind: str
    rename: Mapping[str, str] = field(
        default_factory=dict
    )  # field -> column, e.g. user_id -> customer
    body_columns: Sequence[str] | None = None  # None: every column not used for a field
    defaults: Mapping[str, Any] = field(default_factory=dict)  # e.g. event, context for all rows
    _layouts: dict[tuple[str, ...], Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in CALLS:
            raise ValidationError("type", f"bulk sends take {', '.join(CALLS)}, got {self.kind!r}")
        fields = [f.name for f in CALLS[self.kind].column_fields]
        unknown = set(self.rename) - set(fields)
        if unknown:
            raise ValidationError(
                sorted(unknown)[0],
                f"{self.kind} rows have no such field; columns can name {', '.join(fields)}",
            )

    def checked_defaults(self, warnings: list[str]) -> ColumnMap:
        """The same mapping with dict defaults checked once for every row to share."""
        defaults = {
            key: checked(value, key, warnings) if isinstance(value, Mapping) else value
            for key, value in self.defaults.items()
        }
        return ColumnMap(self.kind, self.rename, self.body_columns, defaults)

    def layout(self, columns: Sequence[str]) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
        """For rows with these columns: (field, column) pairs and the body columns."""
        fields = []
        used: set[str] = set()
        for field_ in CALLS[self.kind].column_fields:
            name = field_.name
            explicit = self.rename.get(name)
            if explicit is not None:
                if explicit not in columns:
                    raise ValidationError(
                        explicit, f"column {explicit!r} (for {name}) is not in the row"
                    )
                candidates: tuple[str, ...] = (explicit,)
            else:
                candidates = field_.columns
            for column in candidates:
                if column in columns:
                    used.add(column)
                    fields.append((name, column))
                    break
        if self.body_columns is not None:
            missing = [c for c in self.body_columns if c not in columns]
            if missing:
                raise ValidationError(missing[0], f"column {missing[0]!r} is not in the row")
            body = tuple(self.body_columns)
        else:
            body = tuple(c for c in columns if c not in used)
        return tuple(fields), body

    def frame_arguments(self, frame: Any, start: int, stop: int) -> list[dict[str, Any]]:
        """The arguments of rows ``start:stop`` of a DataFrame, column by column.

        Columns with no missing cells are zipped into the body in one step; only
        the others are checked cell by cell.
        """
        part = frame.iloc[start:stop]
        names = [str(c) if not isinstance(c, str) else c for c in part.columns]
        fields, body_columns = self.layout(tuple(names))
        position = {name: index for index, name in enumerate(names)}

        def split(pairs: Sequence[tuple[str, str]]) -> tuple[_Columns, _Columns]:
            dense: _Columns = []
            sparse: _Columns = []
            for name, column in pairs:
                values, missing = _column(part.iloc[:, position[column]])
                (sparse if missing else dense).append((name, values))
            return dense, sparse

        dense_fields, sparse_fields = split(fields)
        dense_body, sparse_body = split([(c, c) for c in body_columns])
        body_name = BODY.get(self.kind)
        default_body = self.defaults.get(body_name) if body_name else None
        defaults = self.defaults
        field_names = [name for name, _ in dense_fields]
        body_names = [name for name, _ in dense_body]
        out = []
        rows = zip(_rows(dense_fields, len(part)), _rows(dense_body, len(part)), strict=True)
        for index, (field_row, body_row) in enumerate(rows):
            args = dict(defaults)
            args.update(zip(field_names, field_row, strict=False))
            for name, values in sparse_fields:
                value = values[index]
                if not is_missing(value):
                    args[name] = value
            if body_name is not None:
                body = dict(zip(body_names, body_row, strict=False))
                for name, values in sparse_body:
                    value = values[index]
                    if not is_missing(value):
                        body[name] = value
                args[body_name] = {**default_body, **body} if default_body else body
            out.append(args)
        return out

    def arguments(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments of the call this row stands for."""
        keys = tuple(row)
        cached = self._layouts.get(keys)
        if cached is None:
            cached = self._layouts[keys] = self.layout(keys)
        fields, body_columns = cached
        args = dict(self.defaults)
        for name, column in fields:
            value = row[column]
            if not is_missing(value):
                args[name] = value
        body_name = BODY.get(self.kind)
        if body_name is not None:
            body = {}
            for key in body_columns:
                value = row[key]
                if not is_missing(value):
                    body[str(key)] = value
            args[body_name] = {**args[body_name], **body} if body_name in args else body
        return args
