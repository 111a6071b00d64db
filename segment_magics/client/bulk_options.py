"""What a backfill is asked to do, written down once.

The magic, the session, ``SegmentClient.send_many`` and every Spark or Dask task
read the same frozen :class:`BulkOptions`; a task gets it inside its
:class:`~segment_magics.client.distributed.worker.WorkerConfig`, beside the
transport settings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationError
from ..messages import ColumnMap
from ..messages.arguments import checked_path, checked_switch, checked_text
from ..messages.naive_time import NaiveTime

MAX_WORKERS = 32  # requests in flight: more only queue at the server and hold memory


@dataclass(frozen=True)
class BulkOptions:
    """How rows become calls, and how the run goes.

    ``kind`` None: every row is a Segment message dict with its ``type``. Otherwise
    rows are records: ``columns`` maps a call field to a column (``{"user_id":
    "customer"}``), ``body_columns`` picks the body (default: every other column),
    ``defaults`` (and ``event``) fill fields for every row.
    """

    kind: str | None = None
    event: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    body_columns: tuple[str, ...] | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # who a row without ids is about: the session's id, generated ids, or refused
    anonymous_id: str | None = None
    anonymous: bool = False
    run_id: str | None = None  # messageIds derive from it; the same id resumes a run
    key_column: str | None = None  # ... or from this column's value
    max_rate: float | None = None  # events per second, for the whole run
    dry_run: bool = False
    progress: bool = True
    workers: int = 4  # requests in flight once the server is slow (client/pace.py)
    failures_path: str | None = None  # Spark/Dask: where workers write what they kept
    problems_path: str | None = None  # every problem row, written as JSON lines
    naive: NaiveTime | None = None  # how datetimes without a zone are read (the client's)

    def __post_init__(self) -> None:
        """The numbers that steer a run are checked before it starts (ValidationError)."""
        if self.max_rate is not None:
            try:
                rate = float(self.max_rate)
            except (TypeError, ValueError):
                rate = 0.0
            if not 0 < rate < math.inf:
                raise ValidationError(
                    "max_rate",
                    f"{self.max_rate!r} is not a number of events per second "
                    "above 0, e.g. 500 (None: no limit)",
                )
            object.__setattr__(self, "max_rate", rate)
        checked_workers(self.workers)
        for name in ("kind", "event", "anonymous_id", "run_id", "key_column"):
            checked_text(name, getattr(self, name))
        for name in ("failures_path", "problems_path"):
            object.__setattr__(self, name, checked_path(name, getattr(self, name)))
        for name in ("anonymous", "dry_run", "progress"):
            checked_switch(name, getattr(self, name))

    @property
    def what(self) -> str:
        """The call the rows make, or ``messages`` for Segment dicts of any type."""
        return self.kind or "messages"

    @property
    def fixed(self) -> dict[str, Any]:
        """Fields every row gets: the defaults, and the event."""
        fixed = dict(self.defaults)
        if self.event is not None:
            fixed["event"] = self.event
        return fixed

    def column_map(self) -> ColumnMap | None:
        """The row mapping (None for Segment dicts); raises ValidationError for a
        column or default that cannot work."""
        if self.kind is None:
            return None
        columns = dict(self.columns)
        body = list(self.body_columns) if self.body_columns is not None else None
        return ColumnMap(self.kind, columns, body, self.fixed).checked_defaults([])


def checked_workers(workers: Any) -> int:
    """Requests in flight, from 1 to :data:`MAX_WORKERS` (ValidationError otherwise)."""
    if type(workers) is not int or not 1 <= workers <= MAX_WORKERS:
        raise ValidationError(
            "workers", f"{workers!r} is not a number of requests in flight from 1 to {MAX_WORKERS}"
        )
    return workers
