"""What to do next, as data: a result names the step, each UI puts it in its own words.

The client knows that messages wait in the outbox or that a run can be resumed; it
does not know whether its user types magics or Python. A :class:`Remedy` says
which step helps, and a phrasing turns it into words: :func:`python_phrase` here
(``client.retry_outbox()``), the magics their own (``%segment_retry``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Action = Literal[
    "retry",  # resend what waits in the outbox for this endpoint
    "retry_rejected",  # resend the rejected ones too, after fixing them
    "resume",  # run the same backfill again with its run id
    "anonymous",  # send rows without ids with generated anonymousIds
    "user_column",  # name the column that holds the user id
    "show_failed",  # list what waits in the outbox
    "resend_elsewhere",  # resend what waits for another endpoint to this one
    "move_outbox",  # point the outbox at a writable file
    "shared_failures",  # give Spark/Dask workers storage the notebook can read
    "show_all",  # show every row of a table cut short
]


@dataclass(frozen=True)
class Remedy:
    """One suggested step: the ``action``, and the run id or endpoint it applies to."""

    action: Action
    run_id: str = ""
    where: str = ""

    @property
    def why(self) -> str:
        """What the step does, in words any UI can use."""
        return _WHY[self.action].format(run_id=self.run_id, where=self.where)


Phrase = Callable[[Remedy], str]

_WHY: dict[Action, str] = {
    "retry": "resend what waits in the outbox",
    "retry_rejected": "after fixing them, resend the rejected messages",
    "resume": "finish the run; rows already delivered are not sent again",
    "anonymous": "or send rows without ids with generated anonymousIds",
    "user_column": "name the column that holds the user id",
    "show_failed": "see what waits",
    "resend_elsewhere": "resend what waits for {where} to this endpoint",
    "move_outbox": "keep the outbox in a writable file",
    "shared_failures": "give the workers storage this notebook can read",
    "show_all": "all of them",
}

_PYTHON: dict[Action, str] = {
    "retry": "client.retry_outbox()",
    "retry_rejected": "client.retry_outbox(rejected=True)",
    "resume": "client.send_many(..., run_id={run_id!r})",
    "anonymous": "client.send_many(..., anonymous=True)",
    "user_column": "client.send_many(..., columns={{'user_id': COLUMN}})",
    "show_failed": "client.kept_results()",
    "resend_elsewhere": "client.retry_outbox(kept_for={where!r})",
    "move_outbox": "SegmentClient(outbox=PATH) or $SEGMENT_MAGICS_OUTBOX=PATH",
    "shared_failures": "client.send_many(..., failures_path=SHARED_DIRECTORY)",
    "show_all": "client.history.select(display_limit=0)",
}


def python_phrase(remedy: Remedy) -> str:
    """The step as a Python call: ``client.retry_outbox()``."""
    return _PYTHON[remedy.action].format(run_id=remedy.run_id, where=remedy.where)


def next_steps(remedies: tuple[Remedy, ...], phrase: Phrase | None) -> list[str]:
    """One line per step: what it does, then how (``resend ...: client.retry_outbox()``)."""
    say = phrase or python_phrase
    return [f"{remedy.why}: {say(remedy)}" for remedy in remedies]
