"""How many tasks of an engine send at once (a rate budget is shared among them)."""

from __future__ import annotations

import os
from collections.abc import Callable


def concurrency(count: Callable[[], int]) -> int:
    """The engine's count of parallel tasks, or this machine's cores when it cannot say."""
    try:
        return max(1, int(count()))
    except Exception:
        return os.cpu_count() or 1
