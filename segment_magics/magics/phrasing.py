"""Next steps in the magics' own words: ``%segment_retry`` where Python says
``client.retry_outbox()``."""

from __future__ import annotations

from typing import Any

from ..client import Remedy, python_phrase

_MAGIC = {
    "retry": "%segment_retry",
    "retry_rejected": "%segment_retry --rejected",
    "resume": "run the same magic again with --run-id {run_id}",
    "anonymous": "add --anonymous",
    "user_column": "add --user-id-col COLUMN",
    "show_failed": "%segment_history --failed",
    "resend_elsewhere": "%segment_retry --kept-for {where}",
    "move_outbox": "%config SegmentMagics.outbox_path = 'PATH'",
    "shared_failures": "add --failures-path SHARED_DIRECTORY",
    "show_all": "%config SegmentMagics.display_limit = 0",
}


def magic_phrase(remedy: Any) -> str:
    """The step as a magic (anything that is not a Remedy is left to Python's words)."""
    if not isinstance(remedy, Remedy):
        return str(remedy)
    text = _MAGIC.get(remedy.action)
    if text is None:
        return python_phrase(remedy)
    return text.format(run_id=remedy.run_id, where=remedy.where)
