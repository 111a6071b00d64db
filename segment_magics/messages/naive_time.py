"""How a datetime without a time zone is read: as UTC, as local time, or in a named zone.

A naive value (``datetime.now()``, a pandas ``Timestamp`` without ``tz``, a
``numpy.datetime64``, an ISO 8601 text without an offset) names a wall-clock time but
not where. Sending it as UTC dates an event hours off anywhere else, so how it is read
is a setting, ``naive_timezone``, and every value read that way is noted:

- ``"guess"`` (the default) is the official SDK's rule: within 5 seconds of this
  machine's clock it is local time (``datetime.now()``), anything else is UTC
  (``datetime.utcnow()``, a stored UTC time);
- ``"UTC"``, ``"local"`` (this machine's zone), or an IANA name (``"Europe/Berlin"``).

Spark and Dask tasks get the policy with the notebook's zone in it
(:meth:`NaiveTime.for_workers`), so that "local" means the analyst's clock there too.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from rapidfuzz import process

from ..errors import ValidationError

GUESS = "guess"
UTC = "UTC"
LOCAL = "local"
WINDOW = dt.timedelta(seconds=5)  # the SDK's "now" window for the guess
_UTC = dt.timezone.utc
SETTING = "naive_timezone"
EXAMPLES = "'guess', 'UTC', 'local' or a zone name such as 'Europe/Berlin'"


class NaiveNote(str):
    """A warning about one naive value; ``how`` is what a backfill's summary counts."""

    __slots__ = ("how",)
    how: str

    def __new__(cls, where: str, what: str, how: str) -> NaiveNote:
        note = super().__new__(cls, f"{where} was {what} (no time zone): read {how}")
        note.how = how
        return note


@dataclass(frozen=True)
class NaiveTime:
    """The ``naive_timezone`` setting, ready to read values.

    ``zone_key`` is the notebook's own IANA zone for ``local`` and ``guess`` when it
    was resolved for Spark or Dask tasks; None reads local time from this process.
    """

    setting: str = GUESS
    zone_key: str | None = None

    @classmethod
    def of(cls, value: str | NaiveTime | None) -> NaiveTime:
        """The policy for a setting's value; a ValidationError names the fix."""
        if value is None:
            return DEFAULT
        if isinstance(value, NaiveTime):
            return value
        text = str(value).strip()
        for known in (GUESS, UTC, LOCAL):
            if text.lower() == known.lower():
                return cls(known)
        if text.upper() in {"Z", "GMT", "ETC/UTC"}:
            return cls(UTC)
        try:
            zoneinfo.ZoneInfo(text)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            close = _closest_zone(text)
            hint = f"; did you mean {close!r}?" if close else ""
            raise ValidationError(
                SETTING, f"{text!r} is not a time zone{hint} (use {EXAMPLES})"
            ) from None
        return cls(text)

    def for_workers(self) -> NaiveTime:
        """This policy with the notebook's zone written in, for tasks on other machines."""
        if self.setting not in (GUESS, LOCAL) or self.zone_key is not None:
            return self
        return NaiveTime(self.setting, local_zone_key())

    # -- one value ------------------------------------------------------------------
    def read(
        self, value: dt.datetime, where: str, what: str = "a naive datetime"
    ) -> tuple[dt.datetime, NaiveNote]:
        """``value`` (naive) as an aware UTC datetime, and the note that says how."""
        zone, how = self._zone_for(value)
        if zone is None:
            aware = value.replace(tzinfo=_UTC)
        elif zone is _LIBC:
            aware = value.astimezone(_UTC)  # the C library's rules for this process's TZ
        else:
            aware = value.replace(tzinfo=zone).astimezone(_UTC)
        return aware, NaiveNote(where, what, how)

    def _zone_for(self, value: dt.datetime) -> tuple[Any, str]:
        """The zone a naive value is read in (None: UTC) and how that is said."""
        if self.setting == GUESS:
            return self._guessed(abs(value - self.local_now()) <= WINDOW)
        return self._fixed()

    def _guessed(self, near: bool) -> tuple[Any, str]:
        if near:
            return self.local_zone(), (
                f"as local time ({self.local_name()}): within 5 s of this machine's clock "
                f"({SETTING}='guess')"
            )
        return None, (
            f"as UTC: not near this machine's clock ({SETTING}='guess'); set {SETTING} to "
            "'local' or a zone name if it is local time"
        )

    def _fixed(self) -> tuple[Any, str]:
        """The zone of every setting but the guess, and how it is said."""
        if self.setting == UTC:
            return None, f"as UTC ({SETTING}='UTC')"
        if self.setting == LOCAL:
            return self.local_zone(), f"as local time ({self.local_name()}, {SETTING}='local')"
        zone = self.setting
        return zoneinfo.ZoneInfo(zone), f"as {zone} time ({SETTING}={zone!r})"

    # -- the local zone ----------------------------------------------------------------
    def local_zone(self) -> Any:
        """The zone local times are read in: the notebook's IANA zone, else the C
        library's rules for this process."""
        if self.zone_key is not None:
            return zoneinfo.ZoneInfo(self.zone_key)
        key = local_zone_key()
        return zoneinfo.ZoneInfo(key) if key is not None else _LIBC

    def local_name(self) -> str:
        return self.zone_key or local_zone_key() or time.tzname[0]

    def local_now(self) -> dt.datetime:
        """The local wall clock now (the notebook's when resolved for workers), naive."""
        if self.zone_key is not None:
            return dt.datetime.now(zoneinfo.ZoneInfo(self.zone_key)).replace(tzinfo=None)
        return dt.datetime.now()

    # -- a column of numpy datetime64 values --------------------------------------------
    def read_column(self, stamps: Any, where: str) -> tuple[Any, list[NaiveNote | None]]:
        """A naive ``datetime64[ms]`` array as UTC, and each cell's note (None for NaT).

        Vectorized with pandas for UTC and named zones; cells pandas cannot place (a
        wall time skipped or repeated by a daylight-saving change) and the rare local
        times of the guess are read one at a time, exactly as :meth:`read` reads them.
        """
        import numpy as np

        stamps = np.asarray(stamps, dtype="datetime64[ms]")
        present = ~np.isnat(stamps)
        out = stamps.copy()
        notes: list[NaiveNote | None] = [None] * len(stamps)
        if self.setting == GUESS:
            now = np.datetime64(self.local_now(), "ms")
            near = present & (np.abs(stamps - now) <= np.timedelta64(5, "s"))
            far = present & ~near
            self._note(notes, far, where, self._guessed(False)[1])
            one_by_one = near
        else:
            zone, how = self._fixed()
            placed = present if zone is None else self._localize(zone, stamps, out, present)
            self._note(notes, placed, where, how)
            one_by_one = present & ~placed
        for index in np.flatnonzero(one_by_one):
            value = stamps[index].astype("datetime64[us]").item()
            aware, notes[index] = self.read(value, where, "a naive timestamp")
            out[index] = np.datetime64(aware.replace(tzinfo=None), "ms")
        return out, notes

    @staticmethod
    def _localize(zone: Any, stamps: Any, out: Any, present: Any) -> Any:
        """Fill ``out`` with the UTC instants pandas can place; returns where it did."""
        import numpy as np

        if zone is _LIBC or ("pandas" not in sys.modules and not _has_pandas()):
            return np.zeros(len(stamps), dtype=bool)
        import pandas as pd

        index = pd.DatetimeIndex(stamps).tz_localize(
            str(zone.key), ambiguous="NaT", nonexistent="NaT"
        )
        placed = present & ~np.asarray(index.isna())
        utc = index.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ms]")
        out[placed] = utc[placed]
        return placed

    @staticmethod
    def _note(notes: list[NaiveNote | None], mask: Any, where: str, how: str) -> None:
        import numpy as np

        indexes = np.flatnonzero(mask)
        if len(indexes):
            note = NaiveNote(where, "a naive timestamp", how)
            for index in indexes.tolist():
                notes[index] = note


DEFAULT = NaiveTime()
_LIBC = object()  # read local time with the C library (no IANA name for this zone)


def _has_pandas() -> bool:
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def local_zone_key() -> str | None:
    """This process's IANA zone name: from ``TZ``, else ``/etc/localtime``; None when
    the zone has no such name (a POSIX rule in ``TZ``)."""
    return _zone_key(os.environ.get("TZ"))


@lru_cache(maxsize=8)
def _zone_key(tz_variable: str | None) -> str | None:
    if tz_variable is not None:
        name = tz_variable.lstrip(":")
        if name.startswith("/"):  # a path to a zone file
            return _key_of_path(Path(name))
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            return None
        return name or UTC
    return _key_of_path(Path("/etc/localtime"))


def _key_of_path(path: Path) -> str | None:
    try:
        resolved = str(path.resolve())
    except OSError:
        return None
    marker = "/zoneinfo/"
    if marker not in resolved:
        return None
    key = resolved.split(marker, 1)[1]
    try:
        zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None
    return key


@lru_cache(maxsize=1)
def _zone_names() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def _closest_zone(text: str) -> str | None:
    names = _zone_names()
    by_case = {n.lower(): n for n in names}
    if text.lower() in by_case:
        return by_case[text.lower()]
    found = process.extractOne(text, names, score_cutoff=70)
    return found[0] if found else None
