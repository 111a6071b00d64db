"""UUID4 message ids from a buffered CSPRNG.

``uuid.uuid4()`` makes one ``os.urandom`` syscall per id, and the syscall releases
the GIL: in a bulk send every id then hands the interpreter to the HTTP threads
and waits to get it back. Reading the same CSPRNG 64 KiB at a time keeps the ids
identical in quality and the producer on the CPU.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading

_BUFFER = 16 * 4096
_VERSION_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant
_local = threading.local()


def new_message_id() -> str:
    """A random (version 4) UUID in its canonical 36-character form."""
    state = _local.__dict__
    buffer: bytes = state.get("buffer", b"")
    position: int = state.get("position", _BUFFER)
    if position >= len(buffer):
        buffer, position = os.urandom(_BUFFER), 0
        state["buffer"] = buffer
    state["position"] = position + 16
    return _canonical(int.from_bytes(buffer[position : position + 16], "big"))


_POSITIONS = 2**48  # row positions that map to distinct ids within one run


def _canonical(number: int) -> str:
    text = f"{(number & _VERSION_CLEAR) | _VERSION_SET:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class RowIds:
    """Deterministic messageIds for the rows of a bulk run.

    The same run id and row position always give the same UUID, so a rerun of a
    backfill (after a crash, or a Spark task retry) resends the same ids and
    Segment drops the copies. Different run ids give unrelated ids.
    """

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        digest = hashlib.sha256(f"segment-magics run {run_id}".encode()).digest()
        text = _canonical(int.from_bytes(digest[:16], "big"))
        self._prefix = text[:-12]  # the position only changes the last 48 bits
        self._low = int(text[-12:], 16)

    def __call__(self, position: int) -> str:
        if not 0 <= position < _POSITIONS:
            raise ValueError(f"row position {position} is out of range")
        return f"{self._prefix}{self._low ^ position:012x}"

    def span(self, start: int, stop: int) -> list[str]:
        """The ids of positions ``start .. stop`` (a chunk of a table) in one go."""
        if not 0 <= start <= stop <= _POSITIONS:
            raise ValueError(f"row positions {start}..{stop} are out of range")
        prefix, low = self._prefix, self._low
        return [f"{prefix}{low ^ position:012x}" for position in range(start, stop)]


def new_run_id() -> str:
    """A short id for a bulk run that a person can type back: ``20261129-3f9a2c``."""
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%d}-{os.urandom(3).hex()}"


def key_id(run_id: str, key: object) -> str:
    """A deterministic messageId for the row whose key column holds ``key``: the same run
    id and key always give the same UUID, wherever and in whatever order rows are read
    (a Spark shuffle, a retried task, a rerun)."""
    digest = hashlib.sha256(f"segment-magics run {run_id} key {key!r}".encode()).digest()
    return _canonical(int.from_bytes(digest[:16], "big"))
