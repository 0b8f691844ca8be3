"""What-if answers anchored on the measured baseline.

A twin's error on a network is largely the same before and after a change: a flow whose mean delay the twin
over-predicts in today's network is usually over-predicted after a link fails too. When the baseline's per-flow
metrics are measured (telemetry, or a simulation standing in for it), that part of the error can be removed: the
prediction after the change is moved by a share ``w`` of the twin's residual on the same flow before it,

    log rest_anchored = log rest_after + w · log(measured rest_before / predicted rest_before)

(rest: delay beyond propagation, or jitter; loss moves by ``w`` times its difference instead). Flows that did not
exist before keep the twin's own prediction. The weights ``w`` per metric are least-squares slopes of the residual
after a change on the residual before it, fitted on calibration suites where the baseline "measurement" is a run
with an independent seed; a measurement is noisy, so ``w`` < 1.

The anchored predictions get their own 90 % intervals (``intervals_anchored.json`` beside ``intervals.json``),
calibrated on the perturbed cases of the same suites with the same bins. The measured baseline also shows how far
off the twin is on this network: with ``spread_reference``, the delay and jitter widths scale with the root mean
square of the twin's log residuals on the baseline's flows (measurement noise included), relative to its median
over the calibration cases, and never below the 5 % quantile of that ratio there (``spread_floor``); the quantiles
are calibrated on residuals divided by the same ratio. The calibration's measurements are runs of
``provenance.packets_per_flow`` packets of the slowest flow. (A version-1 file, without ``spread_reference``, has
one width per bin.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.scenario import Scenario
from ndtwin.twin.base import PREDICTED_COLUMNS, Twin
from ndtwin.whatif.intervals import DEFAULT_SIZE_EDGES, LOG_METRICS, Intervals, calibrate, propagation_s, residuals

ANCHORED_INTERVALS_FILE = "intervals_anchored.json"
ANCHOR_FORMAT_VERSION = 2  # 1: weights and intervals; 2: adds spread_reference and spread_floor


@dataclass(frozen=True)
class AnchorCase:
    """One perturbed scenario with its baseline: the twin's predictions of both, the measured baseline (checked
    and kept as ``measured_baseline`` returns it) and ``origin`` (per flow after, its baseline flow; −1 for none)."""

    before: Scenario
    predicted_before: pd.DataFrame
    measured_before: pd.DataFrame
    after: Scenario
    predicted_after: pd.DataFrame
    origin: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "measured_before", measured_baseline(self.measured_before, self.before))


def _offset(metric: str, scenario: Scenario) -> np.ndarray | float:
    """What is known exactly and left out of a metric's residual: the propagation delay of the delay."""
    return propagation_s(scenario) if metric == "delay_s" else 0.0


def _column(frame: pd.DataFrame, metric: str, what: str) -> np.ndarray:
    if metric not in frame:
        raise ScenarioError(what, f"a column {metric!r} (one row per baseline flow)", list(frame.columns))
    return frame[metric].to_numpy(dtype=float)


def measured_baseline(measured: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """The measured metrics of ``scenario``'s flows, one row per flow in its order (NaN: not measured);
    ScenarioError naming the missing column, the wrong row count or the first value that cannot be a measurement."""
    if len(measured) != scenario.n_flows:
        raise ScenarioError("measured baseline", f"{scenario.n_flows} rows, one per baseline flow", len(measured))
    frame = pd.DataFrame(index=range(len(measured)))
    for metric in PREDICTED_COLUMNS:
        raw = measured[metric].reset_index(drop=True) if metric in measured else None
        if raw is None:
            raise ScenarioError(
                "measured baseline", f"a column {metric!r} (one row per baseline flow)", list(measured.columns)
            )
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        bad = (
            (values.isna() & raw.notna())
            | (values < 0)
            | np.isinf(values)
            | ((values > 1) if metric == "loss" else False)
        )
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            expected = "a loss share in [0, 1]" if metric == "loss" else "a finite value ≥ 0"
            raise ScenarioError(f"measured baseline {metric}[{row}]", f"{expected} or NaN (not measured)", raw[row])
        frame[metric] = values
    return frame


def _residuals_before(case: AnchorCase, metric: str) -> np.ndarray:
    """Per baseline flow: the twin's residual against the measurement (NaN where there is none)."""
    offset = _offset(metric, case.before)
    measured = case.measured_before[metric].to_numpy()
    return residuals(metric, measured - offset, _column(case.predicted_before, metric, "prediction") - offset)


def baseline_residuals(case: AnchorCase, metric: str) -> np.ndarray:
    """Per flow after the change: the twin's residual on its baseline flow (NaN where there is none)."""
    before = _residuals_before(case, metric)
    kept = case.origin >= 0
    out = np.full(case.origin.shape, np.nan)
    out[kept] = before[case.origin[kept]]
    return out


def anchor(case: AnchorCase, weights: dict[str, float]) -> pd.DataFrame:
    """The twin's prediction after the change, anchored on the measured baseline with ``weights`` per metric."""
    out = case.predicted_after.copy()
    for metric, weight in weights.items():
        shift = np.nan_to_num(weight * baseline_residuals(case, metric), nan=0.0)
        offset = _offset(metric, case.after)
        rest = _column(case.predicted_after, metric, "prediction") - offset
        if metric in LOG_METRICS:
            out[metric] = offset + rest * np.exp(shift)
        else:
            out[metric] = np.clip(rest + shift, 0.0, 1.0)
    return out


def baseline_spread(case: AnchorCase) -> dict[str, float]:
    """Per delay and jitter: the root mean square of the twin's log residuals on the measured baseline's flows
    (left out where it is not positive and finite)."""
    spread = {}
    for metric in LOG_METRICS:
        values = _residuals_before(case, metric)
        values = values[np.isfinite(values)]
        rms = float(np.sqrt(np.mean(values**2))) if values.size else 0.0
        if rms > 0:
            spread[metric] = rms
    return spread


def width_factors(spread: dict[str, float], reference: dict[str, float], floor: dict[str, float]) -> dict[str, float]:
    """Per metric of ``reference``: ``spread / reference``, at least ``floor`` (1 where the spread is unknown)."""
    return {
        metric: max(spread.get(metric, value) / value, floor.get(metric, 0.0)) for metric, value in reference.items()
    }


def fit_weights(cases: Iterable[AnchorCase], truths: Iterable[pd.DataFrame]) -> dict[str, float]:
    """Per metric: the least-squares slope (through 0) of the residual after a change on the residual before it,
    every case weighted equally, clipped to [0, 1]. ``truths``: the simulated flow labels after each change."""
    pairs: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {m: [] for m in PREDICTED_COLUMNS}
    for case, truth in zip(cases, truths):
        for metric in PREDICTED_COLUMNS:
            offset = _offset(metric, case.after)
            after = residuals(
                metric,
                _column(truth, metric, "simulated labels") - offset,
                _column(case.predicted_after, metric, "prediction") - offset,
            )
            before = baseline_residuals(case, metric)
            ok = np.isfinite(after) & np.isfinite(before)
            pairs[metric].append((before[ok], after[ok], np.full(ok.sum(), 1.0 / max(ok.sum(), 1))))
    weights = {}
    for metric, parts in pairs.items():
        x, y, w = (np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in range(3))
        denominator = float(np.sum(w * x * x))
        if denominator > 0:
            weights[metric] = float(np.clip(np.sum(w * x * y) / denominator, 0.0, 1.0))
    return weights


@dataclass(frozen=True)
class AnchoredIntervals:
    """Anchoring weights per metric and the 90 % intervals of the anchored predictions."""

    weights: dict[str, float]
    intervals: Intervals
    spread_reference: dict[str, float] = field(default_factory=dict)
    spread_floor: dict[str, float] = field(default_factory=dict)

    def widths(self, case: AnchorCase) -> dict[str, float]:
        """Per metric with a spread reference: the factor its quantiles are multiplied by for ``case``."""
        return width_factors(baseline_spread(case), self.spread_reference, self.spread_floor)

    def bounds(self, case: AnchorCase, answer: pd.DataFrame) -> pd.DataFrame:
        """The intervals of ``answer``, the anchored prediction of ``case`` after its change."""
        return self.intervals.bounds(case.after, answer, self.widths(case))

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / ANCHORED_INTERVALS_FILE
        data: dict[str, Any] = {
            "version": ANCHOR_FORMAT_VERSION,
            "weights": self.weights,
            "spread_reference": self.spread_reference,
            "spread_floor": self.spread_floor,
            "intervals": self.intervals.to_dict(),
        }
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> AnchoredIntervals:
        """Read an ``intervals_anchored.json``; DatasetError naming the file and field if it is malformed."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            version = int(data["version"])
            weights = {str(m): float(w) for m, w in data["weights"].items()}
            reference = {str(m): float(v) for m, v in data.get("spread_reference", {}).items()}
            floor = {str(m): float(v) for m, v in data.get("spread_floor", {}).items()}
            inner = data["intervals"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise DatasetError(
                path, f"expected anchored intervals with version, weights and intervals ({error!r})"
            ) from None
        if not 1 <= version <= ANCHOR_FORMAT_VERSION:
            raise DatasetError(
                path, f"version: expected 1 to {ANCHOR_FORMAT_VERSION}, got {version} (written by a newer ndtwin?)"
            )
        unknown = set(weights) - set(PREDICTED_COLUMNS)
        if unknown or not all(0.0 <= w <= 1.0 for w in weights.values()):
            raise DatasetError(
                path, f"weights: expected values in [0, 1] for {', '.join(PREDICTED_COLUMNS)}, got {weights}"
            )
        if set(reference) - set(LOG_METRICS) or not all(v > 0 for v in reference.values()):
            raise DatasetError(
                path, f"spread_reference: expected positive values for {', '.join(LOG_METRICS)}, got {reference}"
            )
        return cls(weights, Intervals.from_dict(inner, path), reference, floor)


def calibrate_anchored(
    cases: Sequence[AnchorCase],
    truths: Sequence[pd.DataFrame],
    *,
    coverage: float = 0.9,
    size_edges: tuple[int, ...] = DEFAULT_SIZE_EDGES,
    provenance: dict[str, Any] | None = None,
) -> AnchoredIntervals:
    """Weights fitted on ``cases`` (the simulated labels after each change in ``truths``, the measured baselines
    runs with seeds of their own) and intervals of the anchored predictions (binned as by
    ``ndtwin.whatif.intervals.calibrate``), with widths that scale with the spread of the twin's residuals on each
    measured baseline."""
    weights = fit_weights(cases, truths)
    runs = [(case.after, anchor(case, weights), truth) for case, truth in zip(cases, truths)]
    spreads = [baseline_spread(case) for case in cases]
    reference, floor = {}, {}
    for metric in LOG_METRICS:
        values = np.array([s[metric] for s in spreads if metric in s])
        if values.size:
            reference[metric] = float(np.median(values))
            floor[metric] = float(np.quantile(values / reference[metric], 0.05))
    scales = [width_factors(spread, reference, floor) for spread in spreads]
    intervals = calibrate(runs, coverage=coverage, size_edges=size_edges, provenance=provenance, run_scales=scales)
    return AnchoredIntervals(weights, intervals, reference, floor)


def anchored_intervals_of(twin: Twin) -> AnchoredIntervals | None:
    """The anchored intervals stored with a twin's model directory, or None when it has none."""
    model_dir = getattr(twin, "model_dir", None)
    if model_dir is None or not (Path(model_dir) / ANCHORED_INTERVALS_FILE).is_file():
        return None
    return AnchoredIntervals.load(Path(model_dir) / ANCHORED_INTERVALS_FILE)
