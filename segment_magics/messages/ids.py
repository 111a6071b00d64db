"""UUID4 message ids from a buffered CSPRNG.

``uuid.uuid4()`` makes one ``os.urandom`` syscall per id, and the syscall releases
the GIL: in a bulk send every id then hands the interpreter to the HTTP threads
and waits to get it back. Reading the same CSPRNG 64 KiB at a time keeps the ids
identical in quality and the producer on the CPU.
"""

from __future__ import annotations

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
    number = (
        int.from_bytes(buffer[position : position + 16], "big") & _VERSION_CLEAR
    ) | _VERSION_SET
    text = f"{number:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
