"""What the engines share on the notebook side: how many tasks send at once (a rate
budget is shared among them) and the progress bar over finished partitions."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def concurrency(count: Callable[[], int]) -> int:
    """The engine's count of parallel tasks, or this machine's cores when it cannot say."""
    try:
        return max(1, int(count()))
    except Exception:
        return os.cpu_count() or 1


def partition_bar(progress: bool, parts: int, engine: str) -> Any:
    """A bar over finished partitions; none for a single partition or when turned off."""
    if not progress or parts < 2:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=parts, unit=" partitions", desc=f"segment backfill ({engine})")
