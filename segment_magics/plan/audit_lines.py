"""An export's files read line by line: for the row checker, and for the files and
lines DuckDB cannot read (cut short, not gzip, not UTF-8, over its line limit).

The lines are numbered as a text editor numbers them, so that what an audit lists
can be found; a UTF-8 byte order mark at a file's start is skipped, as DuckDB skips it.
"""

from __future__ import annotations

import zlib
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
        return data.removeprefix(_BOM).split(b"\n"), ""
    text, why = _inflated(data)
    lines = text.removeprefix(_BOM).split(b"\n")
    if why == "the file is cut short":
        return lines[:-1], why  # the last line is incomplete
    return (lines, why) if text or not why else ([], why)


def _inflated(data: bytes) -> tuple[bytes, str]:
    """Every member of a gzip file (``cat a.gz b.gz`` makes one file of two, which
    DuckDB and ``gzip -d`` read whole), and what stopped the reading, if anything."""
    parts: list[bytes] = []
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            parts.append(inflater.decompress(data))
        except zlib.error as exc:
            return b"".join(parts), f"bad gzip ({exc})"
        if not inflater.eof:
            parts.append(inflater.flush())
            return b"".join(parts), "the file is cut short"
        data = inflater.unused_data.lstrip(b"\0")  # gzip allows zeros after a member
    return b"".join(parts), ""


def gzip_damage(name: str) -> str:
    """Why a gzip file is not whole ("" when it is), as :func:`_inflated` would say,
    inflated a megabyte at a time and thrown away: for a DuckDB before 2.0, which reads a
    file cut short as if it ended there and says nothing."""
    try:
        handle = Path(name).open("rb")  # noqa: SIM115 - closed below, whatever happens
    except OSError as exc:
        return f"the file could not be read ({exc.strerror or exc})"
    with handle:
        inflater = None
        data = b""
        while True:
            if not data:
                data = handle.read(1 << 20)
                if not data:
                    return "" if inflater is None or inflater.eof else "the file is cut short"
            if inflater is None or inflater.eof:  # a member begins (zeros may come first)
                data = data.lstrip(b"\0")
                if not data:
                    continue
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                inflater.decompress(data)
            except zlib.error as exc:
                return f"bad gzip ({exc})"
            data = inflater.unused_data if inflater.eof else b""


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


_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, which DuckDB skips at a file's start too


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
