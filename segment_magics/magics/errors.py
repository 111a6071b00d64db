"""Exceptions that fail the cell with one short line (``_render_traceback_``).

With ``%config SegmentMagics.short_errors = False`` the hook disappears (the
property raises AttributeError, so ``hasattr`` is false) and IPython shows the
full traceback instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..client import Outcome
from ..errors import SegmentError


class SegmentMagicError(SegmentError):
    """Base for errors raised by the magics; short by default."""

    short: bool = True

    @property
    def _render_traceback_(self) -> Callable[[], list[str]]:
        if not self.short:
            raise AttributeError("_render_traceback_")
        return lambda: [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class SegmentUsageError(SegmentMagicError):
    """The magic line or cell cannot be understood; nothing was sent."""


class SegmentCallFailed(SegmentMagicError):
    """The call was made (or refused by validation) and did not succeed."""

    def __init__(self, result: Outcome, phrase: Callable[[Any], str] | None = None) -> None:
        self.result = result
        what = f"{result.type} {result.label!r}" if result.label else result.type
        code = f"StatusCode {result.status_code}"
        if result.original_status_code and not 200 <= result.original_status_code < 300:
            code += f" (HTTP {result.original_status_code})"
        steps = [phrase(r) for r in result.remedies] if phrase is not None else []
        then = f" (next: {'; '.join(steps)})" if steps else ""
        super().__init__(f"{what} failed, {code}: {result.error_message}{then}")
