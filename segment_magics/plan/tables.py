"""Tables of messages as dicts, a slice at a time: for audits, checks and inference.

pandas, Polars (eager or lazy), Arrow (tables, batches, streams), Spark and Dask
DataFrames, and lists or iterators of dicts. An exported message's nested values
may be columns of structs or JSON text; both read as the objects they hold, and
datetime and Decimal cells as the JSON a send writes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from ..errors import ValidationError
from ..messages.build import serialize
from ..messages.jsonsafe import is_missing, to_json_safe
from ..messages.naive_time import NaiveTime

SLICE_ROWS = 10_000  # rows of a table turned into dicts at a time (memory stays flat)
OBJECT_FIELDS = ("properties", "traits", "context", "integrations")  # a message's objects


def table_rows(source: Any) -> Iterator[Any]:
    """The rows of a table as dicts, a slice at a time: pandas, Polars (eager or lazy),
    Arrow (a table, a batch or a stream of batches), Spark and Dask (a partition at a
    time, on this machine); a list or an iterator of messages as they are."""
    module = type(source).__module__
    if module.startswith("pyspark"):
        for row in source.toLocalIterator():
            yield row.asDict(recursive=True)
    elif module.startswith("dask"):
        for part in source.to_delayed():
            yield from table_rows(part.compute())
    elif module.startswith("polars"):
        if hasattr(source, "collect_batches"):  # a LazyFrame, run in batches
            for frame in source.collect_batches(chunk_size=SLICE_ROWS):
                yield from frame.to_dicts()
        else:
            for frame in source.iter_slices(SLICE_ROWS):
                yield from frame.to_dicts()
    elif module.startswith("pyarrow"):
        if hasattr(source, "to_batches"):  # a table
            batches = source.to_batches(SLICE_ROWS)
        elif hasattr(source, "to_pylist"):  # one record batch
            batches = (source.slice(at, SLICE_ROWS) for at in range(0, len(source), SLICE_ROWS))
        else:  # a stream of record batches
            batches = source
        for batch in batches:
            yield from batch.to_pylist()
    elif hasattr(source, "to_dict") and hasattr(source, "columns"):  # pandas
        for start in range(0, len(source), SLICE_ROWS):
            yield from _pandas_records(source.iloc[start : start + SLICE_ROWS])
    elif hasattr(source, "to_dict") and hasattr(source, "index"):  # a pandas Series of dicts
        yield from source.tolist()
    elif isinstance(source, list | tuple) or (
        hasattr(source, "__next__") and not isinstance(source, str | bytes)
    ):
        yield from source
    else:
        raise ValidationError(
            "source",
            f"cannot read messages from a value of type {type(source).__name__}: give a "
            "path, a glob or a directory of exports, NDJSON or Parquet files, a pandas, "
            "Polars, Arrow, Spark or Dask DataFrame, or a list of messages",
        )


def _pandas_records(frame: Any) -> list[dict[Any, Any]]:
    """A pandas frame's rows as dicts, the values ``to_dict(orient="records")`` gives
    (NA as None), a column at a time: three times as fast (pandas' string columns
    iterate slowly, a value at a time). Columns of one name: as ``to_dict`` reads them."""
    import pandas as pd

    names = list(frame.columns)
    if not names or len(set(names)) != len(names):
        return list(frame.to_dict(orient="records"))
    columns = []
    for index in range(len(names)):
        column = frame.iloc[:, index]
        values = column.tolist()
        if isinstance(column.dtype, pd.api.extensions.ExtensionDtype):
            values = [None if value is pd.NA else value for value in values]
        columns.append(values)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def message_rows(source: Any) -> Iterator[Any]:
    """The messages of a table (or a list of dicts): nested columns, or JSON text in
    the object columns (``properties``, ``context``...) of rows that are messages (they
    have a ``type``; a flat row's text is sent as text, and read so). A field that is
    None is a field left out, as a send leaves it out."""
    structs = holds_structs(source)
    for row in table_rows(source):
        if not isinstance(row, dict):
            yield row
            continue
        message = {}
        parse = "type" in row
        if parse:
            row = nest_dotted(row)
        for key, value in row.items():
            if (parse and isinstance(value, str) and value[:1] in "{["
                    and key not in ("event", "name")):  # fmt: skip
                value = json_or_text(value)
            elif structs and isinstance(value, dict | list):
                value = without_nulls(value)
            elif value is not None and type(value).__module__ == "numpy":
                value = value.tolist() if hasattr(value, "tolist") else value
            if value is not None and value == value:  # NaN: a missing cell
                message[key] = _json_value(value, key)
        yield message


def holds_structs(source: Any) -> bool:
    """Whether a table's nested values are structs (Polars, Arrow, Spark), which hold a
    member that some rows lack as null in the others: such a null is a member left out
    (:func:`without_nulls`), as a null column is a field left out. pandas and Dask keep
    the objects they were given, and JSON text says what it holds: their nulls stay."""
    return type(source).__module__.startswith(("polars", "pyarrow", "pyspark"))


def without_nulls(value: Any) -> Any:
    """A struct's value without its null members, at every depth; a list keeps its
    null items (they are items, not members), as :func:`.audit_files.parquet_lines`
    keeps them."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def nest_dotted(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """A message whose objects were flattened into dotted columns, as ``json_normalize``
    (pandas, Polars) writes them, read as the message it was: ``properties.id`` is the
    ``id`` of its ``properties``, ``context.page.url`` nested twice. A missing cell is a
    member left out. A dotted column that would land on a value that is no object, or on
    a member the object already has, is left as it is, for the checks to name."""
    dotted = [key for key in row if isinstance(key, str) and "." in key
              and key.split(".", 1)[0] in OBJECT_FIELDS]  # fmt: skip
    if not dotted:
        return row
    nested = dict(row)
    made: set[int] = set()  # the objects built or copied here (the table's own stay as they are)
    for key in dotted:
        value = row[key]
        if is_missing(value):
            del nested[key]
            continue
        *parents, leaf = key.split(".")
        target: dict[str, Any] | None = nested
        for name in parents:
            assert target is not None
            inner = target.get(name)
            if inner is None or (not isinstance(inner, dict) and is_missing(inner)):
                inner = {}
            elif isinstance(inner, str) and inner[:1] == "{" and target is nested:
                inner = json_or_text(inner)
            if not isinstance(inner, dict):
                target = None
                break
            if id(inner) not in made:
                inner = dict(inner)
                made.add(id(inner))
            target[name] = inner
            target = inner
        if target is not None and leaf not in target:
            target[leaf] = value
            del nested[key]
    return nested


def json_or_text(text: str) -> Any:
    """A column's JSON text (an export's objects), read; text that is no JSON stays
    text, for the checks to name."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


_AS_UTC = NaiveTime.of("UTC")  # stored history: a time without a zone is UTC's


def _json_value(value: Any, key: str) -> Any:
    """A cell as the JSON a message holds, so that the row checker can read it: a
    datetime column (pandas, Polars, Spark) becomes the wire's UTC text, a Decimal a
    number, as a send would make them; what no send takes is checked as its text (the
    value alone: the object around it stays an object)."""
    try:
        serialize(value)
    except TypeError:
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {k: _json_value(v, key) for k, v in value.items()}  # only the odd leaf
        if isinstance(value, list | tuple):
            return [_json_value(v, key) for v in value]
        try:
            return to_json_safe(value, key, [], _AS_UTC)
        except ValidationError:  # (an integer beyond 64 bits is a number to the checks)
            return value if type(value) is int else str(value)
    return value
