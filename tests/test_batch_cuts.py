"""Where a batch is cut: the packer of one message and the packer of a span of rows
must cut at the same places (the rule lives in ``client/batches.py``)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from segment_magics.client.batches import BATCH_TARGET_BYTES, batch_full, batch_takes

COSTS = st.lists(
    st.one_of(st.integers(1, 2_000), st.integers(BATCH_TARGET_BYTES - 10, BATCH_TARGET_BYTES + 10)),
    max_size=60,
)


def one_by_one(costs: list[int], count: int, size: int, most: int) -> tuple[int, int]:
    end = 0
    while end < len(costs) and not batch_full(count + end, size, costs[end], most):
        size += costs[end]
        end += 1
    return end, size


@settings(max_examples=400, deadline=None)
@given(
    costs=COSTS,
    count=st.integers(0, 30),
    size=st.one_of(
        st.integers(0, 5_000), st.integers(BATCH_TARGET_BYTES - 3_000, BATCH_TARGET_BYTES)
    ),
    most=st.integers(1, 30),
)
@example(costs=[1_000, 1], count=1, size=BATCH_TARGET_BYTES - 1_000, most=10)  # exactly full
@example(costs=[5, 5, 5], count=2, size=0, most=3)  # the count limit
def test_a_span_is_cut_where_message_by_message_packing_cuts(costs, count, size, most):
    pad = [7, 7]  # the span starts part-way into the list, as spans do
    end, packed = batch_takes(pad + costs, len(pad), len(pad) + len(costs), count, size, most)
    assert (end - len(pad), packed) == one_by_one(costs, count, size, most)


def test_an_empty_batch_takes_one_message_however_large():
    assert batch_takes([BATCH_TARGET_BYTES * 2, 5], 0, 2, 0, 0, 10) == (1, BATCH_TARGET_BYTES * 2)
    assert not batch_full(0, 0, BATCH_TARGET_BYTES * 2)
    assert batch_full(3, 0, 1, most=3)
