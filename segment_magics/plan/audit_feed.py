"""An export's text files streamed to DuckDB as Arrow strings, inflated by ISA-L.

DuckDB reads gzip with miniz and then splits the text as CSV: on the bench's million
events that was a third of an audit's CPU. Here ISA-L inflates each file (2-3x faster
than miniz, and it lets go of the GIL), NumPy finds the line ends, and the file's text
becomes one Arrow batch of lines without a copy, which DuckDB scans in place. Counted
with cachegrind (100,000 events, one thread), an audit took 14 % fewer instructions
(1.87 billion against 2.18 billion with DuckDB's reader).

The lines are the row checker's (:func:`.audit_lines.file_lines`): split at ``\\n``, a
byte order mark skipped at a file's start. Each keeps its ``\\n``, which JSON reads as
space; an empty line is joined to the one before it (as space), so that DuckDB never
parses it. A file that is not whole gzip, cannot be read, or is not UTF-8 is set aside,
with why, for the row checker, as when DuckDB's own reader stops on it.

Optional: without ``isal``, NumPy and pyarrow the audit reads with DuckDB's reader.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

from .audit_lines import BOM

LARGEST = 64 << 20  # a file larger than this (on disk) is left to DuckDB's own reader
DAMAGED, NOT_UTF8 = "damaged", "not UTF-8"  # why a file is set aside
SQL = "SELECT f, l FROM lines"  # the pass's source (:func:`.audit_pass.pass_sql`)
# DuckDB would build the join's table on a stream whose size it cannot know, which holds
# every line in memory; the events' table, on the join's right, is the one to build
KEEP_JOIN_SIDES = "build_side_probe_side"


def available() -> bool:
    """Whether ISA-L, NumPy and pyarrow are installed (the ``audit`` extra has them)."""
    try:
        import numpy  # noqa: F401
        import pyarrow  # noqa: F401
        from isal import igzip  # noqa: F401
    except ImportError:
        return False
    return True


def feedable(files: list[str]) -> list[str]:
    """The files to read here: none without the libraries, none too large to hold."""
    return [name for name in files if fits(name)] if available() else []


def fits(name: str) -> bool:
    """Whether a file is small enough to hold in memory while it is read."""
    return file_size(name) <= LARGEST


class Lines:
    """A chunk's files as an Arrow stream of lines (``f``: the file's number in the
    chunk, which DuckDB carries more cheaply than its name; ``l``: a line), one
    batch per file, for DuckDB to scan. After the scan, ``aside`` holds the files set
    aside as ``(name, why)``, and ``stopped`` what stopped the stream: an interrupt, which
    DuckDB reports only as an error in reading it."""

    def __init__(self, files: list[str]) -> None:
        self.files = files
        self.aside: list[tuple[str, str]] = []
        self.stopped: BaseException | None = None
        self._running: Generator[Any, None, None] | None = None

    def stream(self) -> Any:
        import pyarrow as pa

        schema = pa.schema([("f", pa.int32()), ("l", pa.large_string())])
        self._running = self._batches(schema)
        return pa.RecordBatchReader.from_batches(schema, self._running)

    def close(self) -> None:
        """Stop reading (after the scan, or when it was stopped)."""
        if self._running is not None:
            self._running.close()

    def _batches(self, schema: Any) -> Generator[Any, None, None]:
        """Each file inflated when DuckDB takes the next batch, in the thread that takes
        it: reading a file is a tenth of the work, and ISA-L lets go of the GIL. Threads
        of our own, handing over through a queue, measured slower (2 cores: 7 %, in 14
        pairs of fresh processes), and an executor slower still."""
        try:
            for number in range(len(self.files)):
                got = _batch(self.files, number, schema)
                if isinstance(got, tuple):
                    self.aside.append(got)
                elif got is not None:
                    yield got
        except BaseException as exc:  # Ctrl-C lands here when DuckDB's scan runs it
            self.stopped = exc
            raise


def _batch(files: list[str], number: int, schema: Any) -> Any:
    """One file's lines as a batch; ``(name, why)`` when it is set aside, None when it
    has no lines."""
    import numpy as np
    import pyarrow as pa
    from isal import igzip

    name = files[number]
    try:
        data = Path(name).read_bytes()
        text = igzip.decompress(data) if name.endswith(".gz") else data
    except Exception:  # any damage, or unreadable: the row checker says which
        return name, DAMAGED
    text = text.removeprefix(BOM)
    if not text.isascii():
        try:
            text.decode()
        except UnicodeDecodeError:
            return name, NOT_UTF8
    if not text:
        return None
    byte = np.frombuffer(text, np.uint8)
    ends = np.flatnonzero(byte == 10)
    starts = np.concatenate(([0], ends + 1))
    if starts[-1] != len(text):
        starts = np.append(starts, len(text))  # the last line, without its \n
    empty = np.flatnonzero((np.diff(starts) == 1) & (byte[starts[:-1]] == 10))  # just \n
    if len(empty):  # each joined to the line before it; a first one is left out
        keep = np.ones(len(starts), bool)  # (Arrow's first offset need not be 0)
        keep[empty] = False
        starts = starts[keep]
    count = len(starts) - 1
    lines = pa.LargeStringArray.from_buffers(
        count, pa.py_buffer(starts.astype(np.int64, copy=False)), pa.py_buffer(text)
    )
    at = pa.Array.from_buffers(pa.int32(), count, [None, pa.py_buffer(
        np.full(count, number, np.int32))])  # fmt: skip
    return pa.record_batch([at, lines], schema=schema)


def file_size(name: str) -> int:
    """A file's size on disk; 0 when it cannot be read (it is named when it is)."""
    try:
        return Path(name).stat().st_size
    except OSError:
        return 0  # set aside when it is read, with why
