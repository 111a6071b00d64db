"""The client's own settings, checked where they are given (``SegmentClient(...)`` and
``%config SegmentMagics``): a timeout of -1 or ``"x"`` is refused by name at once,
not discovered on the first send as a failure that names neither."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

from ..errors import ValidationError

MAX_SECONDS = 86_400.0  # a day: beyond it a wait is a mistake, not a setting
MAX_RETRIES = 100


def checked_seconds(name: str, value: Any, *, zero: bool) -> float:
    """A number of seconds: finite, at most a day, above 0 (or 0 too, when ``zero``)."""
    lowest = "0" if zero else "more than 0"
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValidationError(name, f"{value!r} is not a number of seconds; give {lowest} "
                                    f"to {MAX_SECONDS:g}")  # fmt: skip
    seconds = float(value)
    if seconds < 0 or (seconds == 0 and not zero) or seconds > MAX_SECONDS:
        raise ValidationError(name, f"{value!r} seconds is out of range; give {lowest} "
                                    f"to {MAX_SECONDS:g}")  # fmt: skip
    return seconds


def checked_retries(value: Any) -> int:
    """Retries after the first attempt: a whole number from 0 to :data:`MAX_RETRIES`."""
    whole = isinstance(value, Integral) and not isinstance(value, bool)
    if not whole or not 0 <= int(value) <= MAX_RETRIES:
        raise ValidationError(
            "max_retries", f"{value!r} is not a number of retries; give 0 to {MAX_RETRIES}"
        )
    return int(value)


def checked_switch(name: str, value: Any) -> bool:
    """True or False (a string such as "no" would read as True)."""
    if type(value) is not bool:
        raise ValidationError(name, f"{value!r} is not True or False")
    return value
