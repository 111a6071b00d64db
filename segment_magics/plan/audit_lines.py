"""An export's files read line by line: for the row checker, and for the files and
lines DuckDB cannot read (cut short, not gzip, not UTF-8, over its line limit).

The lines are numbered as a text editor numbers them, so that what an audit lists
can be found; a UTF-8 byte order mark at a file's start is skipped, as DuckDB skips it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import orjson

from .audit_report import Tally
from .validate import PlanValidator


class Takes(Protocol):
    """What an audit asks for (:class:`.audit.Window`)."""

    def takes(self, message: dict[str, Any]) -> bool: ...


def file_lines(name: str) -> tuple[list[bytes], str]:
    """A file's lines, decompressed once when it is gzip, and what went wrong ("" when
    nothing did): of a gzip file cut short or damaged, only the complete lines."""
    try:
        data = Path(name).read_bytes()
    except OSError as exc:  # gone since it was listed, or not readable
        return [], f"the file could not be read ({exc.strerror or exc})"
    if not name.endswith(".gz"):
        return data.removeprefix(BOM).split(b"\n"), ""
    text, why = _inflated(data)
    lines = text.removeprefix(BOM).split(b"\n")
    if why == "the file is cut short":
        return lines[:-1], why  # the last line is incomplete
    return (lines, why) if text or not why else ([], why)


def _inflated(data: bytes) -> tuple[bytes, str]:
    """A gzip file's text, and what stopped the reading ("" when nothing did)."""
    parts: list[bytes] = []
    why = _inflate([data], parts)
    return b"".join(parts), why


def gzip_damage(name: str) -> str:
    """Why a gzip file is not whole ("" when it is), read a megabyte at a time and its
    text thrown away: for a DuckDB before 2.0, which reads a file cut short as if it
    ended there and says nothing."""
    try:
        handle = Path(name).open("rb")  # noqa: SIM115 - closed below, whatever happens
    except OSError as exc:
        return f"the file could not be read ({exc.strerror or exc})"
    with handle:
        return _inflate(iter(lambda: handle.read(1 << 20), b""), None)


def _inflate(chunks: Iterable[bytes], out: list[bytes] | None) -> str:
    """Inflate every member of gzip data given in chunks (``cat a.gz b.gz`` makes one
    file of two, which DuckDB and ``gzip -d`` read whole), keeping the text in ``out``
    (None: thrown away); what stopped it, "" when nothing did."""
    inflater = None
    for chunk in chunks:
        data = chunk
        while data:
            if inflater is not None and inflater.eof:  # the next member
                data = data.lstrip(b"\0")  # gzip allows zeros after a member
                if not data:
                    break
            if inflater is None or inflater.eof:
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                text = inflater.decompress(data)
            except zlib.error as exc:
                return f"bad gzip ({exc})"
            if out is not None:
                out.append(text)
            data = inflater.unused_data if inflater.eof else b""
    if inflater is not None and not inflater.eof:
        if out is not None:
            out.append(inflater.flush())
        return "the file is cut short"
    return ""


def reads_cut_files_whole() -> bool:
    """DuckDB before 2.0 reads a gzip file cut short as if it ended there, with no error
    (the newest for Python 3.10 is 1.5): such a file would be neither listed nor read
    to its last complete line."""
    import duckdb

    return int(duckdb.__version__.split(".")[0]) < 2


def whole_files(
    files: list[str], tally: Tally, validator: PlanValidator, window: Takes
) -> list[str]:
    """The gzip files that are whole; the others are listed and their complete lines
    checked row by row, as when DuckDB stops on them."""
    whole = []
    for name in files:
        if name.endswith(".gz") and gzip_damage(name):
            salvaged(name, tally, validator, window)
        else:
            whole.append(name)
    return whole


BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, which DuckDB skips at a file's start too


def file_by_rows(name: str, tally: Tally, validator: PlanValidator, window: Takes) -> None:
    """Every line of a file through the row checker; what is not JSON is listed."""
    lines, why = file_lines(name)
    if why:
        tally.bad_file(name, why)
    _check_lines(name, lines, tally, validator, window)


def salvaged(name: str, tally: Tally, validator: PlanValidator, window: Takes) -> None:
    """A file DuckDB could not read to its end: listed when it is damaged (not when
    only DuckDB stumbled, as on the zeros gzip allows after a member), and its complete
    lines checked row by row."""
    lines, why = file_lines(name)
    if why:
        tally.bad_file(name, f"{why} after line {len(lines)}")
    _check_lines(name, lines, tally, validator, window)


def list_bad_lines(name: str, tally: Tally) -> None:
    """List a file's lines that are not messages (DuckDB counted them, without their
    line numbers)."""
    lines, _ = file_lines(name)
    for number, line in enumerate(lines, 1):
        if line.strip():
            _message(line, name, number, tally)


def _check_lines(
    name: str, lines: list[bytes], tally: Tally, validator: PlanValidator, window: Takes
) -> None:
    for number, line in enumerate(lines, 1):
        message = _message(line, name, number, tally) if line.strip() else None
        if message is not None and window.takes(message):
            tally.observe(message, validator.check(message))


def _message(line: bytes, where: str, number: int, tally: Tally) -> dict[str, Any] | None:
    """The message on a line; None, and the line listed, when it is not JSON or not an
    object."""
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        tally.bad_line(where, number, f"not JSON ({str(exc).split(':', 1)[0]})")
        return None
    if not isinstance(message, dict):
        tally.bad_line(where, number, "not a message object")
        return None
    return message
