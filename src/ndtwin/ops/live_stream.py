"""A live stream: per-flow windows measured on a running emulation whose traffic changes pattern on a schedule.

Every ``window_s`` seconds a collector thread reads the agents' cumulative per-flow counters
(:meth:`~ndtwin.emulate.live.LiveEmulation.counters`: packets sent at the source, packets received and their summed
one-way delay at the destination) and turns the differences into one window per flow that received packets, in the
layout of the replayed streams (:func:`~ndtwin.ops.sim_stream.flow_windows`), so :class:`~ndtwin.ops.loop.OperatingLoop`
runs on it unchanged. The first ``train_s`` seconds train the initial model; the loop's steps are the windows after
them, and it waits for each one as the network produces it. The SLA budget of a flow is
:data:`~ndtwin.ops.sim_stream.BUDGET_FACTOR` × its mean delay over the training windows (known before the loop starts).

Counters are read from files the agents rewrite every ``LIVE_PERIOD_S``: a window's edges are accurate to that period,
and packets in flight at an edge count as lost in one window and received in the next.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ndtwin.data.robust_ndt import BUDGET_COLUMN
from ndtwin.emulate.host import HostError
from ndtwin.emulate.live import LiveEmulation
from ndtwin.errors import ScenarioError
from ndtwin.ops.sim_stream import BUDGET_FACTOR, flow_windows
from ndtwin.scenario import Scenario

WAIT_MARGIN_S = 10.0  # how long past a window's end the loop waits for it before the run counts as failed


def counter_windows(before: dict, after: dict, scenario: Scenario, window_s: float) -> pd.DataFrame:
    """Per-flow windows between two counter snapshots (flows that received nothing are left out)."""
    n = scenario.n_flows
    sent, received, delay_ns = np.zeros(n), np.zeros(n), np.zeros(n)
    for flow in range(n):
        sent[flow] = after["sent"].get(flow, 0) - before["sent"].get(flow, 0)
        now, then = after["received"].get(flow, [0, 0]), before["received"].get(flow, [0, 0])
        received[flow], delay_ns[flow] = now[0] - then[0], now[1] - then[1]
    size_bits = scenario.traffic.mean_size_bits
    with np.errstate(divide="ignore", invalid="ignore"):
        labels = pd.DataFrame(
            {
                "offered_bps": np.maximum(sent, received) * size_bits / window_s,
                "loss": np.clip(1 - received / np.maximum(sent, received), 0, 1),
                "drops_per_s": np.maximum(sent - received, 0) / window_s,
                "delay_s": delay_ns / received / 1e9,
            }
        )
    windows = flow_windows(scenario, labels)
    return windows[received > 0].reset_index(drop=True)


class LiveStream:
    """The loop's stream (:class:`~ndtwin.ops.loop.WindowStream`) over a running :class:`LiveEmulation` whose phase
    ``i`` is named ``patterns[i]``; use it as a context manager (starts and stops the collector thread)."""

    def __init__(
        self, emulation: LiveEmulation, patterns: Sequence[str], *, window_s: float, train_s: float, name: str
    ) -> None:
        self.emulation, self.window_s, self.topology = emulation, float(window_s), name
        self.patterns = tuple(patterns)
        phase_windows = [round(d / window_s) for d in emulation.durations_s]
        self.train_windows = round(train_s / window_s)
        if self.train_windows < 1 or phase_windows[0] - self.train_windows < 2:
            raise ScenarioError(
                "--train-seconds", "at least one window, 2 windows shorter than the first phase", train_s
            )
        bounds = np.concatenate([[0], np.cumsum(phase_windows)]) - self.train_windows
        bounds[0] = 0
        self.concept_starts = tuple(int(b) for b in bounds)
        self._windows: list[pd.DataFrame] = []
        self._snapshot_ns: list[int] = []
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._budget: pd.Series | None = None
        self.processed_ns: dict[int, int] = {}

    @property
    def n_steps(self) -> int:
        return self.concept_starts[-1]

    @property
    def has_budget(self) -> bool:
        return True

    def concept_of_step(self, step: np.ndarray | int) -> np.ndarray:
        return np.searchsorted(np.asarray(self.concept_starts[1:]), step, side="right")

    def __enter__(self) -> LiveStream:
        self._thread = threading.Thread(target=self._collect, name="live-stream", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def initial_training(self) -> pd.DataFrame:
        """The training windows (``conn_element_idx`` = window index), waiting for them if needed."""
        parts = [self._window(k).assign(conn_element_idx=k) for k in range(self.train_windows)]
        return pd.concat(parts, ignore_index=True)

    def step_windows(self, step: int) -> pd.DataFrame:
        """The windows of loop step ``step`` with their SLA budget, waiting until the network has produced them."""
        if self._budget is None:
            training = self.initial_training
            self._budget = BUDGET_FACTOR * training.groupby("flow_id")["delay_s"].mean()
        windows = self._window(step + self.train_windows)
        windows = windows[windows["flow_id"].isin(self._budget.index)]
        return windows.assign(step=step, **{BUDGET_COLUMN: windows["flow_id"].map(self._budget).to_numpy(float)})

    def record_done(self, step: int, event: str) -> None:
        """``OperatingLoop.run``'s ``on_step``: when each step was finished (for detection delays)."""
        if event == "done":
            self.processed_ns[step] = time.time_ns()

    def change_times_ns(self) -> list[int]:
        """Wall-clock time of every pattern change."""
        return list(self.emulation.phase_starts_ns[1:])

    def _window(self, k: int) -> pd.DataFrame:
        deadline = self.emulation.start_ns / 1e9 + (k + 1) * self.window_s + WAIT_MARGIN_S
        with self._ready:
            while len(self._windows) <= k:
                if time.time() > deadline or not self._thread.is_alive():
                    raise HostError(f"the live network produced no measurement window {k} (the emulation stopped?)")
                self._ready.wait(timeout=0.5)
            return self._windows[k]

    def _collect(self) -> None:
        """Snapshot the counters at every window edge until the last window."""
        emulation = self.emulation
        total = round(sum(emulation.durations_s) / self.window_s)
        previous = None
        for edge in range(total + 1):
            at_ns = emulation.start_ns + int(edge * self.window_s * 1e9)
            while (left := (at_ns - time.time_ns()) / 1e9) > 0:
                if self._stop.wait(min(left, 0.5)):
                    return
            snapshot = emulation.counters()
            if previous is not None:
                window = counter_windows(previous, snapshot, emulation.scenario, self.window_s)
                with self._ready:
                    self._windows.append(window.assign(window_idx=edge - 1))
                    self._ready.notify_all()
            previous = snapshot


def detection_delays(stream: LiveStream, drifts: list[dict]) -> list[float | None]:
    """Seconds from each pattern change to the end of the first step after it at which the loop raised a drift
    alarm (None when none came before the next change)."""
    delays: list[float | None] = []
    bounds = stream.concept_starts
    for change, (start, end) in zip(stream.change_times_ns(), zip(bounds[1:-1], bounds[2:])):
        hits = [d["step"] for d in drifts if start <= d["step"] < end and d["step"] in stream.processed_ns]
        delays.append(round((stream.processed_ns[min(hits)] - change) / 1e9, 2) if hits else None)
    return delays
