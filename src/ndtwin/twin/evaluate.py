"""Evaluate any Twin against labelled samples: per-flow errors of delay, jitter and loss, by the load of each flow's
busiest link, and how many predictions exceed the physical bounds of the scenario (``ndtwin.scenario.bounds``)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ndtwin.data.metrics import summarize
from ndtwin.data.sample import EVAL_TARGETS, Sample, flow_targets
from ndtwin.scenario import Scenario
from ndtwin.scenario.bounds import FlowBounds
from ndtwin.scenario.generate import path_utilization
from ndtwin.twin.base import Twin

# Metrics reported per target in the JSON contract (MAPE in percent).
REPORTED = ("mape", "nmse_db", "mae", "rmse", "r2", "p95_abs_error")
# Classes of the offered load of a flow's busiest link (offered traffic / capacity): below 0.7, 0.7 to 1, overloaded.
LOAD_EDGES = (0.7, 1.0)
LOAD_CLASSES = ("<0.7", "0.7-1", ">=1")
# A value counts as above its bound beyond this relative margin (float32 models sum bounded hops in float32).
BOUND_RTOL = 1e-5


def load_class(scenario: Scenario) -> np.ndarray:
    """Per flow: the index in LOAD_CLASSES of the offered load of the busiest link on its path."""
    return np.searchsorted(np.asarray(LOAD_EDGES), path_utilization(scenario), side="right")


def above_bound(bounds: FlowBounds, frame: pd.DataFrame) -> np.ndarray:
    """Per flow: whether the frame's delay or delay variance exceeds the scenario's physical ``bounds``, or its loss
    lies outside [0, 1] (columns the frame lacks are not checked; NaN is not above)."""
    above = np.zeros(len(bounds.delay_s), dtype=bool)
    for column, bound in (("delay_s", bounds.delay_s), ("delay_var_s2", bounds.delay_var_s2)):
        if column in frame:
            above |= frame[column].to_numpy(dtype=float) > bound * (1 + BOUND_RTOL)
    if "loss" in frame:
        loss = frame["loss"].to_numpy(dtype=float)
        above |= (loss < 0) | (loss > 1)
    return above


@dataclass(frozen=True)
class _SampleFacts:
    """What the evaluation needs of a sample besides the predictions, computed once for all models."""

    bounds: FlowBounds
    load_class: np.ndarray
    n_labels_above_bound: int
    targets: pd.DataFrame  # flow_targets of the labels

    @classmethod
    def of(cls, sample: Sample) -> _SampleFacts:
        bounds = sample.scenario.bounds
        labels = sample.flow_labels
        return cls(bounds, load_class(sample.scenario), int(above_bound(bounds, labels).sum()), flow_targets(labels))


@dataclass
class _Columns:
    true: dict[str, list[np.ndarray]] = field(default_factory=lambda: defaultdict(list))
    pred: dict[str, list[np.ndarray]] = field(default_factory=lambda: defaultdict(list))
    load_class: dict[str, list[np.ndarray]] = field(default_factory=lambda: defaultdict(list))
    n_samples: int = 0
    n_flows: int = 0
    n_above_bound: int = 0
    n_labels_above_bound: int = 0

    def add(self, sample: Sample, prediction, facts: _SampleFacts) -> None:
        self.n_samples += 1
        self.n_flows += sample.scenario.n_flows
        self.n_above_bound += int(above_bound(facts.bounds, prediction).sum())
        self.n_labels_above_bound += facts.n_labels_above_bound
        for target, column in EVAL_TARGETS.items():
            if column not in sample.flow_labels or column not in prediction:
                continue
            true = facts.targets[column].to_numpy()
            if np.isfinite(true).any():  # an unmeasured (all-NaN) label is not compared
                self.true[target].append(true)
                self.pred[target].append(prediction[column].to_numpy(dtype=float))
                self.load_class[target].append(facts.load_class)

    def report(self) -> dict:
        result: dict = {
            "n_samples": self.n_samples,
            "n_flows": self.n_flows,
            "n_flows_above_bound": self.n_above_bound,
            "n_labels_above_bound": self.n_labels_above_bound,
        }
        if self.true["delay"]:
            result["delay_by_load"] = self._delay_by_load()
        for target in EVAL_TARGETS:
            if not self.true[target]:
                continue
            true = np.concatenate(self.true[target])
            pred = np.concatenate(self.pred[target])
            result[target] = _errors(true, pred)
            if target == "loss":
                lossy = true > 0
                result[target]["n_lossy_flows"] = int(lossy.sum())
                result[target]["lossy_flows"] = _errors(true[lossy], pred[lossy])
        return result

    def _delay_by_load(self) -> dict[str, dict]:
        """Delay errors and flow counts per class of the busiest link's load (LOAD_CLASSES)."""
        true, pred = np.concatenate(self.true["delay"]), np.concatenate(self.pred["delay"])
        classes = np.concatenate(self.load_class["delay"])
        by_load = {}
        for index, name in enumerate(LOAD_CLASSES):
            members = classes == index
            by_load[name] = {"n_flows": int(members.sum())} | _errors(true[members], pred[members])
        return by_load


def _errors(true: np.ndarray, pred: np.ndarray) -> dict[str, float | None]:
    values = summarize(true, pred)
    return {name: _json_number(values[name]) for name in REPORTED}


def _json_number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


class _Report:
    """Errors of one model, overall and per group, accumulated sample by sample."""

    def __init__(self, model: str, group_of: Callable[[Sample], str] | None) -> None:
        self.model, self.group_of = model, group_of
        self.overall = _Columns()
        self.groups: dict[str, _Columns] = defaultdict(_Columns)
        self.predict_seconds = 0.0

    def add(self, sample: Sample, prediction: pd.DataFrame, facts: _SampleFacts | None = None) -> None:
        facts = facts or _SampleFacts.of(sample)
        self.overall.add(sample, prediction, facts)
        if self.group_of is not None:
            self.groups[self.group_of(sample)].add(sample, prediction, facts)

    def result(self) -> dict:
        result = self.overall.report()
        result["model"] = self.model
        if len(self.groups) > 1:
            result["groups"] = {name: self.groups[name].report() for name in sorted(self.groups, key=_natural_key)}
        return result


def evaluate(
    twin: Twin,
    samples: Iterable[Sample],
    *,
    group_of: Callable[[Sample], str] | None = None,
    on_sample: Callable[[Sample], None] | None = None,
) -> dict:
    """Predict every sample and return the error report.

    The report is ``{"n_samples", "n_flows", "delay": {...}, "jitter": {...}, "loss": {...}}`` where each target
    holds REPORTED metrics over all flows with a measured (finite) label, and is absent when no sample measured
    it; ``loss`` also holds ``n_lossy_flows`` and the same metrics over flows
    with a measured loss > 0 (``lossy_flows``). ``jitter`` is the delay variance (s²). ``delay_by_load`` holds
    ``n_flows`` and the delay metrics per class of the offered load of each flow's busiest link (LOAD_CLASSES).
    ``n_flows_above_bound`` counts flows whose predicted delay or delay variance exceeds the scenario's physical
    bound or whose loss lies outside [0, 1] (``above_bound``); ``n_labels_above_bound`` the same for the labels
    (non-zero: the scenario does not describe the measured network, e.g. unknown buffers). With ``group_of``, a
    ``groups`` entry repeats the report per group (e.g. per topology size). ``predict_seconds`` is the time
    spent predicting.
    """
    return evaluate_many([twin], samples, group_of=group_of, on_sample=on_sample)[0]


def evaluate_many(
    twins: Sequence[Twin],
    samples: Iterable[Sample],
    *,
    group_of: Callable[[Sample], str] | None = None,
    on_sample: Callable[[Sample], None] | None = None,
) -> list[dict]:
    """``evaluate`` for several twins side by side, reading every sample once."""
    reports = [_Report(twin.name, group_of) for twin in twins]
    for sample in samples:
        facts = _SampleFacts.of(sample)
        for twin, report in zip(twins, reports):
            start = time.perf_counter()
            prediction = twin.predict(sample.scenario)
            report.predict_seconds += time.perf_counter() - start
            report.add(sample, prediction, facts)
        if on_sample is not None:
            on_sample(sample)
    return [report.result() | {"predict_seconds": round(report.predict_seconds, 3)} for report in reports]


def evaluate_predictions(
    pairs: Iterable[tuple[Sample, pd.DataFrame]],
    *,
    model: str,
    group_of: Callable[[Sample], str] | None = None,
    on_sample: Callable[[Sample], None] | None = None,
) -> dict:
    """The error report of ``evaluate`` for predictions made elsewhere (e.g. by parallel workers)."""
    report = _Report(model, group_of)
    for sample, prediction in pairs:
        report.add(sample, prediction)
        if on_sample is not None:
            on_sample(sample)
    return report.result()


def _natural_key(text: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in text.replace("/", " / ").split())
