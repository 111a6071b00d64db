"""The write key, held so that it cannot leak through a repr, an error or a log."""

from __future__ import annotations

import base64
import os

ENV_VAR = "SEGMENT_WRITE_KEY"


class WriteKey:
    """A secret string whose repr and str are masked; ``reveal()`` is the only way out."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        if any(ch.isspace() or not ch.isprintable() for ch in value):
            raise ValueError(
                f"the write key from {source} contains spaces or control characters; "
                "copy it again from the source's settings in Segment"
            )
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    @property
    def masked(self) -> str:
        return f"•••• ({len(self._value)} characters)"

    def basic_auth_header(self) -> str:
        token = base64.b64encode(f"{self._value}:".encode()).decode()
        return f"Basic {token}"

    def __repr__(self) -> str:
        return f"WriteKey({self.masked}, from {self.source})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a write key is not picklable")


def find_write_key(explicit: str | WriteKey | None, env_var: str = ENV_VAR) -> WriteKey | None:
    """The key from the argument, else from the environment; ``None`` when neither has one."""
    if isinstance(explicit, WriteKey):
        return explicit
    if explicit:
        return WriteKey(explicit, "argument")
    value = os.environ.get(env_var, "").strip()
    return WriteKey(value, f"${env_var}") if value else None
