"""Order-preserving parallel map over worker processes, for CPU-bound per-sample work."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int, ahead: int = 2) -> Iterator[tuple[T, R]]:
    """Yield ``(item, fn(item))`` in input order, computing on ``workers`` processes.

    ``items`` is consumed lazily: at most ``ahead × workers`` items are in flight, so a large dataset is never
    held in memory at once. ``workers == 1`` runs in this process. ``fn`` must be a module-level function.
    """
    if workers < 1:
        raise ValueError(f"workers: expected at least 1, got {workers}")
    if workers == 1:
        for item in items:
            yield item, fn(item)
        return
    pending: deque[tuple[T, Future]] = deque()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for item in items:
            pending.append((item, pool.submit(fn, item)))
            if len(pending) >= ahead * workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
