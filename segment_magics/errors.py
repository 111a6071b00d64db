"""Exceptions shared by every layer. None of them ever carries the write key."""

from __future__ import annotations

import importlib
import re
from types import ModuleType

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with its lone surrogates written as escapes, so that it can be encoded
    as UTF-8. Python reads a file name that is not UTF-8 with one per undecodable byte;
    printed, sent to a notebook or written to JSON as it is, that text fails to encode.
    Such a byte shows as ``\\xff``, any other lone surrogate as, say, ``\\ud800``."""
    if text.isascii():
        return text
    return _LONE_SURROGATE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


class SegmentError(Exception):
    """Base class for every error segment-magics raises on purpose."""

    def __str__(self) -> str:
        return printable(super().__str__())


class ValidationError(SegmentError, ValueError):
    """A message cannot be sent as given; ``field`` names the offending path."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


class PlanWarning(UserWarning):
    """Part of a tracking plan cannot be checked (the plan is still used for the rest)."""


class MissingDependency(SegmentError, ImportError):
    """An optional library a feature needs is not installed; the message says how."""


def require(module: str, feature: str, extra: str) -> ModuleType:
    """Import ``module`` for ``feature``, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(
            f"{feature} needs {module.split('.')[0]}: pip install 'segment-magics[{extra}]'"
        ) from None
