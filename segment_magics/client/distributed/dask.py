"""Dask: each partition (a pandas DataFrame) is sent by the worker that holds it.

With a ``distributed`` client the partitions run on its cluster and a progress bar
follows them as they finish; without one, Dask's local threads run them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .worker import PartitionReport, WorkerConfig, send_partition


def _client() -> Any:
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:  # no client in this process
        return None


def run_dask(
    frame: Any, config: WorkerConfig, *, max_rate: float | None, progress: bool
) -> tuple[list[PartitionReport], bool]:
    import dask

    from .parallel import concurrency, partition_bar, rate_share

    client = _client()
    if client is not None:
        parallel = concurrency(lambda: sum(client.nthreads().values()))
    else:
        import os

        parallel = os.cpu_count() or 1
    config = replace(config, rate=rate_share(max_rate, parallel, frame.npartitions))
    send = dask.delayed(send_partition, pure=False)
    tasks = [send(config, index, part) for index, part in enumerate(frame.to_delayed())]
    if client is None:
        return list(dask.compute(*tasks, scheduler="threads")), False
    from distributed import as_completed

    futures = client.compute(tasks)
    bar = partition_bar(progress, len(futures), "dask")
    reports: list[PartitionReport] = []
    try:
        for future in as_completed(futures):
            reports.append(future.result())
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        client.cancel(futures)
        return reports, True
    finally:
        if bar is not None:
            bar.close()
    return reports, False
