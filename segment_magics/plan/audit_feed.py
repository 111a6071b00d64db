"""An export's text files streamed to DuckDB as Arrow strings, inflated by ISA-L.

DuckDB reads gzip with miniz and then splits the text as CSV: on the bench's million
events that was a third of an audit's CPU. Here threads inflate each file with ISA-L
(which lets go of the GIL), NumPy finds the line ends, and the file's text becomes one
Arrow batch of lines without a copy, which DuckDB scans in place while the next files
are inflated. On the bench's million events, in fresh processes taking turns with
DuckDB's own reader, the audit took 8.5 % less time (the median of 16 pairs; faster in
14) and 190 MB at most, flat on ten times the events.

The lines are the row checker's (:func:`.audit_lines.file_lines`): split at ``\\n``, a
byte order mark skipped at a file's start. Each keeps its ``\\n``, which JSON reads as
space; an empty line is joined to the one before it (as space), so that DuckDB never
parses it. A file that is not whole gzip, cannot be read, or is not UTF-8 is set aside,
with why, for the row checker, as when DuckDB's own reader stops on it.

Optional: without ``isal``, NumPy and pyarrow the audit reads with DuckDB's reader.
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LARGEST = 64 << 20  # a file larger than this (on disk) is left to DuckDB's own reader
AHEAD = 8  # files inflated ahead of the one DuckDB reads, per thread...
AHEAD_BYTES = 64 << 20  # ...and at most this much of them on disk (the text is held)
_BOM = b"\xef\xbb\xbf"
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
    """Whether a file is small enough to hold in memory while it is read, and its name
    is text Arrow can hold (a name that is not UTF-8 is left to DuckDB's reader)."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return _size(name) <= LARGEST


class Lines:
    """A chunk's files as an Arrow stream of lines (``f``: the file, ``l``: a line), one
    batch per file, for DuckDB to scan. After the scan, ``aside`` holds the files set
    aside as ``(name, why)``, and ``stopped`` what stopped the stream: an interrupt, which
    DuckDB reports only as an error in reading it."""

    def __init__(self, files: list[str]) -> None:
        self.files = files
        self.aside: list[tuple[str, str]] = []
        self.stopped: BaseException | None = None
        self._running: Iterator[Any] | None = None

    def stream(self) -> Any:
        import pyarrow as pa

        schema = pa.schema([("f", pa.dictionary(pa.int32(), pa.string())),
                            ("l", pa.large_string())])  # fmt: skip
        self._running = self._batches(schema)
        return pa.RecordBatchReader.from_batches(schema, self._running)

    def close(self) -> None:
        """Stop reading (after the scan, or when it was stopped): the threads end."""
        if self._running is not None:
            self._running.close()  # type: ignore[attr-defined]

    def _batches(self, schema: Any) -> Iterator[Any]:
        """Threads inflate the files, in any order (DuckDB needs none), into a queue: the
        next batch then costs DuckDB's thread one ``get``. Handing out each file from
        here, through an executor, held its scan half a millisecond a file (measured)."""
        work = None
        try:
            work = _Work(self, _strings(self.files), schema)
            for _ in self.files:
                size, got = work.done.get()
                work.took(size)
                if isinstance(got, BaseException):
                    raise got  # a fault of ours in a thread, not a file's
                if isinstance(got, tuple):
                    self.aside.append(got)
                elif got is not None:
                    yield got
        except BaseException as exc:  # Ctrl-C lands here when DuckDB's scan runs it
            self.stopped = exc
            raise
        finally:  # done, or stopped early: the threads end
            if work is not None:
                work.stop()


class _Work:
    """Threads that each take the next file and put its batch (or why it is set aside)
    in ``done``, while at most ``AHEAD`` batches a thread, and ``AHEAD_BYTES`` of files
    on disk, wait there to be taken."""

    def __init__(self, owner: Lines, names: Any, schema: Any) -> None:
        self.owner = weakref.ref(owner)
        self.files, self.names, self.schema = owner.files, names, schema
        self.sizes = [_size(name) for name in self.files]
        self.done: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self.next = 0  # the next file to read
        self.held = self.waiting = 0  # bytes (on disk) and batches read, not yet taken
        self.stopping = False
        self.room = threading.Condition()
        count = os.cpu_count() or 1  # (one thread per two cores measured no faster)
        self.most = AHEAD * count
        self.threads = [threading.Thread(target=self._run, name=f"audit-inflate-{n}",
                                         daemon=True) for n in range(count)]  # fmt: skip
        for thread in self.threads:
            thread.start()

    def _may_go_on(self) -> bool:
        if self.stopping or self.next >= len(self.files):
            return True  # (to end)
        size = self.sizes[self.next]
        return self.waiting < self.most and (not self.held or self.held + size <= AHEAD_BYTES)

    def _run(self) -> None:
        while True:
            with self.room:
                while not self.room.wait_for(self._may_go_on, timeout=0.05):
                    if self.owner() is None:  # the stream is gone, never closed (Ctrl-C)
                        return
                if self.stopping or self.next >= len(self.files):
                    return
                number, self.next = self.next, self.next + 1
                size = self.sizes[number]
                self.held += size
                self.waiting += 1
            try:
                got = _batch(self.files, number, self.names, self.schema)
            except BaseException as exc:  # handed to the reader, which raises it
                got = exc
            self.done.put((size, got))

    def took(self, size: int) -> None:
        with self.room:
            self.held -= size
            self.waiting -= 1
            self.room.notify_all()

    def stop(self) -> None:
        self.stopping = True  # first: the threads see it within 50 ms, even unwoken
        with self.room:
            self.room.notify_all()
        for thread in self.threads:
            thread.join()


def _batch(files: list[str], number: int, names: Any, schema: Any) -> Any:
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
    text = text.removeprefix(_BOM)
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
        count, pa.py_buffer(starts.astype(np.int64)), pa.py_buffer(text)
    )
    at = pa.Array.from_buffers(pa.int32(), count, [None, pa.py_buffer(
        np.full(count, number, np.int32))])  # fmt: skip
    return pa.record_batch([pa.DictionaryArray.from_arrays(at, names), lines], schema=schema)


def _size(name: str) -> int:
    try:
        return Path(name).stat().st_size
    except OSError:
        return 0  # set aside when it is read, with why


def _strings(texts: list[str]) -> Any:
    """An Arrow array of strings, built from buffers: ``pa.array`` would import pandas
    (0.2 s) the first time."""
    import numpy as np
    import pyarrow as pa

    encoded = [text.encode() for text in texts]
    ends = np.cumsum([0] + [len(one) for one in encoded], dtype=np.int32)
    return pa.StringArray.from_buffers(len(encoded), pa.py_buffer(ends),
                                       pa.py_buffer(b"".join(encoded)))  # fmt: skip
