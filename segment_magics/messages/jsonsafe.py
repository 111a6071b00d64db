"""Turn notebook values (numpy, pandas, datetimes, Decimal, ...) into plain JSON.

Conversion never drops a value silently: NaN/infinity become ``null`` with a
warning, anything that has no JSON meaning is a :class:`ValidationError` naming
its path, e.g. ``properties.products[1].price``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import math
import sys
import uuid
from collections.abc import Mapping
from typing import Any

from ..errors import ValidationError

JSON = dict[str, Any] | list[Any] | str | int | float | bool | None


def _child(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


_UTC = dt.timezone.utc


def format_datetime(value: dt.datetime | dt.date) -> str:
    """ISO 8601 in UTC with milliseconds (``2024-01-15T10:30:00.000Z``); naive means UTC."""
    if not isinstance(value, dt.datetime):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}T00:00:00.000Z"
    if type(value) is not dt.datetime:  # pandas Timestamp and friends: a plain datetime
        value = dt.datetime(value.year, value.month, value.day, value.hour, value.minute,
                            value.second, value.microsecond, tzinfo=value.tzinfo)  # fmt: skip
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(_UTC)
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def is_missing(value: object) -> bool:
    """True for None, NaN, pandas NaT/NA and numpy NaT: values that mean "no value"."""
    kind = type(value)
    if kind is str or kind is int or kind is bool:  # the common cells, answered first
        return False
    if kind is float:
        return value != value  # NaN
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if kind.__module__.startswith("pandas") and kind.__name__ in {"NaTType", "NAType"}:
        return True
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.floating):
            return bool(np.isnan(value))
        if isinstance(value, np.datetime64 | np.timedelta64):
            return bool(np.isnat(value))
    return False


def _key_text(key: object, path: str) -> str:
    """Dict keys must be text; ints (row labels, numpy ints) are stringified."""
    if isinstance(key, str):
        return key
    np = sys.modules.get("numpy")
    if isinstance(key, int) or (np is not None and isinstance(key, np.integer)):
        return str(int(key))
    raise ValidationError(
        _child(path, repr(key)), f"keys must be strings, got {type(key).__name__}"
    )


def _numpy_value(value: Any) -> tuple[bool, Any]:
    """Unwrap numpy scalars/arrays without importing numpy when unused."""
    np = sys.modules.get("numpy")
    if np is None:
        return False, None
    if isinstance(value, np.ndarray):
        return True, value.tolist()
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return True, None
        return True, value.astype("datetime64[us]").item()
    if isinstance(value, np.generic):
        return True, value.item()
    return False, None


class _NotPlain(Exception):
    """Raised by the fast path: fall back to the converter that tracks paths."""


def _copy_plain(value: Any, level: int, deepest: list[int]) -> Any:
    """Copy a dict/list made only of plain JSON values; track nesting depth.

    Exact type checks and no path bookkeeping: this is the hot path for bulk sends.
    Anything else (numpy, NaN, non-string keys, ...) raises _NotPlain.
    """
    kind = type(value)
    if kind is dict:
        items = value.items()
    elif kind is list:
        items = enumerate(value)
    else:
        raise _NotPlain
    level += 1
    if level > deepest[0]:
        deepest[0] = level
    out: Any = {} if kind is dict else [None] * len(value)
    for key, item in items:
        if kind is dict and type(key) is not str:
            raise _NotPlain
        item_kind = type(item)
        if item_kind is str or item_kind is int or item_kind is bool or item is None:
            out[key] = item
        elif item_kind is float:
            if item - item != 0.0:  # NaN or infinity
                raise _NotPlain
            out[key] = item
        else:
            out[key] = _copy_plain(item, level, deepest)
    return out


def _plain_depth(value: Any) -> int:
    """Nesting depth of a dict/list made only of plain JSON values (no copy); else _NotPlain."""
    kind = type(value)
    if kind is dict:
        items: Any = value.values()
        for key in value:
            if type(key) is not str:
                raise _NotPlain
    elif kind is list:
        items = value
    else:
        raise _NotPlain
    deepest = 0
    for item in items:
        item_kind = type(item)
        if item_kind is str or item_kind is int or item_kind is bool or item is None:
            continue
        if item_kind is float:
            if item - item != 0.0:  # NaN or infinity
                raise _NotPlain
            continue
        level = _plain_depth(item)
        if level > deepest:
            deepest = level
    return deepest + 1


class CheckedDict(dict):
    """A JSON-safe dict made by :func:`checked`: trusted as is, with its depth known.

    Bulk sends check a value shared by every row (say the ``--context`` of a
    backfill) once, instead of once per row.
    """

    depth: int = 0


def checked(value: Any, path: str, warnings: list[str]) -> CheckedDict:
    safe, levels = copy_json_object(value, path, warnings)
    out = CheckedDict(safe)
    out.depth = levels
    return out


def copy_json_object(
    value: Any, path: str, warnings: list[str], *, copy: bool = True
) -> tuple[Any, int]:
    """JSON-safe version of a dict and its nesting depth: fast for plain data, exact otherwise.

    With ``copy=False`` plain data is returned as is (for messages that are
    serialized at once and never handed back, as in bulk sends).
    """
    if type(value) is CheckedDict:
        return value, value.depth
    try:
        if copy:
            deepest = [0]
            return _copy_plain(value, 0, deepest), deepest[0]
        return value, _plain_depth(value)
    except _NotPlain:
        safe = to_json_safe(value, path, warnings)
        return safe, depth(safe)


class _Converter:
    def __init__(self, warnings: list[str]) -> None:
        self.warnings = warnings

    def convert(self, value: Any, path: str) -> JSON:
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            if math.isfinite(value):
                return float(value)
            self.warnings.append(f"{path} was {value!r}; sent as null (JSON has no NaN/infinity)")
            return None
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for key, item in value.items():
                name = _key_text(key, path)
                out[name] = self.convert(item, _child(path, name))
            return out
        if isinstance(value, list | tuple):
            return [self.convert(item, _child(path, i)) for i, item in enumerate(value)]
        if isinstance(value, set | frozenset):
            items = sorted(value, key=repr)
            return [self.convert(item, _child(path, i)) for i, item in enumerate(items)]
        if is_missing(value):
            return None
        if isinstance(value, dt.datetime | dt.date):
            return format_datetime(value)
        if isinstance(value, dt.time):
            return value.isoformat()
        if isinstance(value, decimal.Decimal):
            if not value.is_finite():
                self.warnings.append(f"{path} was {value}; sent as null (JSON has no NaN)")
                return None
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, enum.Enum):
            return self.convert(value.value, path)
        unwrapped, plain = _numpy_value(value)
        if unwrapped:
            return self.convert(plain, path)
        if type(value).__module__.startswith("pandas"):
            if hasattr(value, "to_pydatetime"):
                return self.convert(value.to_pydatetime(), path)
            if hasattr(value, "to_dict"):
                return self.convert(value.to_dict(), path)
        raise ValidationError(
            path,
            f"cannot send a {type(value).__name__} as JSON; "
            "convert it to a string, number, list or dict first",
        )


def to_json_safe(value: Any, path: str, warnings: list[str]) -> JSON:
    """Return a JSON-safe deep copy of ``value``; appends notes to ``warnings``."""
    return _Converter(warnings).convert(value, path)


def depth(value: Any) -> int:
    """Nesting depth of dicts/lists: ``{"a": 1}`` is 1, ``{"a": {"b": 1}}`` is 2."""
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0
