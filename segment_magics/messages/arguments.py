"""The Python API's arguments, checked at the door: a wrong kind of value is refused by
name with the fix (``ValidationError``), before anything is read, sent or opened, not
found later as an AttributeError deep inside. ``%config`` uses the same checks."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

from ..errors import ValidationError

MAX_SECONDS = 86_400.0  # a day: beyond it a wait is a mistake, not a setting
MAX_RETRIES = 100


def _kind(value: Any) -> str:
    return type(value).__name__


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
    if not _whole(value, 0, MAX_RETRIES):
        raise ValidationError(
            "max_retries", f"{value!r} is not a number of retries; give 0 to {MAX_RETRIES}"
        )
    return int(value)


def checked_share(name: str, value: Any) -> float:
    """A share of messages: more than 0 and at most 1 (0.95 for 95 %)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < float(value) <= 1:
        raise ValidationError(
            name, f"{value!r} is not a share; give more than 0 and at most 1, e.g. 0.95 for 95 %"
        )
    return float(value)


def checked_port(value: Any) -> int | None:
    """A TCP port, 0 (any free one) or None (the default)."""
    if value is None:
        return None
    if not _whole(value, 0, 65_535):
        raise ValidationError(
            "port", f"{value!r} is not a port; give 1 to 65535, 0 for any free port, or None"
        )
    return int(value)


def _whole(value: Any, lowest: int, highest: int) -> bool:
    """A whole number (numpy's too, not a bool) from ``lowest`` to ``highest``."""
    return (
        isinstance(value, Integral)
        and not isinstance(value, bool)
        and lowest <= int(value) <= highest
    )


def checked_switch(name: str, value: Any) -> bool:
    """True or False (a string such as "no" would read as True)."""
    if type(value) is not bool:
        raise ValidationError(name, f"{value!r} is not True or False")
    return value


def checked_text(name: str, value: Any) -> str | None:
    """Text, or None for "not given"."""
    if value is not None and not isinstance(value, str):
        raise ValidationError(name, f"must be text, not {_kind(value)}")
    return value


def checked_path(name: str, value: Any) -> str | None:
    """A file or directory path (text or a ``pathlib.Path``), or None."""
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or isinstance(value, bytes):
        raise ValidationError(name, f"must be a path (text or a pathlib.Path), not {_kind(value)}")
    return os.fspath(value)


def checked_names(name: str, value: Any) -> tuple[str, ...] | None:
    """A list of names (column names, event names), or None."""
    if value is None:
        return None
    if isinstance(value, str):
        raise ValidationError(name, f"give a list of names, e.g. [{value!r}], not one text")
    try:
        names = tuple(value)
    except TypeError:
        raise ValidationError(name, f"give a list of names, not {_kind(value)}") from None
    odd = [n for n in names if not isinstance(n, str)]
    if odd:
        raise ValidationError(name, f"names are text; {odd[0]!r} is {_kind(odd[0])}")
    return names


def checked_mapping(name: str, value: Any, *, text_values: bool) -> dict[str, Any]:
    """A dict with text keys (and text values, when ``text_values``); None: empty."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        shape = "{'user_id': 'customer'}" if text_values else "{'context': {...}}"
        raise ValidationError(name, f"give a dict such as {shape}, not {_kind(value)}")
    for key, item in value.items():
        if not isinstance(key, str):
            raise ValidationError(name, f"keys are field names (text); {key!r} is {_kind(key)}")
        if text_values and not isinstance(item, str):
            raise ValidationError(f"{name}[{key!r}]", f"give a column name, not {_kind(item)}")
    return dict(value)
