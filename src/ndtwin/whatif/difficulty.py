"""How hard a flow is to predict: per-flow features known at prediction time and a log-linear scale model.

``flow_features`` describes each flow of a scenario by what the twin sees before simulating: the utilisation of
the busiest link on its path, how many flows share that link and how much of its load is ON-OFF (bursty), the
path length, the scenario's size (nodes, flows), the flow's ToS group, and the predicted queueing delay in units
of the path's transmission time. ``ScaleModel`` fits ``log(|residual| + floor)`` linearly on those features and
answers ``sigma(x) = exp(fit)``, the typical size of a flow's residual: normalised conformal intervals divide
residuals by it, so hard flows get wide intervals and easy ones narrow intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ndtwin.scenario import Scenario
from ndtwin.scenario.generate import link_loads_bps
from ndtwin.scenario.traffic import TimeKind

FEATURES = (
    "log_utilization",
    "overloaded",
    "log_flows_on_busiest_link",
    "onoff_share_of_busiest_link",
    "log_hops",
    "log_nodes",
    "log_flows",
    "tos_0",
    "tos_1",
    "log_queueing_over_transmission",
)
MIN_UTILIZATION = 0.01
FLOOR_SHARE = 1e-3  # |residual| floor, relative to the median |residual|: keeps exact predictions finite
RIDGE = 1e-3  # relative to the feature variance: keeps the fit stable when a feature barely varies


def flow_features(scenario: Scenario, prediction: pd.DataFrame) -> np.ndarray:
    """Per flow, the FEATURES in order (shape ``n_flows × len(FEATURES)``); ``prediction`` holds ``delay_s``."""
    n = scenario.n_flows
    if n == 0:
        return np.zeros((0, len(FEATURES)))
    topo, traffic, hops = scenario.topology, scenario.traffic, scenario.hops
    load = link_loads_bps(scenario)
    utilization = load / topo.capacity_bps
    onoff = np.array([f.time.kind is TimeKind.ONOFF for f in traffic.flows], dtype=float)
    onoff_load = np.bincount(hops.link, weights=(traffic.rate_bps * onoff)[hops.flow], minlength=topo.n_links)
    sharing = np.bincount(hops.link, minlength=topo.n_links)
    starts = hops.flow_offset[:-1]
    hop_util = utilization[hops.link]
    busiest_hop = _argmax_per_segment(hop_util, hops.flow_offset)
    busiest = hops.link[busiest_hop]
    transmission = np.bincount(
        hops.flow, weights=traffic.mean_size_bits[hops.flow] / topo.capacity_bps[hops.link], minlength=n
    )
    propagation = np.bincount(hops.flow, weights=topo.prop_delay_s[hops.link], minlength=n)
    queueing = np.maximum(prediction["delay_s"].to_numpy(dtype=float) - propagation, transmission)
    path_util = np.maximum.reduceat(hop_util, starts)
    tos = traffic.tos
    return np.column_stack(
        [
            np.log(np.maximum(path_util, MIN_UTILIZATION)),
            (path_util > 1.0).astype(float),
            np.log(sharing[busiest]),
            np.divide(onoff_load[busiest], load[busiest], out=np.zeros(n), where=load[busiest] > 0),
            np.log(np.diff(hops.flow_offset)),
            np.full(n, np.log(topo.n_nodes)),
            np.full(n, np.log(n)),
            (tos == 0).astype(float),
            (tos == 1).astype(float),
            np.log(queueing / transmission),
        ]
    )


def _argmax_per_segment(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Index (into ``values``) of the largest value of each segment ``offsets[i]:offsets[i+1]``."""
    segment = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    order = np.lexsort((-values, segment))  # by segment, largest value first
    return order[offsets[:-1]]


@dataclass(frozen=True)
class ScaleModel:
    """``sigma(x) = exp(intercept + coef · (clip(x, low, high) − mean) / std)`` over FEATURES: features are held
    to the range seen in the fit (``low``, ``high``), so the model does not extrapolate."""

    intercept: float
    coef: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    features: tuple[str, ...] = FEATURES

    def sigma(self, x: np.ndarray) -> np.ndarray:
        z = (np.clip(x, self.low, self.high) - np.asarray(self.mean)) / np.asarray(self.std)
        return np.exp(self.intercept + z @ np.asarray(self.coef))

    def to_dict(self) -> dict[str, Any]:
        return {
            "intercept": self.intercept,
            "coef": list(self.coef),
            "mean": list(self.mean),
            "std": list(self.std),
            "low": list(self.low),
            "high": list(self.high),
            "features": list(self.features),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScaleModel:
        """The inverse of ``to_dict``; KeyError/ValueError/TypeError on malformed data (the caller names the file)."""
        features = tuple(str(f) for f in data["features"])
        if features != FEATURES:
            raise ValueError(f"scale model features {list(features)}, expected {list(FEATURES)}")
        vectors = [tuple(float(v) for v in data[k]) for k in ("coef", "mean", "std", "low", "high")]
        if any(len(v) != len(FEATURES) for v in vectors):
            raise ValueError(f"scale model vectors must have {len(FEATURES)} entries")
        return cls(float(data["intercept"]), *vectors, features)


def fit_scale(x: np.ndarray, residual: np.ndarray, weight: Sequence[float] | np.ndarray) -> ScaleModel:
    """Weighted ridge fit of ``log(|residual| + floor)`` on standardised features; ``floor`` is a small share of the
    median |residual| (FLOOR_SHARE), so exact predictions stay finite."""
    size = np.abs(residual)
    floor = FLOOR_SHARE * float(np.median(size)) or 1e-12
    target = np.log(size + floor)
    weight = np.asarray(weight, dtype=float) / np.sum(weight)
    mean = weight @ x
    std = np.sqrt(weight @ (x - mean) ** 2)
    std = np.where(std > 0, std, 1.0)
    z = (x - mean) / std
    centre = weight @ target
    gram = (z * weight[:, None]).T @ z + RIDGE * np.eye(z.shape[1])
    coef = np.linalg.solve(gram, (z * weight[:, None]).T @ (target - centre))
    return ScaleModel(
        float(centre),
        tuple(coef.tolist()),
        tuple(mean.tolist()),
        tuple(std.tolist()),
        tuple(x.min(axis=0).tolist()),
        tuple(x.max(axis=0).tolist()),
    )
