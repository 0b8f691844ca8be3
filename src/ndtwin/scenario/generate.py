"""Offered loads of a scenario's links and paths, and small generators of traffic matrices scaled to a target load."""

from __future__ import annotations

import numpy as np

from ndtwin.errors import ScenarioError, check_number
from ndtwin.scenario.routing import Routing
from ndtwin.scenario.scenario import Scenario
from ndtwin.scenario.topology import Topology
from ndtwin.scenario.traffic import Flow, PacketSizeDistribution, TimeDistribution, Traffic


def link_loads_bps(scenario: Scenario) -> np.ndarray:
    """Offered bit rate on every link if no packet were lost."""
    hops = scenario.hops
    return np.bincount(hops.link, weights=scenario.traffic.rate_bps[hops.flow], minlength=scenario.topology.n_links)


def link_utilization(scenario: Scenario) -> np.ndarray:
    """Per link: offered load / capacity."""
    return link_loads_bps(scenario) / scenario.topology.capacity_bps


def path_utilization(scenario: Scenario, utilization: np.ndarray | None = None) -> np.ndarray:
    """Per flow: offered load / capacity of the busiest link on its path (``utilization``: the links', if known)."""
    utilization = link_utilization(scenario) if utilization is None else utilization
    hops = scenario.hops
    return np.maximum.reduceat(utilization[hops.link], hops.flow_offset[:-1]) if scenario.n_flows else np.zeros(0)


def all_pairs_scenario(
    topology: Topology,
    *,
    max_utilization: float,
    seed: int = 0,
    tos_probs: tuple[float, ...] = (0.1, 0.3, 0.6),
    size: PacketSizeDistribution | None = None,
    time: TimeDistribution | None = None,
) -> Scenario:
    """One flow per ordered pair over shortest paths, rates ∝ U(0.1, 1), scaled so the busiest link is at
    ``max_utilization`` of its capacity. ToS drawn with ``tos_probs``."""
    check_number("max_utilization", max_utilization, minimum=0, strict=True)
    if topology.n_nodes < 2:
        raise ScenarioError("topology", "at least two nodes for all-pairs traffic", topology.n_nodes)
    rng = np.random.default_rng(seed)
    routing = Routing.shortest_paths(topology)
    pairs = sorted(routing.paths)
    weights = rng.uniform(0.1, 1.0, len(pairs))
    tos = rng.choice(len(tos_probs), size=len(pairs), p=np.asarray(tos_probs) / sum(tos_probs))
    size = size or PacketSizeDistribution.discrete((4000, 8000, 12000), (0.3, 0.4, 0.3))
    time = time or TimeDistribution.poisson()
    flows = tuple(Flow(s, d, float(w), int(t), time, size) for (s, d), w, t in zip(pairs, weights, tos))
    unit = Scenario(topology, routing, Traffic(flows))
    utilization = link_loads_bps(unit) / topology.capacity_bps
    return Scenario(topology, routing, unit.traffic.scaled(max_utilization / utilization.max()))
