"""Which process owns a claim on outbox messages, and whether it still runs.

An owner is ``host:pid:start time``. A pid alone is not enough: after a crash the
pid can be reused by another process, perhaps another user's, so the start time
(clock ticks since boot, from ``/proc``) is compared first; ``kill(pid, 0)`` is only
asked when ``/proc`` cannot tell.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

STALE_CLAIM_SECONDS = 3600.0  # a claim by a process on another host counts as alive this long


def start_time(pid: int) -> str:
    """When a process started (Linux: clock ticks since boot); "" when nobody can tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        return stat.rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


HOST = socket.gethostname()
_OWNER = f"{HOST}:{os.getpid()}:{start_time(os.getpid())}"


def current_owner() -> str:
    """This process (recomputed after a fork, so a child never inherits its parent's claims)."""
    global _OWNER
    if not _OWNER.startswith(f"{HOST}:{os.getpid()}:"):
        _OWNER = f"{HOST}:{os.getpid()}:{start_time(os.getpid())}"
    return _OWNER


def owner_alive(owner: str | None, claimed_at: float | None) -> bool:
    """Is the process that wrote ``owner`` still running? Claims from another host
    count as alive for :data:`STALE_CLAIM_SECONDS` after ``claimed_at``."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != HOST:
        return claimed_at is not None and time.time() - claimed_at < STALE_CLAIM_SECONDS
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    running_since = start_time(pid)
    if running_since:  # /proc answers for every user's processes: the pid's start decides
        return not started or running_since == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process, and no /proc to tell it apart
        return not started
    except OSError:
        return False
    return not started
