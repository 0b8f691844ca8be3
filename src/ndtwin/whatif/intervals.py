"""Split-conformal 90 % intervals for a twin's per-flow predictions.

Calibration takes scenarios the model never trained on, simulated (baselines and perturbed versions alike).
Residuals are ``log(true / pred)`` for jitter and for delay beyond propagation (so an interval scales with the
prediction; the propagation delay is known exactly), and ``true − pred`` for loss. Two methods:

* **binned** (file version 1): per metric, the 5 % and 95 % quantiles of the residuals per bin of the offered
  utilisation of the busiest link on each flow's path and of the flow's ToS (ToS ≥ ``tos_groups`` − 1 share the
  last group). A bin with fewer than MIN_BIN_FLOWS calibration flows uses the quantiles of all flows.
* **adaptive** (normalised conformal, file version 2): a ``ScaleModel`` (``ndtwin.whatif.difficulty``) predicts
  each flow's typical residual size sigma(x) from features known at prediction time (held to the range seen in
  its fit: no extrapolation beyond the largest calibration network); the stored quantiles are those of
  ``residual / sigma(x)``, each residual divided by a sigma fitted without its own calibration group (e.g.
  topology). Two schemes: **cross-fitting** (every group's residuals scaled by a model fitted on all other groups,
  quantiles on all groups, the stored model fitted on all groups) or **halves** (the model fitted on the groups
  of even rank, quantiles on the others: exact split conformal, but each half sees only half the sizes).
* **spread-scaled** (file version 4, binned): the delay residuals are divided by the disagreement of a second
  model trained like this one (``ndtwin.whatif.spread``: ``|log(rest / rest₂)| + floor``), so the delay interval
  widens where the two models disagree; the quantiles stay per bin. The second model is stored with the first.
* **size classes** (file version 3, either method): the bins are also split by the network's number of nodes
  (``size_edges``), so each size class gets the quantiles of the calibration networks of its size. A network larger
  than every calibration one falls in the largest class. A bin with too few flows uses the quantiles of its size
  class (of all flows if that class has too few too).
* **load classes** (file version 5, either method): the bins are also split by the scenario's network load, the
  utilisation of its busiest link (``load_edges``): a flow on a lightly used path errs more in a busy network than
  in a quiet one. Size and load classes combine into network classes; a thin bin falls back to its network class.
  See ``provenance`` in a model's ``intervals.json`` for how its intervals were made.

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
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ndtwin.errors import DatasetError, ScenarioError, check_int, check_number
from ndtwin.scenario import Scenario
from ndtwin.scenario.generate import link_utilization, path_utilization
from ndtwin.twin.base import PREDICTED_COLUMNS, Twin
from ndtwin.whatif.difficulty import ScaleModel, fit_scale, flow_features
from ndtwin.whatif.spread import SpreadScale

INTERVALS_FILE = "intervals.json"
FORMAT_VERSION = 5  # 1: binned quantiles only; 2: adds per-metric scale models ("scales"); 3: adds "size_edges";
# 4: "spread"; 5: "load_edges"
LOG_METRICS = ("delay_s", "delay_var_s2")  # residuals as log ratios; the others as differences
DEFAULT_EDGES = (0.5, 0.8, 1.0)  # path-utilisation bin edges: <0.5, 0.5–0.8, 0.8–1, >1 (overload)
DEFAULT_TOS_GROUPS = 3
MIN_BIN_FLOWS = 50


def propagation_s(scenario: Scenario) -> np.ndarray:
    """Per flow: the propagation delay of its path."""
    hops = scenario.hops
    return np.bincount(hops.flow, weights=scenario.topology.prop_delay_s[hops.link], minlength=scenario.n_flows)


def size_class(scenario: Scenario, size_edges: tuple[int, ...]) -> int:
    """The network's size class: how many of ``size_edges`` its number of nodes reaches."""
    return int(np.searchsorted(np.asarray(size_edges), scenario.topology.n_nodes, side="right"))


def flow_bins(
    scenario: Scenario,
    edges: tuple[float, ...],
    tos_groups: int,
    size_edges: tuple[int, ...] = (),
    load_edges: tuple[float, ...] = (),
) -> np.ndarray:
    """Per flow: its calibration bin, ``(network class × (len(edges) + 1) + utilisation bin) × tos_groups +
    min(ToS, tos_groups − 1)``, with network class ``size class × (len(load_edges) + 1) + load class`` and load
    class how many of ``load_edges`` the busiest link's utilisation reaches."""
    links = link_utilization(scenario)
    network_load = float(links.max()) if links.size else 0.0
    load_class = int(np.searchsorted(np.asarray(load_edges), network_load, side="right"))
    network_class = size_class(scenario, size_edges) * (len(load_edges) + 1) + load_class
    utilization_bin = np.searchsorted(np.asarray(edges), path_utilization(scenario, links), side="right")
    utilization_bin += network_class * (len(edges) + 1)
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
    ``bin = (network class × utilisation bins + utilisation bin) × tos_groups + ToS group`` (see ``flow_bins``). A
    metric with a scale model in ``scales`` has quantiles of residuals divided by its sigma(x); with ``spread``,
    the delay's quantiles are of residuals divided by the spread scale."""

    coverage: float
    edges: tuple[float, ...]
    quantiles: dict[str, list[tuple[float, float]]]
    counts: dict[str, list[int]]
    provenance: dict[str, Any] = field(default_factory=dict)
    tos_groups: int = 1
    scales: dict[str, ScaleModel] = field(default_factory=dict)
    size_edges: tuple[int, ...] = ()
    spread: SpreadScale | None = None
    load_edges: tuple[float, ...] = ()

    @property
    def n_bins(self) -> int:
        return network_classes(self.size_edges, self.load_edges) * (len(self.edges) + 1) * self.tos_groups

    def bounds(
        self, scenario: Scenario, prediction: pd.DataFrame, widths: dict[str, float] | None = None
    ) -> pd.DataFrame:
        """Columns ``<metric>_lo`` and ``<metric>_hi`` per flow of ``scenario`` for a twin's ``prediction``;
        ``widths``: a factor per metric the quantiles are multiplied by (quantiles calibrated with ``run_scales``)."""
        bins = flow_bins(scenario, self.edges, self.tos_groups, self.size_edges, self.load_edges)
        features = flow_features(scenario, prediction) if self.scales else None
        fixed = propagation_s(scenario)  # known exactly: the delay interval is on the rest of the delay
        columns = {}
        for metric, table in self.quantiles.items():
            scale = self.scales[metric].sigma(features) if metric in self.scales else 1.0
            if metric == "delay_s" and self.spread is not None:
                scale = self.spread.sigma(scenario, prediction, fixed)
            scale = scale * (widths or {}).get(metric, 1.0)
            lo, hi = (np.array([q[k] for q in table])[bins] * scale for k in (0, 1))
            pred = prediction[metric].to_numpy(dtype=float)
            if metric == "delay_s":
                rest = np.maximum(pred - fixed, 0.0)
                columns["delay_s_lo"], columns["delay_s_hi"] = fixed + rest * np.exp(lo), fixed + rest * np.exp(hi)
            elif metric in LOG_METRICS:
                columns[f"{metric}_lo"], columns[f"{metric}_hi"] = pred * np.exp(lo), pred * np.exp(hi)
            else:
                columns[f"{metric}_lo"] = np.clip(pred + lo, 0.0, 1.0)
                columns[f"{metric}_hi"] = np.clip(pred + hi, 0.0, 1.0)
        return pd.DataFrame(columns)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form kept in ``intervals.json``."""
        return {
            "version": FORMAT_VERSION,
            **asdict(self),
            "scales": {metric: model.to_dict() for metric, model in self.scales.items()},
            "spread": self.spread.to_dict() if self.spread is not None else None,
        }

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / INTERVALS_FILE
        if self.spread is not None and self.spread.directory.resolve().parent != path.parent.resolve():
            raise ScenarioError("spread", f"a second model inside {model_dir}", str(self.spread.directory))
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Intervals:
        """Read an ``intervals.json`` (version 1 to 5); DatasetError naming the file and field if it is malformed."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise DatasetError(
                path, f"expected an intervals file with coverage, edges and quantiles ({error!r})"
            ) from None
        return cls.from_dict(data, path)

    @classmethod
    def from_dict(cls, data: Any, path: Path) -> Intervals:
        """Intervals from their JSON form read from ``path`` (named in errors; a second model lives beside it)."""
        try:
            version = int(data.get("version", 1))
            edges = tuple(float(e) for e in data["edges"])
            quantiles = {m: [(float(lo), float(hi)) for lo, hi in q] for m, q in data["quantiles"].items()}
            counts = {m: [int(c) for c in v] for m, v in data.get("counts", {}).items()}
            coverage = float(data["coverage"])
            tos_groups = int(data.get("tos_groups", 1))
            scales = {m: ScaleModel.from_dict(v) for m, v in data.get("scales", {}).items()}
            size_edges = tuple(int(e) for e in data.get("size_edges", ()))
            load_edges = tuple(float(e) for e in data.get("load_edges", ()))
            spread = SpreadScale.from_dict(data["spread"], path.parent, path) if data.get("spread") else None
        except DatasetError:
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise DatasetError(
                path, f"expected an intervals file with coverage, edges and quantiles ({error!r})"
            ) from None
        if not 1 <= version <= FORMAT_VERSION:
            raise DatasetError(
                path, f"version: expected 1 to {FORMAT_VERSION}, got {version} (written by a newer ndtwin?)"
            )
        result = cls(
            coverage,
            edges,
            quantiles,
            counts,
            data.get("provenance", {}),
            tos_groups,
            scales,
            size_edges,
            spread,
            load_edges,
        )
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
    cross_fit: bool = False,
    size_edges: tuple[int, ...] = (),
    spread_model: Path | None = None,
    spread_floor: float = 0.01,
    load_edges: tuple[float, ...] = (),
    run_scales: Sequence[dict[str, float]] | None = None,
) -> Intervals:
    """Intervals from ``(scenario, prediction, simulated flow labels)`` triples the model did not train on.

    ``adaptive``: normalised conformal intervals for the ``scaled`` metrics, with groups given by ``groups`` (one
    per run, e.g. the calibration topology; default: every run its own group). ``cross_fit``: each group's
    residuals are divided by a scale model fitted on the other groups and every metric's quantiles are taken on
    all runs; otherwise the scale models are fitted on the groups of even rank among the distinct groups and the
    quantiles are taken on the others. ``equal_scenarios``: weight each run's flows by 1 / its number of flows, so
    every calibration scenario counts equally. ``size_edges``: node counts that split the bins into size classes;
    ``load_edges``: busiest-link utilisations that split them into network-load classes.
    ``spread_model``: the directory of a second model trained like this one (binned only): delay residuals are
    divided by the two models' disagreement plus ``spread_floor`` × its weighted median on the calibration flows.
    ``run_scales``: per run, a factor per metric its residuals are divided by (``Intervals.bounds(widths=…)``
    multiplies the quantiles back by the factor of the scenario at hand)."""
    check_number("coverage", coverage, minimum=0, strict=True)
    check_number("spread_floor", spread_floor, minimum=0, strict=True)
    if spread_model is not None and adaptive:
        raise ScenarioError(
            "spread_model", "binned intervals (a difficulty model and a second model do not combine)", str(spread_model)
        )
    check_int("tos_groups", tos_groups, minimum=1)
    if coverage >= 1:
        raise ScenarioError("coverage", "a fraction in (0, 1)", coverage)
    probe = SpreadScale(0.0, Path(spread_model)) if spread_model is not None else None
    table = _calibration_table(runs, edges, tos_groups, size_edges, load_edges, adaptive, probe)
    run = table["run"]
    if run.size == 0:
        raise ScenarioError("calibration runs", "at least one simulated scenario")
    if run_scales is not None:
        if len(run_scales) != run.max() + 1:
            raise ScenarioError("run_scales", f"one entry per calibration run ({run.max() + 1})", len(run_scales))
        for metric in PREDICTED_COLUMNS:
            table[metric] = table[metric] / np.array([scales.get(metric, 1.0) for scales in run_scales])[run]
    group = np.asarray(groups if groups is not None else np.arange(run.max() + 1))
    if group.shape != (run.max() + 1,):
        raise ScenarioError("groups", f"one group per calibration run ({run.max() + 1})", group.shape)
    weight = 1.0 / np.bincount(run)[run] if equal_scenarios else np.ones(run.size)
    rank = np.searchsorted(np.unique(group), group)[run]
    if adaptive and rank.max() == 0:
        raise ScenarioError(
            "groups", "at least two distinct calibration groups for adaptive intervals", np.unique(group)
        )
    scored = rank % 2 == 1 if adaptive and not cross_fit else np.ones(run.size, dtype=bool)
    spread = None
    if probe is not None:
        spread = SpreadScale(spread_floor * _weighted_quantile(table["gap"], weight, 0.5), probe.directory)
        if not spread.floor > 0:  # a copy of the model itself: every width would be zero
            raise ScenarioError(
                "spread_model",
                "a second model whose delay predictions differ from this model's on most calibration flows",
                str(spread_model),
            )
        table["delay_s"] = table["delay_s"] / (table["gap"] + spread.floor)
    quantiles, counts, scales = {}, {}, {}
    for metric in PREDICTED_COLUMNS:
        values = table[metric]
        ok = np.isfinite(values)
        if (
            (ok & scored).sum() < MIN_BIN_FLOWS
            or (adaptive and (ok & (rank % 2 == 0)).sum() < MIN_BIN_FLOWS)
            or (adaptive and np.unique(rank[ok]).size < 2)
        ):
            continue  # e.g. no delay variance measured: no interval for that metric rather than a guessed one
        if adaptive and metric in scaled:
            scales[metric], sigma = _scale_fits(table["features"], values, weight, ok, rank, cross_fit)
            values = values / np.where(ok, sigma, 1.0)
        ok &= scored
        pooled = _quantile_pair(values[ok], weight[ok], coverage)
        per_class = (len(edges) + 1) * tos_groups
        quantiles[metric], counts[metric] = [], []
        for network in range(network_classes(size_edges, load_edges)):
            in_class = ok & (table["bin"] // per_class == network)
            fallback = (
                _quantile_pair(values[in_class], weight[in_class], coverage)
                if in_class.sum() >= MIN_BIN_FLOWS
                else pooled
            )
            for b in range(network * per_class, (network + 1) * per_class):
                inside = ok & (table["bin"] == b)
                enough = inside.sum() >= MIN_BIN_FLOWS
                quantiles[metric].append(
                    _quantile_pair(values[inside], weight[inside], coverage) if enough else fallback
                )
                counts[metric].append(int(inside.sum()))
    return Intervals(
        coverage,
        tuple(edges),
        quantiles,
        counts,
        provenance or {},
        tos_groups,
        scales,
        tuple(size_edges),
        spread,
        tuple(float(e) for e in load_edges),
    )


def network_classes(size_edges: Sequence[int], load_edges: Sequence[float]) -> int:
    """How many network classes (size × load) the edges make."""
    return (len(size_edges) + 1) * (len(load_edges) + 1)


def _scale_fits(
    features: np.ndarray, values: np.ndarray, weight: np.ndarray, ok: np.ndarray, rank: np.ndarray, cross_fit: bool
) -> tuple[ScaleModel, np.ndarray]:
    """The stored scale model and, per calibration flow, the sigma its residual is divided by: from a model fitted
    without the flow's group (``cross_fit``; the stored one is fitted on every group), or from the model fitted on
    the groups of even rank."""
    if not cross_fit:
        fit = ok & (rank % 2 == 0)
        model = fit_scale(features[fit], values[fit], weight[fit])
        return model, model.sigma(features)
    sigma = np.ones(len(values))
    for fold in np.unique(rank[ok]):
        held, fit = rank == fold, ok & (rank != fold)
        sigma[held] = fit_scale(features[fit], values[fit], weight[fit]).sigma(features[held])
    return fit_scale(features[ok], values[ok], weight[ok]), sigma


def _calibration_table(
    runs: Iterable[tuple[Scenario, pd.DataFrame, pd.DataFrame]],
    edges: tuple[float, ...],
    tos_groups: int,
    size_edges: tuple[int, ...],
    load_edges: tuple[float, ...],
    with_features: bool,
    spread: SpreadScale | None = None,
) -> dict[str, np.ndarray]:
    """Per calibration flow: its run index, bin, residual per metric, (``with_features``) difficulty features and
    (``spread``) the two models' delay disagreement ``gap``."""
    parts: dict[str, list[np.ndarray]] = {key: [] for key in ("run", "bin", "features", "gap", *PREDICTED_COLUMNS)}
    for k, (scenario, prediction, truth) in enumerate(runs):
        parts["run"].append(np.full(scenario.n_flows, k))
        parts["bin"].append(flow_bins(scenario, edges, tos_groups, size_edges, load_edges))
        if with_features:
            parts["features"].append(flow_features(scenario, prediction))
        fixed = {"delay_s": propagation_s(scenario)}
        if spread is not None:
            parts["gap"].append(spread.gap(scenario, prediction, fixed["delay_s"]))
        for metric in PREDICTED_COLUMNS:
            offset = fixed.get(metric, 0.0)
            parts[metric].append(
                residuals(metric, truth[metric].to_numpy() - offset, prediction[metric].to_numpy() - offset)
            )
    return {key: np.concatenate(p) if p else np.zeros(0, dtype=int) for key, p in parts.items()}


def _quantile_pair(values: np.ndarray, weight: np.ndarray, coverage: float) -> tuple[float, float]:
    """Split-conformal lower and upper quantiles of weighted values (equal tails, finite-sample corrected with
    the effective number of values; equal weights give the usual ranks)."""
    weight = weight / weight.sum()
    n = 1.0 / float(np.sum(weight**2))
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
