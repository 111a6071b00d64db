"""Turn notebook values (numpy, pandas, datetimes, Decimal, ...) into plain JSON.

Conversion never drops a value silently: NaN/infinity become ``null`` with a
warning, anything that has no JSON meaning is a :class:`ValidationError` naming
its path, e.g. ``properties.products[1].price``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import math
import sys
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import ValidationError
from .naive_time import DEFAULT, NaiveTime

_dumps = orjson.dumps
_OPT_UTC_Z = orjson.OPT_UTC_Z

JSON = dict[str, Any] | list[Any] | str | int | float | bool | None


def _child(path: str, key: object) -> str:
    """``path.key``, ``path[3]``, or ``path['x.y']`` for a key a dot would misname (empty,
    or holding a dot, a bracket or a quote) and for a key that is no string."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not isinstance(key, str):  # a key JSON cannot have (refused), as Python writes it
        return f"{path}[{key!r}]"
    text = key
    if not text or any(mark in text for mark in ".[]'\""):
        return f"{path}[{text!r}]"
    return f"{path}.{text}" if path else text


_UTC = dt.timezone.utc


def utc_text(value: dt.datetime) -> str:
    """An aware UTC datetime in the wire form. orjson writes RFC 3339 several times
    faster than ``isoformat`` (``...T10:30:00Z`` or ``...T10:30:00.123456Z``); the
    fraction is cut to milliseconds, as ``isoformat(timespec="milliseconds")`` does."""
    text = _dumps(value, option=_OPT_UTC_Z)
    if len(text) == 22:  # b'"2024-01-15T10:30:00Z"'
        return text[1:20].decode() + ".000Z"
    return text[1:24].decode() + "Z"


def format_datetime(value: dt.datetime | dt.date) -> str:
    """ISO 8601 in UTC with milliseconds (``2024-01-15T10:30:00.000Z``).

    A naive datetime is written as the wall time it holds: read it first
    (:func:`aware_datetime`) so that it says which instant it is."""
    if type(value) is dt.datetime:
        if value.tzinfo is _UTC:  # the common case: aware UTC datetimes
            return utc_text(value)
        if value.tzinfo is None:
            return value.isoformat(timespec="milliseconds") + "Z"
    if not isinstance(value, dt.datetime):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}T00:00:00.000Z"
    value = plain_datetime(value)
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(_UTC)
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def plain_datetime(value: dt.datetime) -> dt.datetime:
    """A pandas Timestamp (or another subclass) as a plain datetime, to the microsecond."""
    if type(value) is dt.datetime:
        return value
    return dt.datetime(value.year, value.month, value.day, value.hour, value.minute,
                       value.second, value.microsecond, tzinfo=value.tzinfo)  # fmt: skip


def is_naive(value: dt.datetime) -> bool:
    return value.tzinfo is None or value.utcoffset() is None


def aware_datetime(
    value: dt.datetime,
    where: str,
    naive: NaiveTime | None,
    warnings: list[str] | None,
    what: str = "a naive datetime",
) -> dt.datetime:
    """``value`` with its instant known: a naive one is read by the ``naive_timezone``
    policy, and how is noted in ``warnings``."""
    if value.tzinfo is _UTC or not is_naive(value):
        return value
    aware, note = (naive or DEFAULT).read(plain_datetime(value).replace(tzinfo=None), where, what)
    if warnings is not None:
        warnings.append(note)
    return aware


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
    raise ValidationError(_child(path, key), f"keys must be strings, got {type(key).__name__}")


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
        if level > MAX_NESTING:
            raise _NotPlain
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


def _plain_depth(value: Any, level: int = 0) -> int:
    """Nesting depth of a dict/list made only of plain JSON values (no copy); else _NotPlain."""
    kind = type(value)
    if level > MAX_NESTING:
        raise _NotPlain
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
        inner = _plain_depth(item, level + 1)
        if inner > deepest:
            deepest = inner
    return deepest + 1


class CheckedDict(dict):
    """A JSON-safe dict made by :func:`checked`: trusted as is, with its depth known.

    Bulk sends check a value shared by every row (say the ``--context`` of a
    backfill) once, instead of once per row.
    """

    depth: int = 0
    _final: dict[str, Any] | None = None

    def with_library(self, library: dict[str, Any]) -> dict[str, Any]:
        """This context with ``library`` added, made once and shared (bulk rows)."""
        if self._final is None:
            self._final = {**self, "library": library}
        return self._final


def checked(
    value: Any, path: str, warnings: list[str], naive: NaiveTime | None = None
) -> CheckedDict:
    safe, levels = copy_json_object(value, path, warnings, naive=naive)
    out = CheckedDict(safe)
    out.depth = levels
    return out


def copy_json_object(
    value: Any,
    path: str,
    warnings: list[str],
    *,
    copy: bool = True,
    naive: NaiveTime | None = None,
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
        safe = to_json_safe(value, path, warnings, naive)
        return safe, depth(safe)


MAX_NESTING = 250  # orjson writes at most 254 levels; deeper is a recursive structure or a mistake
_INT_RANGE = (-(2**63), 2**64 - 1)  # what JSON parsers (and Segment) read as integers


def _text(value: str, path: str) -> str:
    """Strings must be valid UTF-8: a lone surrogate (from a broken decode) cannot be sent."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError(
                path,
                f"contains {value[exc.start]!r} at position {exc.start}, a lone surrogate that is "
                "not valid UTF-8; decode the source text with errors='replace'",
            ) from None
    return value


def as_mapping(value: Any) -> Mapping[str, Any] | None:
    """A dict, or what stands for one: a pandas Series (a DataFrame row), a namedtuple,
    a dataclass instance. None for anything else."""
    if type(value) is dict or isinstance(value, Mapping):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return dict(value._asdict())
    if type(value).__module__.startswith("pandas") and type(value).__name__ == "Series":
        return {str(k): v for k, v in value.items()}
    return None


def plain_decimal(value: decimal.Decimal) -> int | float:
    """A finite Decimal as JSON sends it: a whole one as an integer (no ``.0`` and no
    precision lost), any other as the nearest float."""
    return int(value) if value == value.to_integral_value() else float(value)


class _Converter:
    def __init__(self, warnings: list[str], naive: NaiveTime | None) -> None:
        self.warnings = warnings
        self.naive = naive

    def convert(self, value: Any, path: str, level: int = 0) -> JSON:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return _text(str(value), path)
        if isinstance(value, int):
            if not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
                raise ValidationError(
                    path,
                    f"{value} does not fit in 64 bits, so JSON parsers (and Segment) cannot read "
                    "it as a number; send it as a string",
                )
            return int(value)
        if isinstance(value, float):
            if math.isfinite(value):
                return float(value)
            self.warnings.append(f"{path} was {value!r}; sent as null (JSON has no NaN/infinity)")
            return None
        if level >= MAX_NESTING and isinstance(value, Mapping | list | tuple | set | frozenset):
            shown = path if len(path) <= 60 else f"{path[:40]}…"
            raise ValidationError(
                shown,
                f"nests more than {MAX_NESTING} levels deep; is it a recursive structure "
                "(a dict that contains itself)?",
            )
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for key, item in value.items():
                where = _child(path, str(key) if isinstance(key, int) else key)
                name = _text(_key_text(key, path), where)
                out[name] = self.convert(item, _child(path, name), level + 1)
            return out
        if isinstance(value, list | tuple):
            return [self.convert(item, _child(path, i), level + 1) for i, item in enumerate(value)]
        if isinstance(value, set | frozenset):
            self.warnings.append(f"{path} was a {type(value).__name__}; sent as a list")
            items = sorted(value, key=repr)
            return [self.convert(item, _child(path, i), level + 1) for i, item in enumerate(items)]
        if is_missing(value):
            return None
        if isinstance(value, dt.datetime):
            return format_datetime(aware_datetime(value, path, self.naive, self.warnings))
        if isinstance(value, dt.date):  # a date is a date, as the official SDK sends it
            return value.isoformat()
        if isinstance(value, dt.time):
            return value.isoformat()
        if isinstance(value, decimal.Decimal):
            if not value.is_finite():
                self.warnings.append(f"{path} was {value}; sent as null (JSON has no NaN)")
                return None
            return self.convert(plain_decimal(value), path, level)
        if isinstance(value, uuid.UUID):
            return str(value)
        try:
            return self._convert_other(value, path, level)
        except ValidationError:
            raise
        except Exception as exc:  # a custom object whose conversion itself fails
            raise ValidationError(
                path, f"converting a {type(value).__name__} raised {type(exc).__name__}: {exc}"
            ) from None

    def _convert_other(self, value: Any, path: str, level: int) -> JSON:
        if isinstance(value, enum.Enum):
            return self.convert(value.value, path, level)
        unwrapped, plain = _numpy_value(value)
        if unwrapped:
            return self.convert(plain, path, level)
        if type(value).__module__.startswith("pandas") and hasattr(value, "to_pydatetime"):
            return self.convert(value.to_pydatetime(), path, level)
        mapping = as_mapping(value)
        if mapping is not None:
            return self.convert(mapping, path, level)
        raise ValidationError(
            path,
            f"cannot send a {type(value).__name__} as JSON; "
            "convert it to a string, number, list or dict first",
        )


def to_json_safe(
    value: Any, path: str, warnings: list[str], naive: NaiveTime | None = None
) -> JSON:
    """Return a JSON-safe deep copy of ``value``; appends notes to ``warnings``.

    Raises :class:`ValidationError` naming the path of anything that cannot be
    sent: an unknown type, an integer beyond 64 bits, a lone surrogate, a
    structure nested deeper than :data:`MAX_NESTING` (or containing itself), or
    an object whose own conversion fails. Naive datetimes are read by ``naive``
    (default: the SDK's guess), each with a note.
    """
    return _Converter(warnings, naive).convert(value, path)


def depth(value: Any) -> int:
    """Nesting depth of dicts/lists: ``{"a": 1}`` is 1, ``{"a": {"b": 1}}`` is 2."""
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0
