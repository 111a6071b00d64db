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


def rate_share(max_rate: float | None, parallel: int, parts: int) -> float | None:
    """One task's share of ``--max-rate``: the budget split among the tasks that can run at
    once, which is fewer than the engine's slots when there are fewer partitions."""
    if not max_rate:
        return None
    return max_rate / max(1, min(parallel, parts))


def partition_bar(progress: bool, parts: int, engine: str) -> Any:
    """A bar over finished partitions; none for a single partition or when turned off."""
    if not progress or parts < 2:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=parts, unit=" partitions", desc=f"segment backfill ({engine})")
