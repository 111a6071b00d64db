"""What one /v1/batch request holds, and packing messages into requests within the
limits (500 KB and 2,500 messages a request)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..messages import MAX_BATCH_MESSAGES, Built
from .outbox_contract import Entry

BATCH_TARGET_BYTES = 475_000  # what we pack to: room for the envelope and sentAt under 500 KB


@dataclass
class Batch:
    """One /v1/batch request: its messages and the input rows it covers."""

    seq: int
    entries: list[Entry] = field(default_factory=list)
    size: int = 0
    first_row: int = -1
    stop_row: int = 0
    dated_at: str | None = None
    positions: list[int] = field(default_factory=list)  # each entry's place in the input
    violations: dict[int, tuple[str, str]] = field(default_factory=dict)  # entry -> plan's


def batch_full(count: int, size: int, cost: int, most: int = MAX_BATCH_MESSAGES) -> bool:
    """Would a message of ``cost`` bytes push a batch of ``count`` messages and ``size``
    bytes past the limits (``most`` messages: fewer under a rate)? An empty batch takes
    any message, however large: the server, not the packer, refuses one too big."""
    return count > 0 and (size + cost > BATCH_TARGET_BYTES or count >= most)


def batch_takes(
    costs: list[int], start: int, stop: int, count: int, size: int, most: int
) -> tuple[int, int]:
    """Where a batch of ``count`` messages and ``size`` bytes, filled from
    ``costs[start:stop]`` in order, becomes full, and its size then: :func:`batch_full`
    applied message by message, written out because a span's rows take this loop (a
    call per row cost 0.5 % of a list backfill); a test holds the two to the same cuts."""
    end, room = start, most - count
    while end < stop and room > 0:
        cost = costs[end]
        if size + cost > BATCH_TARGET_BYTES and (count or end > start):
            break
        size, end, room = size + cost, end + 1, room - 1
    return end, size


def pack_batches(built: list[Built]) -> Iterator[list[Built]]:
    """Group built messages into /v1/batch requests within the byte and count limits."""
    chunk: list[Built] = []
    size = 0
    for item in built:
        cost = item.size + 1
        if batch_full(len(chunk), size, cost):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += cost
    if chunk:
        yield chunk
