"""Secrets (the write key, the Public API token), held so that they cannot leak
through a repr, an error, a log, a pickle or a widget's state."""

from __future__ import annotations

import base64
import os
from typing import TypeVar

from ..errors import ValidationError

ENV_VAR = "SEGMENT_WRITE_KEY"
TOKEN_ENV_VAR = "SEGMENT_PUBLIC_API_TOKEN"  # noqa: S105 (a variable name, not a secret)


class Secret:
    """A secret string whose repr and str are masked; ``reveal()`` is the only way out."""

    __slots__ = ("_value", "source")
    what = "secret"
    where_to_copy = "copy it again"

    def __init__(self, value: str, source: str) -> None:
        if any(ch.isspace() or not ch.isprintable() for ch in value):
            del value  # not kept in this frame, which a verbose traceback would show
            raise ValidationError(
                "",
                f"the {self.what} from {source} contains spaces or control characters; "
                f"{self.where_to_copy}",
            )
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def forms(self) -> tuple[str, ...]:
        """How the secret can appear in what a server sends back: as it is, and as the
        request carried it."""
        return (self._value,)

    def cut_from(self, data: bytes) -> bytes:
        """``data`` (a server's answer) with the secret masked wherever it is echoed."""
        for form in self.forms():
            if form and form.encode() in data:
                data = data.replace(form.encode(), self.masked.encode())
        return data

    @property
    def masked(self) -> str:
        return f"•••• ({len(self._value)} characters)"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.masked}, from {self.source})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError(f"a {self.what} is not picklable")


class SecretHeader(str):
    """A header value that carries a secret: shown masked (repr, str, format) wherever a
    traceback or a debugger prints it, sent as it is (http.client encodes it)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'•••• (a secret header, masked)'"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a secret header is not picklable")


class WriteKey(Secret):
    """A source's write key (HTTP Basic auth, the key as user name)."""

    __slots__ = ()
    what = "write key"
    where_to_copy = "copy it again from the source's settings in Segment"

    def basic_auth_header(self) -> SecretHeader:
        return SecretHeader("Basic " + self._basic())

    def _basic(self) -> str:
        return base64.b64encode(self._value.encode() + b":").decode()

    def forms(self) -> tuple[str, ...]:
        return (self._value, self._basic())


class ApiToken(Secret):
    """A Public API token (HTTP Bearer auth)."""

    __slots__ = ()
    what = "Public API token"
    where_to_copy = "create one under Settings > Access Management > Tokens in Segment"

    def bearer_header(self) -> SecretHeader:
        return SecretHeader("Bearer " + self._value)


S = TypeVar("S", bound=Secret)


def _find(kind: type[S], explicit: str | S | None, env_var: str) -> S | None:
    """The secret from the argument, else from ``$env_var``; None when neither has one."""
    if isinstance(explicit, kind):
        return explicit
    if explicit:
        return kind(str(explicit), "argument")
    value = os.environ.get(env_var, "").strip()
    return kind(value, f"${env_var}") if value else None


def find_api_token(explicit: str | ApiToken | None = None) -> ApiToken | None:
    """The token from the argument, else ``$SEGMENT_PUBLIC_API_TOKEN``; None otherwise."""
    return _find(ApiToken, explicit, TOKEN_ENV_VAR)


def find_write_key(explicit: str | WriteKey | None, env_var: str = ENV_VAR) -> WriteKey | None:
    """The key from the argument, else from the environment; ``None`` when neither has one."""
    return _find(WriteKey, explicit, env_var)
