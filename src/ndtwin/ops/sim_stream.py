"""A simulated stream whose traffic shifts twice: Poisson → ON-OFF → CBR sources at rising loads.

Each step simulates the same flows on a small meshed ring with ndtwin's packet-level simulator; every flow of a
step is one window (its measured received rate, loss and mean delay), in the column layout of the robust-ndt
stream, so the same loop, model and figures apply. The SLA budget of a flow is 1.4 × its mean delay over the
whole stream, as in the measured data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ndtwin.data.robust_ndt import BUDGET_COLUMN, ReplayStream
from ndtwin.scenario import Topology
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.scenario.scenario import Scenario
from ndtwin.scenario.traffic import TimeDistribution
from ndtwin.sim.simulate import simulate

BUDGET_FACTOR = 1.4
# Loop settings for this stream (30 windows per step): KSWIN windows sized to a few steps, shorter adaptation.
LOOP_SETTINGS = {"kswin_window": 300, "kswin_stat": 100, "adapt_steps": 20}


@dataclass(frozen=True)
class SimConcept:
    """Traffic of one concept: the sources' inter-arrival law and the busiest link's mean utilisation."""

    name: str
    time: TimeDistribution
    utilisation: float


DEFAULT_CONCEPTS = (
    SimConcept("poisson", TimeDistribution.poisson(), 0.5),
    SimConcept("on-off", TimeDistribution.on_off(0.02, 0.02), 0.65),
    SimConcept("cbr", TimeDistribution.cbr(), 0.85),
)


def ring_topology(n_nodes: int = 6, capacity_bps: float = 10e6, prop_delay_s: float = 2e-3) -> Topology:
    """A ring with one chord every second node (both directions)."""
    edges = [(i, (i + 1) % n_nodes, capacity_bps) for i in range(n_nodes)]
    edges += [(i, (i + n_nodes // 2) % n_nodes, capacity_bps) for i in range(0, n_nodes // 2, 2)]
    return Topology.from_edges(n_nodes, edges, prop_delay_s=prop_delay_s)


def flow_windows(scenario: Scenario, flow_labels: pd.DataFrame) -> pd.DataFrame:
    """One row per flow in the measurement-window layout."""
    hops = scenario.hops
    topology = scenario.topology
    n = scenario.n_flows
    path_length = np.bincount(hops.flow, minlength=n)
    propagation = np.bincount(hops.flow, weights=topology.prop_delay_s[hops.link], minlength=n)
    bottleneck = np.full(n, np.inf)
    np.minimum.at(bottleneck, hops.flow, topology.capacity_bps[hops.link])
    size_bytes = scenario.traffic.mean_size_bits / 8
    received_bps = flow_labels["offered_bps"].to_numpy(float) * (1 - flow_labels["loss"].to_numpy(float))
    return pd.DataFrame(
        {
            "flow_id": np.arange(n, dtype=np.int64),
            "window_idx": np.arange(n, dtype=np.int64),
            "traffic_kbps": received_bps / 1e3,
            "loss_pkts_per_s": flow_labels["drops_per_s"].to_numpy(float),
            "packet_size_bytes": size_bytes,
            "path_length": path_length.astype(np.int64),
            "propag_delay_s": propagation,
            "min_link_capacity_mbps": bottleneck / 1e6,
            "delay_s": flow_labels["delay_s"].to_numpy(float),
        }
    )


def _step_windows(base: Scenario, concept: SimConcept, rng: np.random.Generator, packets_per_flow: int) -> pd.DataFrame:
    """Simulate one step of ``concept``: the base flows with its sources, scaled to a load drawn around its level."""
    factor = concept.utilisation * rng.uniform(0.85, 1.15)
    scenario = all_pairs_scenario(base.topology, max_utilization=factor, seed=0, time=concept.time)
    sample = simulate(scenario, packets_per_flow=packets_per_flow, seed=int(rng.integers(2**31)))
    return flow_windows(scenario, sample.flow_labels)


def simulated_stream(
    *,
    steps_per_concept: int = 25,
    initial_steps: int = 40,
    concepts: tuple[SimConcept, ...] = DEFAULT_CONCEPTS,
    packets_per_flow: int = 400,
    seed: int = 0,
) -> ReplayStream:
    """The stream (``steps_per_concept`` steps per concept) and the initial model's training data
    (``initial_steps`` more steps of the first concept)."""
    rng = np.random.default_rng(seed)
    base = all_pairs_scenario(ring_topology(), max_utilization=concepts[0].utilisation, seed=0)
    initial = [
        _step_windows(base, concepts[0], rng, packets_per_flow).assign(conn_element_idx=i) for i in range(initial_steps)
    ]
    parts = []
    for c, concept in enumerate(concepts):
        for i in range(steps_per_concept):
            parts.append(_step_windows(base, concept, rng, packets_per_flow).assign(step=c * steps_per_concept + i))
    windows = pd.concat(parts, ignore_index=True)
    windows = windows[np.isfinite(windows["delay_s"]) & (windows["delay_s"] > 0)].reset_index(drop=True)
    windows[BUDGET_COLUMN] = BUDGET_FACTOR * windows.groupby("flow_id")["delay_s"].transform("mean")
    starts = tuple(c * steps_per_concept for c in range(len(concepts) + 1))
    training = pd.concat(initial, ignore_index=True)
    return ReplayStream("sim-ring6", windows, starts, tuple(c.name for c in concepts), training)
