"""Per-flow features for tabular models: aggregates of a flow's path that tell the load regime apart.

Every hop contributes its link's offered utilisation ρ (load / capacity, losses ignored), its queue's *effective*
utilisation ρ_q (under strict priority the load of the queue and those above it; otherwise the link's), the queue
pressure ρ_q / (1 − ρ_q) (ρ_q capped at RHO_CAP), the flow's packet transmission time and the link's propagation
delay; ``mm1_delay_s`` is propagation plus, per hop, transmission × (1 + pressure) (an M/M/1-style sojourn). The
queueing-theory twin's answers (finite buffers, losses, scheduling) are features too, and its per-flow delay is
``reference_delay_s``: the scale the models' delay and jitter targets are divided by, so they learn a correction
of the queueing-theory baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ndtwin.data.sample import Sample
from ndtwin.errors import DatasetError
from ndtwin.scenario import Scenario, Scheduling, TimeKind
from ndtwin.twin.qt import QueueingTheoryTwin

RHO_CAP = 0.98
TIME_KINDS = (TimeKind.POISSON, TimeKind.CBR, TimeKind.ONOFF)

FEATURES: tuple[str, ...] = (
    "n_hops",
    "log_reference_delay_s",
    "log_mm1_ratio",
    "qt_log_jitter_ratio",
    "qt_loss",
    "prop_share",
    "tx_sum_s_log",
    "util_sum",
    "util_max",
    "queue_util_max",
    "pressure_sum",
    "pressure_max",
    "excess_load_sum",
    "log_min_buffer_pkts",
    "log_mean_size_bits",
    "size_cv2",
    "rate_share",
    "tos",
    "sp_hops_share",
    *(f"time_{k.value}" for k in TIME_KINDS),
)
TARGETS: tuple[str, ...] = ("log_delay_ratio", "log_jitter_ratio", "loss")
_TINY = 1e-12


def hop_loads(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """Per hop: the link's offered utilisation and the effective utilisation of the flow's queue."""
    hops, topology, queues = scenario.hops, scenario.topology, scenario.queues
    rate = scenario.traffic.rate_bps[hops.flow]
    capacity = topology.capacity_bps
    link_util = np.bincount(hops.link, weights=rate, minlength=topology.n_links) / capacity
    queue_load = np.bincount(hops.queue, weights=rate, minlength=len(queues.link))
    # Under SP a queue waits for itself and every higher-priority queue of its port (lower index).
    strict = np.array([topology.links[lid].port.scheduling is Scheduling.SP for lid in queues.link], dtype=bool)
    above = np.array([queue_load[queues.offset[lk] : g + 1].sum() for g, lk in enumerate(queues.link)])
    queue_util = np.where(strict, above, link_util[queues.link] * capacity[queues.link]) / capacity[queues.link]
    return link_util[hops.link], queue_util[hops.queue]


def flow_features(scenario: Scenario) -> pd.DataFrame:
    """One row per flow (traffic order) with the columns FEATURES and ``reference_delay_s``."""
    hops, topology, traffic = scenario.hops, scenario.topology, scenario.traffic
    n = scenario.n_flows
    link_util, queue_util = hop_loads(scenario)
    capacity = topology.capacity_bps[hops.link]
    size = traffic.mean_size_bits
    tx = size[hops.flow] / capacity
    rho = np.minimum(queue_util, RHO_CAP)
    pressure = rho / (1.0 - rho)
    prop = topology.prop_delay_s[hops.link]

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(hops.flow, weights=values, minlength=n)

    def largest(values: np.ndarray) -> np.ndarray:
        out = np.zeros(n)
        np.maximum.at(out, hops.flow, values)
        return out

    def smallest(values: np.ndarray) -> np.ndarray:
        out = np.full(n, np.inf)
        np.minimum.at(out, hops.flow, values)
        return out

    ports = [topology.links[lid].port for lid in hops.link]
    queue_index = scenario.queues.index[hops.queue]
    buffer_pkts = np.array([p.buffers[q] / (s if p.buffer_unit == "bits" else 1.0)
                            for p, q, s in zip(ports, queue_index, size[hops.flow])])  # fmt: skip
    strict = np.array([p.scheduling is Scheduling.SP for p in ports], dtype=float)
    mm1 = total(prop + tx * (1.0 + pressure))
    qt = QueueingTheoryTwin().predict(scenario)
    reference = np.maximum(qt["delay_s"].to_numpy(dtype=float), _TINY)
    second = traffic.second_moment_bits2
    kinds = [f.time.kind for f in traffic.flows]
    frame = pd.DataFrame(
        {
            "n_hops": np.diff(hops.flow_offset).astype(float),
            "log_reference_delay_s": np.log(reference),
            "log_mm1_ratio": np.log(mm1 / reference),
            "qt_log_jitter_ratio": np.log(np.maximum(qt["delay_var_s2"].to_numpy(dtype=float), _TINY) / reference**2),
            "qt_loss": qt["loss"].to_numpy(dtype=float),
            "prop_share": total(prop) / reference,
            "tx_sum_s_log": np.log(total(tx) + _TINY),
            "util_sum": total(link_util),
            "util_max": largest(link_util),
            "queue_util_max": largest(queue_util),
            "pressure_sum": total(pressure),
            "pressure_max": largest(pressure),
            "excess_load_sum": total(np.maximum(queue_util - 1.0, 0.0)),
            "log_min_buffer_pkts": np.log1p(smallest(buffer_pkts)),
            "log_mean_size_bits": np.log(size),
            "size_cv2": second / size**2 - 1.0,
            "rate_share": traffic.rate_bps / smallest(capacity),
            "tos": traffic.tos.astype(float),
            "sp_hops_share": total(strict) / np.diff(hops.flow_offset),
            **{f"time_{k.value}": np.array([kind is k for kind in kinds], dtype=float) for k in TIME_KINDS},
        }
    )
    frame["reference_delay_s"] = reference
    return frame


def targets(features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The models' targets from flow labels: log(delay / reference), log(variance / reference²) and loss."""
    reference = features["reference_delay_s"].to_numpy()
    delay = labels["delay_s"].to_numpy(dtype=float)
    variance = np.maximum(labels["delay_var_s2"].to_numpy(dtype=float), 1e-6 * reference**2)
    return pd.DataFrame(
        {
            "log_delay_ratio": np.log(delay / reference),
            "log_jitter_ratio": np.log(variance / reference**2),
            "loss": labels["loss"].to_numpy(dtype=float),
        }
    )


def from_targets(features: pd.DataFrame, log_delay_ratio: np.ndarray, log_jitter_ratio: np.ndarray,
                 loss: np.ndarray) -> pd.DataFrame:  # fmt: skip
    """Predicted targets back to delay_s, delay_var_s2 and loss (clipped to [0, 1])."""
    reference = features["reference_delay_s"].to_numpy()
    return pd.DataFrame(
        {
            "delay_s": reference * np.exp(log_delay_ratio),
            "delay_var_s2": reference**2 * np.exp(log_jitter_ratio),
            "loss": np.clip(loss, 0.0, 1.0),
        }
    )


def training_table(samples: list[Sample]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features and targets of every flow of ``samples`` with a measured delay (flows that delivered nothing
    are left out)."""
    xs, ys = [], []
    for sample in samples:
        missing = [c for c in ("delay_s", "delay_var_s2", "loss") if c not in sample.flow_labels.columns]
        if missing:
            raise DatasetError(str(sample.meta.get("sample_id", "sample")), f"flow labels lack {missing}")
        x = flow_features(sample.scenario)
        y = targets(x, sample.flow_labels)
        keep = np.isfinite(y.to_numpy()).all(axis=1)
        xs.append(x[keep])
        ys.append(y[keep])
    if not xs or sum(len(x) for x in xs) == 0:
        raise DatasetError("training samples", "at least one flow with a measured delay")
    return pd.concat(xs, ignore_index=True), pd.concat(ys, ignore_index=True)
