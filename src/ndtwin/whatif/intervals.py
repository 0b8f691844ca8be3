"""Split-conformal 90 % intervals for a twin's per-flow predictions.

Calibration takes scenarios the model never trained on, simulated (baselines and perturbed versions alike).
Residuals are ``log(true / pred)`` for jitter and for delay beyond propagation (so an interval scales with the
prediction; the propagation delay is known exactly), and ``true − pred`` for loss. Two methods:

* **binned** (file version 1): per metric, the 5 % and 95 % quantiles of the residuals per bin of the offered
  utilisation of the busiest link on each flow's path and of the flow's ToS (ToS ≥ ``tos_groups`` − 1 share the
  last group). A bin with fewer than MIN_BIN_FLOWS calibration flows uses the quantiles of all flows.
* **adaptive** (normalised conformal, file version 2): a ``ScaleModel`` (``ndtwin.whatif.difficulty``) predicts
  each flow's typical residual size sigma(x) from features known at prediction time (held to the range seen in
  its fit: no extrapolation to larger networks); the stored quantiles are
  those of ``residual / sigma(x)``. The scale model is fitted on one half of the calibration groups (e.g.
  topologies) and the quantiles are taken on the other half, so they are honest split-conformal quantiles.

An interval is ``[pred·e^(lo·s), pred·e^(hi·s)]`` with ``s`` = sigma(x), or 1 for binned metrics (delay:
propagation + that on the rest; loss: ``[pred + lo·s, pred + hi·s]`` clipped to [0, 1]). Calibration flows can be
weighted so that every calibration scenario counts equally, whatever its number of flows.

An interval is meant to hold a flow's mean metric; ``ndtwin.whatif.validate`` judges its coverage against long
reference runs. The residuals are taken on runs of ``ndtwin whatif calibrate --packets`` packets per flow, so
they include that run length's sampling noise on the calibration topologies.

The quantiles live in a model directory as ``intervals.json`` with their provenance; a model without that file
has no intervals (``intervals_of`` returns None).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ndtwin.errors import DatasetError, ScenarioError, check_int, check_number
from ndtwin.scenario import Scenario
from ndtwin.scenario.generate import link_loads_bps
from ndtwin.twin.base import PREDICTED_COLUMNS, Twin
from ndtwin.whatif.difficulty import ScaleModel, fit_scale, flow_features

INTERVALS_FILE = "intervals.json"
FORMAT_VERSION = 2  # 1: binned quantiles only; 2: adds per-metric scale models ("scales")
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
    ``bin = utilisation bin × tos_groups + ToS group`` (see ``flow_bins``). A metric with a scale model in
    ``scales`` has quantiles of residuals divided by its sigma(x)."""

    coverage: float
    edges: tuple[float, ...]
    quantiles: dict[str, list[tuple[float, float]]]
    counts: dict[str, list[int]]
    provenance: dict[str, Any] = field(default_factory=dict)
    tos_groups: int = 1
    scales: dict[str, ScaleModel] = field(default_factory=dict)

    @property
    def n_bins(self) -> int:
        return (len(self.edges) + 1) * self.tos_groups

    def bounds(self, scenario: Scenario, prediction: pd.DataFrame) -> pd.DataFrame:
        """Columns ``<metric>_lo`` and ``<metric>_hi`` per flow of ``scenario`` for a twin's ``prediction``."""
        bins = flow_bins(scenario, self.edges, self.tos_groups)
        features = flow_features(scenario, prediction) if self.scales else None
        columns = {}
        for metric, table in self.quantiles.items():
            scale = self.scales[metric].sigma(features) if metric in self.scales else 1.0
            lo, hi = (np.array([q[k] for q in table])[bins] * scale for k in (0, 1))
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
        data = {"version": FORMAT_VERSION, **asdict(self),
                "scales": {metric: model.to_dict() for metric, model in self.scales.items()}}
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Intervals":
        """Read an ``intervals.json`` (version 1 or 2); DatasetError naming the file and field if it is malformed."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            version = int(data.get("version", 1))
            edges = tuple(float(e) for e in data["edges"])
            quantiles = {m: [(float(lo), float(hi)) for lo, hi in q] for m, q in data["quantiles"].items()}
            counts = {m: [int(c) for c in v] for m, v in data.get("counts", {}).items()}
            coverage = float(data["coverage"])
            tos_groups = int(data.get("tos_groups", 1))
            scales = {m: ScaleModel.from_dict(v) for m, v in data.get("scales", {}).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise DatasetError(path, f"expected an intervals file with coverage, edges and quantiles ({error!r})") from None
        if version not in (1, FORMAT_VERSION):
            raise DatasetError(path, f"version: expected 1 or {FORMAT_VERSION}, got {version} (written by a newer ndtwin?)")
        result = cls(coverage, edges, quantiles, counts, data.get("provenance", {}), tos_groups, scales)
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
    adaptive: bool = False,
    groups: Sequence[int] | None = None,
    equal_scenarios: bool = False,
    scaled: Sequence[str] = LOG_METRICS,
) -> Intervals:
    """Intervals from ``(scenario, prediction, simulated flow labels)`` triples the model did not train on.

    ``adaptive``: normalised conformal intervals for the ``scaled`` metrics; their scale models are fitted on the
    runs whose group (``groups``, one per run, e.g. the calibration topology; default: every run its own group)
    has an even rank among the distinct groups, and every metric's quantiles are taken on the others. ``equal_scenarios``: weight each run's flows by
    1 / its number of flows, so every calibration scenario counts equally."""
    check_number("coverage", coverage, minimum=0, strict=True)
    check_int("tos_groups", tos_groups, minimum=1)
    if coverage >= 1:
        raise ScenarioError("coverage", "a fraction in (0, 1)", coverage)
    table = _calibration_table(runs, edges, tos_groups, adaptive)
    run = table["run"]
    if run.size == 0:
        raise ScenarioError("calibration runs", "at least one simulated scenario")
    group = np.asarray(groups if groups is not None else np.arange(run.max() + 1))
    if group.shape != (run.max() + 1,):
        raise ScenarioError("groups", f"one group per calibration run ({run.max() + 1})", group.shape)
    weight = 1.0 / np.bincount(run)[run] if equal_scenarios else np.ones(run.size)
    rank = np.searchsorted(np.unique(group), group)[run]
    scored = rank % 2 == 1 if adaptive else np.ones(run.size, dtype=bool)
    if adaptive and (scored.all() or not scored.any()):
        raise ScenarioError("groups", "at least two distinct calibration groups for adaptive intervals", np.unique(group))
    quantiles, counts, scales = {}, {}, {}
    for metric in PREDICTED_COLUMNS:
        values = table[metric]
        ok = np.isfinite(values)
        if (ok & scored).sum() < MIN_BIN_FLOWS or (adaptive and (ok & ~scored).sum() < MIN_BIN_FLOWS):
            continue  # e.g. no delay variance measured: no interval for that metric rather than a guessed one
        if adaptive and metric in scaled:
            fit = ok & ~scored
            scales[metric] = fit_scale(table["features"][fit], values[fit], weight[fit])
            values = values / np.where(ok, scales[metric].sigma(table["features"]), 1.0)
        ok &= scored
        pooled = _quantile_pair(values[ok], weight[ok], coverage)
        quantiles[metric], counts[metric] = [], []
        for b in range((len(edges) + 1) * tos_groups):
            inside = ok & (table["bin"] == b)
            enough = inside.sum() >= MIN_BIN_FLOWS
            quantiles[metric].append(_quantile_pair(values[inside], weight[inside], coverage) if enough else pooled)
            counts[metric].append(int(inside.sum()))
    return Intervals(coverage, tuple(edges), quantiles, counts, provenance or {}, tos_groups, scales)


def _calibration_table(runs: Iterable[tuple[Scenario, pd.DataFrame, pd.DataFrame]], edges: tuple[float, ...],
                       tos_groups: int, with_features: bool) -> dict[str, np.ndarray]:
    """Per calibration flow: its run index, bin, residual per metric and (``with_features``) difficulty features."""
    parts: dict[str, list[np.ndarray]] = {key: [] for key in ("run", "bin", "features", *PREDICTED_COLUMNS)}
    for k, (scenario, prediction, truth) in enumerate(runs):
        parts["run"].append(np.full(scenario.n_flows, k))
        parts["bin"].append(flow_bins(scenario, edges, tos_groups))
        if with_features:
            parts["features"].append(flow_features(scenario, prediction))
        fixed = {"delay_s": propagation_s(scenario)}
        for metric in PREDICTED_COLUMNS:
            offset = fixed.get(metric, 0.0)
            parts[metric].append(residuals(metric, truth[metric].to_numpy() - offset,
                                           prediction[metric].to_numpy() - offset))
    return {key: np.concatenate(p) if p else np.zeros(0, dtype=int) for key, p in parts.items()}


def _quantile_pair(values: np.ndarray, weight: np.ndarray, coverage: float) -> tuple[float, float]:
    """Split-conformal lower and upper quantiles of weighted values (equal tails, finite-sample corrected with
    the effective number of values; equal weights give the usual ranks)."""
    weight = weight / weight.sum()
    n = 1.0 / float(np.sum(weight ** 2))
    level = min((1.0 - (1.0 - coverage) / 2) * (1 + 1 / n), 1.0)
    return -_weighted_quantile(-values, weight, level), _weighted_quantile(values, weight, level)


def _weighted_quantile(values: np.ndarray, weight: np.ndarray, level: float) -> float:
    """The smallest value whose cumulative weight share reaches ``level``."""
    order = np.argsort(values, kind="stable")
    share = np.cumsum(weight[order])
    return float(values[order][min(np.searchsorted(share, level * share[-1] - 1e-12), len(values) - 1)])


def intervals_of(twin: Twin) -> Intervals | None:
    """The intervals stored with a twin's model directory, or None when it has none (e.g. ``qt``)."""
    model_dir = getattr(twin, "model_dir", None)
    if model_dir is None or not (Path(model_dir) / INTERVALS_FILE).is_file():
        return None
    return Intervals.load(Path(model_dir) / INTERVALS_FILE)
