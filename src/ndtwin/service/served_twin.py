"""The model the service answers with, loaded once, with its intervals and one baseline prediction per scenario."""

from __future__ import annotations

import threading

import pandas as pd

from ndtwin.scenario import Scenario
from ndtwin.twin.base import Twin
from ndtwin.twin.catalog import load_twin
from ndtwin.whatif.anchor import AnchoredIntervals, anchored_intervals_of
from ndtwin.whatif.intervals import Intervals, intervals_of


class BaselineCachingTwin:
    """``twin`` with the prediction of one scenario (the baseline of a what-if) given, not predicted again."""

    def __init__(self, twin: Twin, baseline: Scenario, prediction: pd.DataFrame) -> None:
        self.twin, self.name = twin, twin.name
        self.model_dir = getattr(twin, "model_dir", None)
        self._baseline, self._prediction = baseline, prediction

    def predict(self, scenario: Scenario) -> pd.DataFrame:
        return self._prediction if scenario is self._baseline else self.twin.predict(scenario)


class ServedTwin:
    """``load_twin(spec)`` with its calibrated intervals (None when it has none), and a cache of baseline
    predictions keyed by scenario id (thread-safe)."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.twin = load_twin(spec)
        self.intervals: Intervals | None = intervals_of(self.twin)
        self.anchored: AnchoredIntervals | None = anchored_intervals_of(self.twin)
        self._baselines: dict[str, tuple[Scenario, pd.DataFrame]] = {}
        self._lock = threading.Lock()

    def baseline(self, scenario_id: str, scenario: Scenario) -> tuple[pd.DataFrame, bool]:
        """The prediction of a stored scenario and whether it was predicted now (False: from the cache)."""
        with self._lock:
            cached = self._baselines.get(scenario_id)
        if cached is not None and cached[0] is scenario:
            return cached[1], False
        prediction = self.twin.predict(scenario)
        with self._lock:
            self._baselines[scenario_id] = (scenario, prediction)
        return prediction, True

    def forget(self, scenario_id: str) -> None:
        with self._lock:
            self._baselines.pop(scenario_id, None)

    def for_baseline(self, scenario_id: str, scenario: Scenario) -> tuple[BaselineCachingTwin, int]:
        """A twin that answers the baseline from the cache, and how many predictions that took (0 or 1)."""
        prediction, predicted = self.baseline(scenario_id, scenario)
        return BaselineCachingTwin(self.twin, scenario, prediction), int(predicted)
