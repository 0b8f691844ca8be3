"""CPU use of the whole host while the emulation runs, sampled from ``/proc/stat``."""

from __future__ import annotations

import os
import threading
from pathlib import Path

SAMPLE_PERIOD_S = 0.5


def _busy_idle() -> tuple[int, int]:
    """Busy and idle jiffies of all CPUs since boot (idle includes iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields[:8]) - idle, idle


class CpuMonitor:
    """Context manager: the host's busy fraction over each ``SAMPLE_PERIOD_S``, in ``samples``."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        before = _busy_idle()
        while not self._stop.wait(SAMPLE_PERIOD_S):
            now = _busy_idle()
            busy, idle = now[0] - before[0], now[1] - before[1]
            if busy + idle > 0:
                self.samples.append(busy / (busy + idle))
            before = now

    def __enter__(self) -> CpuMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cores() -> int:
    return os.cpu_count() or 1
