"""Which files an audit's source names, and their messages one at a time.

A source is a path, a glob or a directory of Segment's export (``segment-logs/
<source-id>/<day as epoch ms>/*.gz``), NDJSON or Parquet files, or a list of them (as
``glob.glob`` gives). The audit checks the files in DuckDB passes (:mod:`.audit`);
``check``, ``infer`` and ``diff`` read the same files here, a message at a time.
"""

from __future__ import annotations

import datetime as dt
import glob
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ..display import plural
from ..errors import ValidationError, require
from .audit_documents import json_document
from .audit_duckdb import connect, ctrl_c
from .audit_lines import file_lines
from .audit_sql import sql_text
from .audit_window import Window
from .tables import OBJECT_FIELDS

TEXT_SUFFIXES = (".gz", ".json", ".ndjson", ".jsonl", ".txt")
BATCH = 10_000  # a Parquet file's rows taken from DuckDB at a time
_DAY_FOLDER = re.compile(r"^\d{12,14}$")  # segment-logs/<source>/<day as epoch ms>/
_REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)  # s3://, gs://, https://


def file_source(source: Any) -> str | list[str] | None:
    """A source that names files: a path, glob or directory, or a list of them (what
    ``glob.glob`` returns); None for anything else."""
    if isinstance(source, str | Path):
        return str(source)
    if (
        isinstance(source, list | tuple)
        and source
        and all(isinstance(item, str | Path) for item in source)
    ):
        return [str(item) for item in source]
    return None


def export_messages(
    source: str | list[str], window: Window | None = None
) -> Iterator[dict[str, Any]]:
    """The messages of an export's files, one at a time (for inferring a plan from it):
    lines that are not JSON objects are left out."""
    return (message for _, message in export_rows(source, window))


def export_rows(
    source: str | list[str], window: Window | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """:func:`export_messages`, each with where it was read: ``file:line``, or a
    Parquet file's ``file row n`` (counted from 1); a file in the folder given is
    named from that folder."""
    text, parquet = find_files(source, window or Window(None, None, None))
    folder = Path(source).expanduser() if isinstance(source, str) else None
    if folder is not None and not folder.is_dir():
        folder = None

    def where(name: str) -> str:
        return str(Path(name).relative_to(folder)) if folder is not None else name

    if parquet:
        duckdb = require("duckdb", "reading Parquet files", "audit")
        con = connect()
        for name in filter(nameable, parquet):  # one at a time: a file DuckDB cannot
            number, shown = 0, where(name)  # read (or name) is left out
            try:
                query = parquet_lines(con, f"[{sql_text(name)}]")
                with ctrl_c():
                    cursor = con.execute(query)
                while batch := _next(cursor):
                    for (line,) in batch:
                        number += 1
                        message = orjson.loads(line)
                        if window is None or window.takes(message):
                            yield f"{shown} row {number}", message
            except duckdb.Error:
                continue
    for name in text:
        shown = where(name)
        items = json_document(name)
        if items is not None:  # one document: its items are the messages
            for number, item in enumerate(items, 1):
                if isinstance(item, dict) and (window is None or window.takes(item)):
                    yield f"{shown} item {number}", item
            continue
        lines, _ = file_lines(name)
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(message, dict) and (window is None or window.takes(message)):
                yield f"{shown}:{number}", message


def nameable(name: str) -> bool:
    """Whether DuckDB can be given this file's name: one that is not UTF-8 (Python
    holds it with lone surrogates) cannot be put in its SQL."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def _next(cursor: Any) -> list[tuple[Any, ...]]:
    with ctrl_c():
        return list(cursor.fetchmany(BATCH))


def find_files(source: str | list[str], window: Window) -> tuple[list[str], list[str]]:
    """The text (NDJSON, gzipped or not) and Parquet files a source (or each of a list
    of them) names; export day folders received before the window are not opened. In a
    directory, what starts with ``.`` or ``_`` is left out, as Arrow's datasets leave it:
    a Mac's ``.DS_Store`` and ``._`` copies, ``.ipynb_checkpoints``, Spark's ``_SUCCESS``."""
    if not isinstance(source, str):
        every: tuple[dict[str, None], dict[str, None]] = ({}, {})  # in order, once each
        for one in source:
            for found_, into in zip(find_files(one, window), every, strict=True):
                into.update(dict.fromkeys(found_))
        return list(every[0]), list(every[1])
    path = Path(source).expanduser()
    if path.is_dir():
        found = [str(p) for p in sorted(path.rglob("*"))
                 if p.is_file() and not _hidden(p.relative_to(path))]  # fmt: skip
    elif path.exists():
        found = [str(path)]
    else:
        found = sorted(glob.glob(str(path), recursive=True))  # noqa: PTH207 - a user's pattern
        found = [f for f in found if Path(f).is_file()]
    if not found and _REMOTE.match(source):
        raise ValidationError(
            "source",
            f"{source!r} is not a local path; copy the export here first, e.g. "
            "aws s3 sync s3://BUCKET/segment-logs/SOURCE_ID ./export",
        )
    if not found:
        raise ValidationError("source", f"no files at {source!r}")
    usable = [f for f in found if f.endswith((*TEXT_SUFFIXES, ".parquet")) or not Path(f).suffix]
    if not usable:
        raise ValidationError(
            "source",
            f"no export files at {source!r} ({plural(len(found), 'other file')}); "
            f"an export's files end in {', '.join(TEXT_SUFFIXES)} or .parquet",
        )
    text: list[str] = []
    parquet: list[str] = []
    for name in usable:
        folder = Path(name).parent.name
        if _DAY_FOLDER.match(folder):
            day = dt.datetime.fromtimestamp(int(folder) / 1000, dt.timezone.utc).date()
            if not window.takes_day(day):
                continue
        (parquet if name.endswith(".parquet") else text).append(name)
    return text, parquet


def _hidden(path: Path) -> bool:
    return any(part.startswith((".", "_")) for part in path.parts)


def parquet_lines(con: Any, listed: str) -> str:
    """Parquet files' rows, each as the JSON of its message (one column, ``l``), read
    as a DataFrame's rows are (:func:`.tables.message_rows`):

    - a column that is null is a field left out, and so is a null member of a struct:
      a table holds a member that some messages lack as null in all the others, which
      read as JSON null made each of them a "wrong type";
    - in rows that are messages (they have a ``type``), an object field held as JSON
      text (as Spark and Dask keep them, and tables of exports often do) is the JSON it
      holds, its nulls kept; text that is no JSON stays text, for the checks to name.

    The JSON is written member by member from the columns' types (:func:`_json_of`):
    DuckDB's ``json_strip_nulls`` is newer than the DuckDB Python 3.10 gets (1.5), and
    stripping a whole row's JSON took twice as long."""
    rows = f"read_parquet({listed})"
    with ctrl_c():
        relation = con.sql(f"SELECT * FROM {rows}")
        columns = list(zip(relation.columns, relation.types, strict=True))
    names = {name for name, _ in columns}
    members = []
    for name, kind in columns:
        q = _column(name)
        if "type" in names and name in OBJECT_FIELDS and str(kind) == "VARCHAR":
            value = (f"(CASE WHEN left({q}, 1) IN ('{{', '[') AND json_valid({q}) "
                     f"THEN {q}::JSON ELSE to_json({q}) END)::VARCHAR")  # fmt: skip
        else:
            value = _json_of(q, kind)
        members.append(f"CASE WHEN {q} IS NOT NULL THEN {_key(name)} || {value} END")
    # concat_ws leaves out the members that are NULL
    return f"SELECT '{{' || concat_ws(',', {', '.join(members)}) || '}}' AS l FROM {rows}"


def _json_of(expr: str, kind: Any, depth: int = 0) -> str:
    """SQL for the JSON text of ``expr`` (of DuckDB type ``kind``, not NULL) with its
    structs' null members left out, at every depth; a list keeps its null items."""
    if kind.id == "struct":
        members = []
        for name, child in kind.children:
            value = f"struct_extract({expr}, {sql_text(name)})"
            members.append(f"CASE WHEN {value} IS NOT NULL THEN {_key(name)} || "
                           f"{_json_of(value, child, depth)} END")  # fmt: skip
        return f"('{{' || concat_ws(',', {', '.join(members)}) || '}}')"
    if kind.id in ("list", "array") and _holds_structs(kind.children[0][1]):
        item = f"x{depth}"
        inner = _json_of(item, kind.children[0][1], depth + 1)
        items = (
            f"list_transform({expr}, lambda {item}: CASE WHEN {item} IS NULL THEN 'null' "
            f"ELSE {inner} END)"
        )
        return f"('[' || array_to_string({items}, ',') || ']')"
    return f"to_json({expr})::VARCHAR"


def _holds_structs(kind: Any) -> bool:
    if kind.id == "struct":
        return True
    return kind.id in ("list", "array") and _holds_structs(kind.children[0][1])


def _key(name: str) -> str:
    """A member's name as JSON writes it, with its colon, as SQL text."""
    return sql_text(orjson.dumps(name).decode() + ":")


def _column(name: str) -> str:
    """A column's name as SQL quotes it."""
    return '"' + name.replace('"', '""') + '"'
