"""Evaluate any Twin against labelled samples: per-flow errors of delay, jitter and loss."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ndtwin.data.metrics import summarize
from ndtwin.data.sample import EVAL_TARGETS, Sample
from ndtwin.twin.base import Twin

# Metrics reported per target in the JSON contract (MAPE in percent).
REPORTED = ("mape", "nmse_db", "mae", "rmse", "r2", "p95_abs_error")


@dataclass
class _Columns:
    true: dict[str, list[np.ndarray]] = field(default_factory=lambda: defaultdict(list))
    pred: dict[str, list[np.ndarray]] = field(default_factory=lambda: defaultdict(list))
    n_samples: int = 0
    n_flows: int = 0

    def add(self, sample: Sample, prediction) -> None:
        self.n_samples += 1
        self.n_flows += sample.scenario.n_flows
        for target, column in EVAL_TARGETS.items():
            if column not in sample.flow_labels or column not in prediction:
                continue
            true = sample.flow_labels[column].to_numpy(dtype=float)
            if np.isfinite(true).any():  # an unmeasured (all-NaN) label is not compared
                self.true[target].append(true)
                self.pred[target].append(prediction[column].to_numpy(dtype=float))

    def report(self) -> dict:
        result: dict = {"n_samples": self.n_samples, "n_flows": self.n_flows}
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

    def add(self, sample: Sample, prediction: pd.DataFrame) -> None:
        self.overall.add(sample, prediction)
        if self.group_of is not None:
            self.groups[self.group_of(sample)].add(sample, prediction)

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
    with a measured loss > 0 (``lossy_flows``). ``jitter`` is the delay variance (s²). With ``group_of``, a
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
        for twin, report in zip(twins, reports):
            start = time.perf_counter()
            prediction = twin.predict(sample.scenario)
            report.predict_seconds += time.perf_counter() - start
            report.add(sample, prediction)
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
