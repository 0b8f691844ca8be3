"""Sample: a Scenario with its measured or simulated labels. Label columns carry their units."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ndtwin.errors import ScenarioError
from ndtwin.scenario import Scenario

# Per-flow labels, one row per flow in traffic order. Rates are per second of measurement window.
FLOW_LABELS: tuple[str, ...] = (
    "offered_bps",  # mean offered bit rate measured at the source (dropped packets included)
    "pkts_per_s",  # packets generated per second
    "drops_per_s",  # packets dropped anywhere on the path per second
    "loss",  # drops / generated, in [0, 1]
    "delay_s",  # mean end-to-end delay of delivered packets
    "log_delay_mean",  # mean of ln(delay in s)
    "delay_p10_s",
    "delay_p20_s",
    "delay_p50_s",
    "delay_p80_s",
    "delay_p90_s",
    "delay_p95_s",
    "delay_p99_s",
    "delay_var_s2",  # variance of per-packet delay: the "jitter" of the BNN-UPC datasets
    "ipdv_s",  # mean |inter-packet delay variation| (RFC 3550 style), where known
)

# Per-link (output port) labels, one row per link in topology order.
LINK_LABELS: tuple[str, ...] = (
    "utilization",  # transmitted bits / (capacity × time)
    "loss",  # dropped / arrived packets at the port
    "avg_pkt_bits",  # mean size of transmitted packets
)

# Per-queue labels, one row per global queue id (see Scenario.queues).
QUEUE_LABELS: tuple[str, ...] = (
    "utilization",  # share of the link capacity used by this queue
    "loss",  # dropped / arrived packets at the queue
    "avg_occupancy_bits",  # equivalent occupancy: mean per-hop sojourn × capacity
    "max_occupancy_bits",  # largest occupancy seen (bit-buffered ports; NaN otherwise)
    "max_occupancy_pkts",  # largest occupancy seen (packet-buffered ports; NaN otherwise)
    "avg_pkt_bits",  # mean size of packets transmitted from the queue
)

# What `ndtwin eval` compares: metric name -> flow label column.
EVAL_TARGETS: dict[str, str] = {"delay": "delay_s", "jitter": "delay_var_s2", "loss": "loss"}

DELAY_SPREAD_RESOLUTION = 1e-6
"""A per-packet delay spread below this share of the mean delay is rounding residue of a constant delay (e.g. a CBR
flow of fixed-size packets on an idle path), not a measurement: its variance counts as 0."""


def flow_targets(flow_labels: pd.DataFrame) -> pd.DataFrame:
    """The EVAL_TARGETS columns of ``flow_labels`` (NaN where absent) as floats, with delay variances below
    ``DELAY_SPREAD_RESOLUTION`` of the mean delay set to 0 (relative errors on them would be rounding noise)."""
    targets = flow_labels.reindex(columns=list(EVAL_TARGETS.values())).astype(float)
    residue = targets["delay_var_s2"] < (DELAY_SPREAD_RESOLUTION * targets["delay_s"]) ** 2
    targets.loc[residue, "delay_var_s2"] = 0.0
    return targets


@dataclass
class Sample:
    """A scenario and its labels.

    ``flow_labels`` has one row per flow (traffic order); ``link_labels`` one row per link and
    ``queue_labels`` one row per global queue id, or None when not measured. ``meta`` holds
    ``sample_id``, ``source`` (where it came from), ``sim_time_s`` and any other provenance.
    """

    scenario: Scenario
    flow_labels: pd.DataFrame
    link_labels: pd.DataFrame | None = None
    queue_labels: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        expected = {
            "flow_labels": (self.flow_labels, self.scenario.n_flows),
            "link_labels": (self.link_labels, self.scenario.topology.n_links),
            "queue_labels": (self.queue_labels, len(self.scenario.queues.link)),
        }
        for name, (frame, rows) in expected.items():
            if frame is not None and len(frame) != rows:
                raise ScenarioError(f"sample.{name}", f"{rows} rows (one per {name.split('_')[0]})", len(frame))

    @property
    def sample_id(self) -> str:
        return str(self.meta.get("sample_id", ""))
