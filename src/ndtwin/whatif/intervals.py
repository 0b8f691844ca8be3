"""Split-conformal 90 % intervals for a twin's per-flow predictions.

Calibration takes simulated scenarios the model never trained on, and keeps, per bin of similar flows, the 5 % and
95 % quantiles of the model's residuals; a new flow's interval is its prediction moved by its bin's quantiles. A
bin is a flow's network-size class (networks below or from ``size_edges`` nodes), the offered utilisation of the
busiest link on its path (``edges``) and its ToS (ToS ≥ ``tos_groups`` − 1 share the last group); every
calibration scenario weighs the same, whatever its number of flows.

Residuals are ``log(true / pred)`` for jitter and for delay beyond propagation (so an interval scales with the
prediction; the propagation delay is known exactly), and ``true − pred`` for loss. An interval is
``[pred·e^lo, pred·e^hi]`` (delay: propagation + that on the rest; loss: ``[pred + lo, pred + hi]`` clipped to
[0, 1]). Upper ends never exceed the scenario's physical bounds (``ndtwin.scenario.bounds``: what the buffers
and capacities allow; none through starvable strict-priority queues). A bin with fewer than MIN_BIN_FLOWS
calibration flows uses the quantiles of its size class, or of all flows if that class has too few too. A network
larger than every calibration one falls in the largest class.

An interval is meant to hold a flow's mean metric; ``ndtwin.whatif.validate`` judges its coverage against long
reference runs. The residuals are taken on runs of ``ndtwin whatif calibrate --packets`` packets per flow, so
they include that run length's sampling noise on the calibration topologies.

The quantiles live in a model directory as ``intervals.json`` with their provenance (file version 5; versions 1 to
4 load too). Fields of interval variants this version no longer makes (``scales``, ``spread``, ``load_edges``) are
accepted only when empty. A model without that file has no intervals (``intervals_of`` returns None).
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
from ndtwin.scenario.generate import path_utilization
from ndtwin.twin.base import PREDICTED_COLUMNS, Twin

INTERVALS_FILE = "intervals.json"
FORMAT_VERSION = 5  # 3: adds "size_edges"; 2, 4 and 5 added fields of variants no longer made (see the docstring)
RETIRED_FIELDS = {
    "scales": "adaptive (difficulty-scaled) intervals",
    "spread": "intervals scaled by a second model",
    "load_edges": "network-load classes",
}
LOG_METRICS = ("delay_s", "delay_var_s2")  # residuals as log ratios; the others as differences
DEFAULT_EDGES = (0.5, 0.8, 1.0)  # path-utilisation bin edges: <0.5, 0.5–0.8, 0.8–1, >1 (overload)
DEFAULT_TOS_GROUPS = 3
DEFAULT_SIZE_EDGES = (15,)  # network-size classes: below 15 nodes, 15 or more
MIN_BIN_FLOWS = 50


def propagation_s(scenario: Scenario) -> np.ndarray:
    """Per flow: the propagation delay of its path."""
    hops = scenario.hops
    return np.bincount(hops.flow, weights=scenario.topology.prop_delay_s[hops.link], minlength=scenario.n_flows)


def size_class(scenario: Scenario, size_edges: tuple[int, ...]) -> int:
    """The network's size class: how many of ``size_edges`` its number of nodes reaches."""
    return int(np.searchsorted(np.asarray(size_edges), scenario.topology.n_nodes, side="right"))


def flow_bins(scenario: Scenario, edges: tuple[float, ...], tos_groups: int, size_edges: tuple[int, ...]) -> np.ndarray:
    """Per flow: its calibration bin, ``(size class × (len(edges) + 1) + utilisation bin) × tos_groups +
    min(ToS, tos_groups − 1)``."""
    utilization_bin = np.searchsorted(np.asarray(edges), path_utilization(scenario), side="right")
    utilization_bin += size_class(scenario, size_edges) * (len(edges) + 1)
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
    """Residual quantiles per metric and bin (see ``flow_bins``): ``quantiles[metric][bin] = (lo, hi)``, and the
    number of calibration flows of each bin in ``counts``."""

    coverage: float
    edges: tuple[float, ...]
    quantiles: dict[str, list[tuple[float, float]]]
    counts: dict[str, list[int]]
    provenance: dict[str, Any] = field(default_factory=dict)
    tos_groups: int = 1
    size_edges: tuple[int, ...] = ()

    @property
    def n_bins(self) -> int:
        return (len(self.size_edges) + 1) * (len(self.edges) + 1) * self.tos_groups

    def bounds(
        self, scenario: Scenario, prediction: pd.DataFrame, widths: dict[str, float] | None = None
    ) -> pd.DataFrame:
        """Columns ``<metric>_lo`` and ``<metric>_hi`` per flow of ``scenario`` for a twin's ``prediction``;
        ``widths``: a factor per metric the quantiles are multiplied by (quantiles calibrated with ``run_scales``)."""
        return pd.DataFrame(self.bound_columns(scenario, prediction, widths))

    def bound_columns(
        self, scenario: Scenario, prediction: pd.DataFrame, widths: dict[str, float] | None = None
    ) -> dict[str, np.ndarray]:
        """``bounds`` as arrays by column name."""
        bins = flow_bins(scenario, self.edges, self.tos_groups, self.size_edges)
        fixed = propagation_s(scenario)  # known exactly: the delay interval is on the rest of the delay
        physical = scenario.bounds
        ceiling = {"delay_s": physical.delay_s, "delay_var_s2": physical.delay_var_s2}
        columns = {}
        for metric, table in self.quantiles.items():
            scale = (widths or {}).get(metric, 1.0)
            lo, hi = (np.array([q[k] for q in table])[bins] * scale for k in (0, 1))
            pred = prediction[metric].to_numpy(dtype=float)
            if metric == "delay_s":
                rest = np.maximum(pred - fixed, 0.0)
                lo_end, hi_end = fixed + rest * np.exp(lo), fixed + rest * np.exp(hi)
            elif metric in LOG_METRICS:
                lo_end, hi_end = pred * np.exp(lo), pred * np.exp(hi)
            else:
                lo_end, hi_end = np.clip(pred + lo, 0.0, 1.0), np.clip(pred + hi, 0.0, 1.0)
            if metric in ceiling:
                hi_end = np.maximum(np.minimum(hi_end, ceiling[metric]), pred)
            columns[f"{metric}_lo"], columns[f"{metric}_hi"] = lo_end, hi_end
        return columns

    def to_dict(self) -> dict[str, Any]:
        """The JSON form kept in ``intervals.json``."""
        return {"version": FORMAT_VERSION, **asdict(self)}

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / INTERVALS_FILE
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
        """Intervals from their JSON form read from ``path`` (named in errors)."""
        try:
            version = int(data.get("version", 1))
            edges = tuple(float(e) for e in data["edges"])
            quantiles = {m: [(float(lo), float(hi)) for lo, hi in q] for m, q in data["quantiles"].items()}
            counts = {m: [int(c) for c in v] for m, v in data.get("counts", {}).items()}
            coverage = float(data["coverage"])
            tos_groups = int(data.get("tos_groups", 1))
            size_edges = tuple(int(e) for e in data.get("size_edges", ()))
            retired = [name for name in RETIRED_FIELDS if data.get(name)]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise DatasetError(
                path, f"expected an intervals file with coverage, edges and quantiles ({error!r})"
            ) from None
        if not 1 <= version <= FORMAT_VERSION:
            raise DatasetError(
                path, f"version: expected 1 to {FORMAT_VERSION}, got {version} (written by a newer ndtwin?)"
            )
        if retired:
            raise DatasetError(
                path,
                f"{retired[0]}: {RETIRED_FIELDS[retired[0]]} are no longer supported; calibrate the model again "
                "with `ndtwin whatif calibrate`",
            )
        result = cls(coverage, edges, quantiles, counts, data.get("provenance", {}), tos_groups, size_edges)
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
    size_edges: tuple[int, ...] = DEFAULT_SIZE_EDGES,
    provenance: dict[str, Any] | None = None,
    run_scales: Sequence[dict[str, float]] | None = None,
) -> Intervals:
    """Intervals from ``(scenario, prediction, simulated flow labels)`` triples the model did not train on, every
    triple (scenario) weighted equally. ``run_scales``: per run, a factor per metric its residuals are divided by
    (``Intervals.bounds(widths=…)`` multiplies the quantiles back by the factor of the scenario at hand)."""
    check_number("coverage", coverage, minimum=0, strict=True)
    check_int("tos_groups", tos_groups, minimum=1)
    if coverage >= 1:
        raise ScenarioError("coverage", "a fraction in (0, 1)", coverage)
    table = _calibration_table(runs, edges, tos_groups, size_edges)
    run = table["run"]
    if run.size == 0:
        raise ScenarioError("calibration runs", "at least one simulated scenario")
    if run_scales is not None:
        if len(run_scales) != run.max() + 1:
            raise ScenarioError("run_scales", f"one entry per calibration run ({run.max() + 1})", len(run_scales))
        for metric in PREDICTED_COLUMNS:
            table[metric] = table[metric] / np.array([scales.get(metric, 1.0) for scales in run_scales])[run]
    weight = 1.0 / np.bincount(run)[run]
    quantiles, counts = {}, {}
    per_class = (len(edges) + 1) * tos_groups
    for metric in PREDICTED_COLUMNS:
        values = table[metric]
        ok = np.isfinite(values)
        if ok.sum() < MIN_BIN_FLOWS:
            continue  # e.g. no delay variance measured: no interval for that metric rather than a guessed one
        pooled = _quantile_pair(values[ok], weight[ok], coverage)
        quantiles[metric], counts[metric] = [], []
        for size in range(len(size_edges) + 1):
            in_class = ok & (table["bin"] // per_class == size)
            fallback = (
                _quantile_pair(values[in_class], weight[in_class], coverage)
                if in_class.sum() >= MIN_BIN_FLOWS
                else pooled
            )
            for b in range(size * per_class, (size + 1) * per_class):
                inside = ok & (table["bin"] == b)
                enough = inside.sum() >= MIN_BIN_FLOWS
                quantiles[metric].append(
                    _quantile_pair(values[inside], weight[inside], coverage) if enough else fallback
                )
                counts[metric].append(int(inside.sum()))
    return Intervals(coverage, tuple(edges), quantiles, counts, provenance or {}, tos_groups, tuple(size_edges))


def _calibration_table(
    runs: Iterable[tuple[Scenario, pd.DataFrame, pd.DataFrame]],
    edges: tuple[float, ...],
    tos_groups: int,
    size_edges: tuple[int, ...],
) -> dict[str, np.ndarray]:
    """Per calibration flow: its run index, bin and residual per metric."""
    parts: dict[str, list[np.ndarray]] = {key: [] for key in ("run", "bin", *PREDICTED_COLUMNS)}
    for k, (scenario, prediction, truth) in enumerate(runs):
        parts["run"].append(np.full(scenario.n_flows, k))
        parts["bin"].append(flow_bins(scenario, edges, tos_groups, size_edges))
        fixed = {"delay_s": propagation_s(scenario)}
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
