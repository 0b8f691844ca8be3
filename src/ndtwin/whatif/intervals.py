"""Split-conformal 90 % intervals for a twin's per-flow predictions.

Calibration takes scenarios the model never trained on, simulated (baselines and perturbed versions alike), and
stores per metric the 5 % and 95 % quantiles of the residuals, binned by the offered utilisation of the busiest
link on each flow's path and by the flow's ToS (ToS ≥ ``tos_groups`` − 1 share the last group). Residuals are
``log(true / pred)`` for jitter and for delay beyond propagation (so an interval scales with the prediction; the
propagation delay is known exactly), and ``true − pred`` for loss. An interval is then ``[pred·e^lo, pred·e^hi]``
(delay: propagation + that on the rest; loss: ``[pred + lo, pred + hi]`` clipped to [0, 1]). A bin with fewer
than MIN_BIN_FLOWS calibration flows uses the quantiles of all flows.

An interval is meant to hold a flow's mean metric; ``ndtwin.whatif.validate`` judges its coverage against long
reference runs. The residuals are taken on runs of ``ndtwin whatif calibrate --packets`` packets per flow, so
they include that run length's sampling noise on the calibration topologies.

The quantiles live in a model directory as ``intervals.json`` with their provenance; a model without that file
has no intervals (``intervals_of`` returns None).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ndtwin.errors import DatasetError, ScenarioError, check_int, check_number
from ndtwin.scenario import Scenario
from ndtwin.scenario.generate import link_loads_bps
from ndtwin.twin.base import PREDICTED_COLUMNS, Twin

INTERVALS_FILE = "intervals.json"
LOG_METRICS = ("delay_s", "delay_var_s2")  # residuals as log ratios; the others as differences
DEFAULT_EDGES = (0.5, 0.8, 1.0)  # path-utilisation bin edges: <0.5, 0.5–0.8, 0.8–1, >1 (overload)
DEFAULT_TOS_GROUPS = 3
MIN_BIN_FLOWS = 50


def path_utilization(scenario: Scenario) -> np.ndarray:
    """Per flow: offered load / capacity of the busiest link on its path."""
    utilization = link_loads_bps(scenario) / scenario.topology.capacity_bps
    hops = scenario.hops
    return np.maximum.reduceat(utilization[hops.link], hops.flow_offset[:-1]) if scenario.n_flows else np.zeros(0)


def propagation_s(scenario: Scenario) -> np.ndarray:
    """Per flow: the propagation delay of its path."""
    hops = scenario.hops
    return np.bincount(hops.flow, weights=scenario.topology.prop_delay_s[hops.link], minlength=scenario.n_flows)


def flow_bins(scenario: Scenario, edges: tuple[float, ...], tos_groups: int) -> np.ndarray:
    """Per flow: its calibration bin, ``utilisation bin × tos_groups + min(ToS, tos_groups − 1)``."""
    utilization_bin = np.searchsorted(np.asarray(edges), path_utilization(scenario), side="right")
    return utilization_bin * tos_groups + np.minimum(scenario.traffic.tos, tos_groups - 1)


def residuals(metric: str, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Calibration residuals of one metric (NaN where they are undefined, e.g. a zero delay variance)."""
    truth, pred = np.asarray(truth, dtype=float), np.asarray(pred, dtype=float)
    if metric in LOG_METRICS:
        out = np.full(truth.shape, np.nan)
        ok = (truth > 0) & (pred > 0)
        out[ok] = np.log(truth[ok] / pred[ok])
        return out
    return truth - pred


@dataclass(frozen=True)
class Intervals:
    """Residual quantiles per metric and bin: ``quantiles[metric][bin] = (lo, hi)``, with
    ``bin = utilisation bin × tos_groups + ToS group`` (see ``flow_bins``)."""

    coverage: float
    edges: tuple[float, ...]
    quantiles: dict[str, list[tuple[float, float]]]
    counts: dict[str, list[int]]
    provenance: dict[str, Any] = field(default_factory=dict)
    tos_groups: int = 1

    @property
    def n_bins(self) -> int:
        return (len(self.edges) + 1) * self.tos_groups

    def bounds(self, scenario: Scenario, prediction: pd.DataFrame) -> pd.DataFrame:
        """Columns ``<metric>_lo`` and ``<metric>_hi`` per flow of ``scenario`` for a twin's ``prediction``."""
        bins = flow_bins(scenario, self.edges, self.tos_groups)
        columns = {}
        for metric, table in self.quantiles.items():
            lo, hi = (np.array([q[k] for q in table])[bins] for k in (0, 1))
            pred = prediction[metric].to_numpy(dtype=float)
            if metric == "delay_s":  # propagation is known exactly: the interval is on the rest of the delay
                fixed = propagation_s(scenario)
                rest = np.maximum(pred - fixed, 0.0)
                columns["delay_s_lo"], columns["delay_s_hi"] = fixed + rest * np.exp(lo), fixed + rest * np.exp(hi)
            elif metric in LOG_METRICS:
                columns[f"{metric}_lo"], columns[f"{metric}_hi"] = pred * np.exp(lo), pred * np.exp(hi)
            else:
                columns[f"{metric}_lo"] = np.clip(pred + lo, 0.0, 1.0)
                columns[f"{metric}_hi"] = np.clip(pred + hi, 0.0, 1.0)
        return pd.DataFrame(columns)

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / INTERVALS_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Intervals":
        """Read an ``intervals.json``; DatasetError naming the file and field if it is malformed."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            edges = tuple(float(e) for e in data["edges"])
            quantiles = {m: [(float(lo), float(hi)) for lo, hi in q] for m, q in data["quantiles"].items()}
            counts = {m: [int(c) for c in v] for m, v in data.get("counts", {}).items()}
            coverage = float(data["coverage"])
            tos_groups = int(data.get("tos_groups", 1))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DatasetError(path, f"expected an intervals file with coverage, edges and quantiles ({error!r})") from None
        result = cls(coverage, edges, quantiles, counts, data.get("provenance", {}), tos_groups)
        for metric, table in quantiles.items():
            if len(table) != result.n_bins:
                raise DatasetError(path, f"quantiles.{metric}: expected {result.n_bins} bins, got {len(table)}")
        return result


def calibrate(
    runs: Iterable[tuple[Scenario, pd.DataFrame, pd.DataFrame]],
    *,
    coverage: float = 0.9,
    edges: tuple[float, ...] = DEFAULT_EDGES,
    tos_groups: int = DEFAULT_TOS_GROUPS,
    provenance: dict[str, Any] | None = None,
) -> Intervals:
    """Intervals from ``(scenario, prediction, simulated flow labels)`` triples the model did not train on."""
    check_number("coverage", coverage, minimum=0, strict=True)
    check_int("tos_groups", tos_groups, minimum=1)
    if coverage >= 1:
        raise ScenarioError("coverage", "a fraction in (0, 1)", coverage)
    bins, found = [], {m: [] for m in PREDICTED_COLUMNS}
    for scenario, prediction, truth in runs:
        bins.append(flow_bins(scenario, edges, tos_groups))
        fixed = {"delay_s": propagation_s(scenario)}
        for metric in PREDICTED_COLUMNS:
            offset = fixed.get(metric, 0.0)
            found[metric].append(residuals(metric, truth[metric].to_numpy() - offset,
                                           prediction[metric].to_numpy() - offset))
    if not bins:
        raise ScenarioError("calibration runs", "at least one simulated scenario")
    flow_bin = np.concatenate(bins)
    quantiles, counts = {}, {}
    for metric, parts in found.items():
        values = np.concatenate(parts)
        ok = np.isfinite(values)
        if ok.sum() < MIN_BIN_FLOWS:
            continue  # e.g. no delay variance measured: no interval for that metric rather than a guessed one
        pooled = _quantile_pair(values[ok], coverage)
        quantiles[metric], counts[metric] = [], []
        for b in range((len(edges) + 1) * tos_groups):
            inside = values[ok & (flow_bin == b)]
            quantiles[metric].append(_quantile_pair(inside, coverage) if inside.size >= MIN_BIN_FLOWS else pooled)
            counts[metric].append(int(inside.size))
    return Intervals(coverage, tuple(edges), quantiles, counts, provenance or {}, tos_groups)


def _quantile_pair(values: np.ndarray, coverage: float) -> tuple[float, float]:
    """Split-conformal lower and upper residual quantiles (finite-sample corrected, equal tails)."""
    n = values.size
    tail = (1.0 - coverage) / 2
    lo_rank = max(math.floor((n + 1) * tail), 1)
    hi_rank = min(math.ceil((n + 1) * (1 - tail)), n)
    ordered = np.sort(values)
    return float(ordered[lo_rank - 1]), float(ordered[hi_rank - 1])


def intervals_of(twin: Twin) -> Intervals | None:
    """The intervals stored with a twin's model directory, or None when it has none (e.g. ``qt``)."""
    model_dir = getattr(twin, "model_dir", None)
    if model_dir is None or not (Path(model_dir) / INTERVALS_FILE).is_file():
        return None
    return Intervals.load(Path(model_dir) / INTERVALS_FILE)
