"""Requests that leave no secret behind in a traceback.

An HTTP library keeps the request's headers, the write key or the Public API token
among them, in the local variables of a dozen frames. A Ctrl-C or a failure inside
it carries those frames up in its traceback, where ``%xmode Verbose`` prints them
and ``sys.last_traceback`` (``%debug``) keeps them. :func:`exchange` runs a request
so that nothing of it can escape: the frames under it are cleared, and what is
raised instead is a fresh exception that holds no frame of the request at all.
:func:`sealed` does the same for a function given a secret as an argument (a key, a
URL or proxy with credentials): what it raises keeps its type and message, but no
frame under the caller still holds the secret.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar, cast

R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


class RequestFailed(Exception):
    """A request could not be completed; ``reason`` says why in words that never quote
    the request. ``original`` is the kind of error (its type name) for callers that
    distinguish them."""

    def __init__(self, reason: str, kind: type[BaseException]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def clear_frames(tb: TracebackType | None) -> None:
    """Clear the local variables of every finished frame of a traceback (the frames a
    caller is still running in cannot be, and are left as they are)."""
    while tb is not None:
        with contextlib.suppress(RuntimeError):  # still executing: one of our callers
            tb.tb_frame.clear()
        tb = tb.tb_next


def clear_chain(exc: BaseException) -> None:
    """Clear the finished frames of ``exc``'s traceback and of every exception it was
    raised from or while handling (a verbose traceback shows those too)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        error = todo.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        clear_frames(error.__traceback__)
        todo += (error.__cause__, error.__context__)


def sealed(function: F) -> F:
    """``function``, which is given a secret as an argument: when it raises, the error
    goes on as it is, but the frames it passed through no longer hold their local
    variables (a verbose traceback prints each frame's arguments)."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except BaseException as exc:
            clear_chain(exc)
            del args, kwargs  # this frame's own: the one a traceback shows last
            raise

    return cast(F, call)


def exchange(send: Callable[[], R], describe: Callable[[Exception], str]) -> R:
    """``send()``, or a fresh exception that carries none of its frames: a
    KeyboardInterrupt stays a KeyboardInterrupt, anything else becomes
    :class:`RequestFailed` with ``describe(error)`` as its reason.

    The exception is raised outside the ``except`` block, so that it has no
    ``__context__`` that leads back to the request.
    """
    failure: BaseException
    try:
        return send()
    except BaseException as exc:  # every kind: Ctrl-C too
        clear_frames(exc.__traceback__)
        if isinstance(exc, KeyboardInterrupt):
            failure = KeyboardInterrupt()
        elif isinstance(exc, Exception):
            failure = RequestFailed(describe(exc), type(exc))
        else:  # SystemExit, GeneratorExit: the same kind, without its frames
            failure = type(exc)()
        exc.__traceback__ = None
    raise failure
