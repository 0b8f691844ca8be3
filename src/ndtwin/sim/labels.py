"""Turn the kernel's counters and per-packet records into Sample label tables.

All counts are of measured packets (generated after warm-up) and rates are per second of the measurement
window, so a link's utilization is the bits its measured packets used over capacity × window. Percentiles are
exact order statistics of the per-packet delays (numpy's linear interpolation).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numba import njit

from ndtwin.data.sample import FLOW_LABELS, LINK_LABELS, QUEUE_LABELS
from ndtwin.scenario import Scenario
from ndtwin.sim import kernel

PERCENTILES = {
    "delay_p10_s": 0.1, "delay_p20_s": 0.2, "delay_p50_s": 0.5, "delay_p80_s": 0.8, "delay_p90_s": 0.9,
    "delay_p95_s": 0.95, "delay_p99_s": 0.99,
}  # fmt: skip


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def group_percentiles(grouped: np.ndarray, start: np.ndarray, count: np.ndarray,
                      quantiles: Sequence[float]) -> np.ndarray:  # fmt: skip
    """Quantiles with linear interpolation (numpy's default) of each group's values, laid out contiguously in any
    order (group g at ``grouped[start[g] : start[g] + count[g]]``), shape ``(len(quantiles), n_groups)``; NaN for
    empty groups. Only the order statistics needed are placed (a partial sort per group)."""
    q = np.asarray(quantiles, dtype=float)[:, None]
    position = q * np.maximum(count - 1, 0)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, np.maximum(count - 1, 0))
    low, high = np.full(position.shape, np.nan), np.full(position.shape, np.nan)
    for g in np.flatnonzero(count):
        ranks = np.concatenate([below[:, g], above[:, g]])
        placed = np.partition(grouped[start[g] : start[g] + count[g]], np.unique(ranks))
        low[:, g], high[:, g] = placed[below[:, g]], placed[above[:, g]]
    return low + (position - below) * (high - low)


@njit(cache=True)
def group_by_flow(rec_flow: np.ndarray, rec_delay: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Delays grouped by flow, each flow keeping delivery order (a counting sort), and each group's start;
    ``count`` holds each flow's number of records."""
    start = np.zeros(len(count), dtype=np.int64)
    start[1:] = np.cumsum(count)[:-1]
    fill = start.copy()
    grouped = np.empty_like(rec_delay)
    for flow, delay in zip(rec_flow, rec_delay):
        grouped[fill[flow]] = delay
        fill[flow] += 1
    return grouped, start


def flow_labels(n_flows: int, flow_stats: np.ndarray, rec_flow: np.ndarray, rec_delay: np.ndarray,
                window_s: float) -> pd.DataFrame:  # fmt: skip
    """Per-flow labels from the flow counters and the delivered packets' flows and delays, in delivery order.

    A flow's packets share one FIFO queue at every hop, so they are delivered in the order they were sent:
    consecutive records of a flow are consecutive packets for the IPDV.
    """
    generated = flow_stats[:, kernel.F_GEN]
    drops = flow_stats[:, kernel.F_DROPS]
    records = np.bincount(rec_flow, minlength=n_flows)
    count = records.astype(float)
    mean = _ratio(np.bincount(rec_flow, rec_delay, minlength=n_flows), count)
    deviation = rec_delay - mean[rec_flow]
    columns = {
        "offered_bps": flow_stats[:, kernel.F_GEN_BITS] / window_s,
        "pkts_per_s": generated / window_s,
        "drops_per_s": drops / window_s,
        "loss": _ratio(drops, generated),
        "delay_s": mean,
        "log_delay_mean": _ratio(np.bincount(rec_flow, np.log(rec_delay), minlength=n_flows), count),
    }
    grouped, start = group_by_flow(rec_flow, rec_delay, records)
    percentiles = group_percentiles(grouped, start, records, list(PERCENTILES.values()))
    columns.update(zip(PERCENTILES, percentiles))
    columns["delay_var_s2"] = _ratio(np.bincount(rec_flow, deviation**2, minlength=n_flows), count)
    columns["ipdv_s"] = _mean_abs_ipdv(grouped, records)
    return pd.DataFrame(columns)[list(FLOW_LABELS)]


def _mean_abs_ipdv(grouped: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Mean |delay difference| of consecutive packets within each group; NaN for fewer than two packets."""
    group = np.repeat(np.arange(len(count)), count)
    within = group[1:] == group[:-1]
    steps = np.abs(np.diff(grouped))[within]
    pairs = np.bincount(group[1:][within], minlength=len(count)).astype(float)
    return _ratio(np.bincount(group[1:][within], steps, minlength=len(count)), pairs)


def queue_labels(scenario: Scenario, queue_stats: np.ndarray, window_s: float) -> pd.DataFrame:
    """Per-queue labels (one row per global queue id)."""
    table = scenario.queues
    capacity = scenario.topology.capacity_bps[table.link]
    in_bits = np.array([scenario.topology.links[link].port.buffer_unit == "bits" for link in table.link], dtype=bool)
    tx_pkts, tx_bits = queue_stats[:, kernel.Q_TX_PKTS], queue_stats[:, kernel.Q_TX_BITS]
    max_occupancy = queue_stats[:, kernel.Q_MAX_OCC]
    columns = {
        "utilization": tx_bits / (capacity * window_s),
        "loss": _ratio(queue_stats[:, kernel.Q_DROPS], queue_stats[:, kernel.Q_ARRIVALS]),
        "avg_occupancy_bits": _ratio(queue_stats[:, kernel.Q_SOJOURN], tx_pkts) * capacity,
        "max_occupancy_bits": np.where(in_bits, max_occupancy, np.nan),
        "max_occupancy_pkts": np.where(in_bits, np.nan, max_occupancy),
        "avg_pkt_bits": _ratio(tx_bits, tx_pkts),
    }
    return pd.DataFrame(columns)[list(QUEUE_LABELS)]


def link_labels(scenario: Scenario, queue_stats: np.ndarray, window_s: float) -> pd.DataFrame:
    """Per-link labels: the queue counters of each port summed."""
    n_links = scenario.topology.n_links
    per_link = np.zeros((n_links, queue_stats.shape[1]))
    np.add.at(per_link, scenario.queues.link, queue_stats)
    tx_bits = per_link[:, kernel.Q_TX_BITS]
    columns = {
        "utilization": tx_bits / (scenario.topology.capacity_bps * window_s),
        "loss": _ratio(per_link[:, kernel.Q_DROPS], per_link[:, kernel.Q_ARRIVALS]),
        "avg_pkt_bits": _ratio(tx_bits, per_link[:, kernel.Q_TX_PKTS]),
    }
    return pd.DataFrame(columns)[list(LINK_LABELS)]
