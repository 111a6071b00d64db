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
from .frames import Chunk, is_pandas, is_series, is_table, table_chunks
from .jsonsafe import checked, is_missing

is_dataframe = is_pandas  # a pandas DataFrame (Polars and Arrow are tables too)


def chunk_records(chunk: Chunk) -> list[dict[str, Any]]:
    """A chunk's rows as dicts of plain Python values (missing cells included as None)."""
    columns = range(len(chunk.names))
    return [{chunk.names[c]: chunk.cell(c, i) for c in columns} for i in range(chunk.count)]


def iter_rows(
    source: Any, columns: ColumnMap | None = None
) -> tuple[Iterator[tuple[Any, Mapping[str, Any]]], int | None, Any]:
    """(label, row) pairs read lazily, the row count when known, and DataFrame labels.

    A table (pandas, Polars, Arrow) is read a chunk of columns at a time; with
    ``columns``, its rows come as the call's arguments already.
    """
    table = table_chunks(source)
    if table is not None:
        chunks, total, labels = table

        def rows() -> Iterator[tuple[Any, Mapping[str, Any]]]:
            for chunk in chunks:
                records = columns.chunk_arguments(chunk) if columns else chunk_records(chunk)
                yield from zip(chunk_labels(chunk, labels), records, strict=True)

        return rows(), total, labels
    if is_series(source):  # a Series of dicts: its values, labelled by its index
        return zip(source.index, source.tolist(), strict=True), len(source), source.index
    refuse_unless_rows(source)
    total = len(source) if hasattr(source, "__len__") else None
    return enumerate(iter(source)), total, None


def rows_refusal(source: Any) -> ValidationError | None:
    """Why ``source`` cannot be read as rows (checked before a run starts), or None: a
    table (pandas, Polars, Arrow: read by :func:`table_chunks`) or an iterable of rows."""
    if is_table(source):
        return None
    try:
        refuse_unless_rows(source)
    except ValidationError as exc:
        return exc
    return None


def refuse_unless_rows(source: Any, name: str = "rows") -> None:
    """Refuse what is not rows, naming what it is: text (iterated, it would be rows of
    characters), one message (rows of its keys), or a value that holds no rows."""
    if isinstance(source, Mapping):
        alone = ", or send it on its own with a single call" if name == "rows" else ""
        raise ValidationError(name, f"one message (a dict) is not rows: put it in a list{alone}")
    if (
        source is None
        or isinstance(source, str | bytes | bytearray)
        or not hasattr(source, "__iter__")
    ):
        raise ValidationError(
            name, f"{_named(source)} is not rows: give a list of dicts (one per message or "
            "row), an iterator of them, or a pandas, Polars or Arrow DataFrame",
        )  # fmt: skip


def _named(value: Any) -> str:
    return "None" if value is None else f"a value of type {type(value).__name__}"


def chunk_labels(chunk: Chunk, labels: Any) -> Sequence[Any]:
    """The row labels of a chunk: the DataFrame's index, else the row positions. (A
    pandas index is read as a list: iterating over it runs Python code per label.)"""
    stop = chunk.start + chunk.count
    if labels is None:
        return range(chunk.start, stop)
    part = labels[chunk.start : stop]
    return part.tolist() if hasattr(part, "tolist") else part


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
        """The same mapping with dict defaults checked once for every row to share (a
        default for an object field, e.g. ``traits``, that is no dict: ValidationError)."""
        call = CALLS[self.kind]
        for key, value in self.defaults.items():
            if (
                key in call.names
                and call.field(key).kind == "object"
                and value is not None
                and (not isinstance(value, Mapping))
            ):
                raise ValidationError(
                    key,
                    f"a value for every row must be a dict, got {type(value).__name__}; "
                    "e.g. {'key': 'value'}",
                )
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
        if CALLS[self.kind].body is None:  # alias: no body; its other columns are not read
            if self.body_columns:
                raise ValidationError(
                    "body_columns", f"{self.kind} calls carry no properties or traits; "
                    "leave out body_columns",
                )  # fmt: skip
            return tuple(fields), ()
        if self.body_columns is not None:
            missing = [c for c in self.body_columns if c not in columns]
            if missing:
                raise ValidationError(missing[0], f"column {missing[0]!r} is not in the row")
            body = tuple(self.body_columns)
        else:
            body = tuple(c for c in columns if c not in used)
        return tuple(fields), body

    def written_body(self, columns: tuple[str, ...]) -> tuple[str, ...]:
        """The body columns a table may write as JSON itself (:mod:`.polars_frames`):
        none when a column is a field too, as each row then needs its value."""
        fields, body = self.cached_layout(columns)
        used = {column for _, column in fields}
        return () if used.intersection(body) else body

    def cached_layout(
        self, keys: tuple[str, ...]
    ) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
        """:meth:`layout`, worked out once per set of columns."""
        cached = self._layouts.get(keys)
        if cached is None:
            cached = self._layouts[keys] = self.layout(keys)
        return cached

    def chunk_arguments(self, chunk: Chunk) -> list[dict[str, Any]]:
        """The call arguments of every row of a chunk."""
        return [self.chunk_row(chunk, i) for i in range(chunk.count)]

    def chunk_row(self, chunk: Chunk, row: int) -> dict[str, Any]:
        """The call arguments of one row of a chunk (missing cells left out)."""
        fields, body_columns = self.cached_layout(tuple(chunk.names))
        position = {name: index for index, name in enumerate(chunk.names)}
        args = dict(self.defaults)
        for name, column in fields:
            index = position[column]
            gaps = chunk.missing[index]
            if gaps is None or not gaps[row]:
                value = chunk.cell(index, row)
                if not is_missing(value):
                    args[name] = value
        body_name = BODY.get(self.kind)
        if body_name is not None:
            body = {}
            for column in body_columns:
                index = position[column]
                gaps = chunk.missing[index]
                if gaps is None or not gaps[row]:
                    value = chunk.cell(index, row)
                    if not is_missing(value):
                        body[column] = value
            default = self.defaults.get(body_name)
            args[body_name] = {**default, **body} if default else body
        return args

    def arguments(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments of the call this row stands for."""
        fields, body_columns = self.cached_layout(tuple(row))
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
