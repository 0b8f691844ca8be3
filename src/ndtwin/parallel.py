"""Order-preserving parallel map over worker processes, for CPU-bound per-sample work."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def interrupts_left_to_this_process() -> Iterator[None]:
    """Processes started in this block ignore Ctrl-C (SIGINT, sent to the whole process group by a terminal), so
    that only this process reacts to it: it stops cleanly and ends its workers, which print nothing. (An ignored
    SIGINT stays ignored in a new Python process.) Does nothing outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


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
