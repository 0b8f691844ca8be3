"""Draw a random Scenario on a topology from a GenerationSpec, the way the BNN-UPC datasets were built.

* One flow per ordered pair over shortest paths (or a drawn number, ``spec.flows_per_pair``; or only on a drawn
  share of the pairs, ``spec.pair_share``); rates ∝
  U(rate_spread); ToS, packet-size profile and time law drawn per flow.
* Capacities follow the load, as in the BNN-UPC samples (mean link utilisation about half the busiest one's):
  with loads scaled so the busiest link's equals the largest capacity, every physical link (both directions)
  gets the smallest capacity of ``spec.capacities_bps`` that carries its heavier direction.
* One scheduling policy, weight set and per-queue buffer (bits) per node, shared by all its output ports.
* No propagation delay. Rates are finally scaled so the busiest link's utilisation is the drawn intensity.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ndtwin.generate.spec import GenerationSpec
from ndtwin.scenario import (
    Flow,
    PacketSizeDistribution,
    PortConfig,
    Routing,
    Scenario,
    Scheduling,
    TimeDistribution,
    Topology,
    Traffic,
)
from ndtwin.scenario.generate import link_loads_bps


@dataclass(frozen=True)
class DrawnScenario:
    """A drawn scenario and the busiest link's target utilisation it was scaled to."""

    scenario: Scenario
    intensity: float


def draw_scenario(topology: Topology, spec: GenerationSpec, rng: np.random.Generator) -> DrawnScenario:
    """A random scenario on ``topology`` (its capacities and ports are replaced)."""
    routing = Routing.shortest_paths(topology)
    unit = Scenario(topology, routing, _draw_traffic(sorted(routing.paths), spec, rng))
    loads = link_loads_bps(unit)
    capacities = _capacities(topology, loads, spec.capacities_bps)
    ports = _draw_ports(topology.n_nodes, spec, rng)
    links = tuple(
        replace(link, capacity_bps=capacity, prop_delay_s=0.0, port=ports[link.src])
        for link, capacity in zip(topology.links, capacities)
    )
    intensity = float(rng.uniform(*spec.intensity))
    scale = intensity / float(np.max(loads / capacities))
    return DrawnScenario(Scenario(replace(topology, links=links), routing, unit.traffic.scaled(scale)), intensity)


def _draw_traffic(pairs: list[tuple[int, int]], spec: GenerationSpec, rng: np.random.Generator) -> Traffic:
    if spec.pair_share != (1.0, 1.0):  # no draw otherwise, so all-pairs specs keep their random stream
        sending = rng.random(len(pairs)) < rng.uniform(*spec.pair_share)
        sending[rng.integers(len(pairs))] = True
        pairs = [pair for pair, keep in zip(pairs, sending) if keep]
    if spec.flows_per_pair != (1, 1):  # no draw otherwise, so one-flow specs keep their random stream
        low, high = spec.flows_per_pair
        pairs = [pair for pair, k in zip(pairs, rng.integers(low, high + 1, len(pairs))) for _ in range(k)]
    n = len(pairs)
    rates = rng.uniform(*spec.rate_spread, n)
    tos = rng.choice(len(spec.tos_probs), size=n, p=spec.tos_probs)
    sizes = [PacketSizeDistribution.discrete(spec.packet_sizes_bits, p) for p in spec.size_profiles]
    size_of = rng.integers(len(sizes), size=n)
    laws = {
        "poisson": TimeDistribution.poisson(),
        "cbr": TimeDistribution.cbr(),
        "onoff": TimeDistribution.on_off(*spec.onoff_s, periodic=spec.onoff_periodic),
    }
    names, probs = zip(*spec.time_probs)
    time_of = rng.choice(len(names), size=n, p=probs)
    return Traffic(
        tuple(
            Flow(s, d, float(rate), int(t), laws[names[law]], sizes[size])
            for (s, d), rate, t, size, law in zip(pairs, rates, tos, size_of, time_of)
        )
    )


def _capacities(topology: Topology, loads: np.ndarray, choices: tuple[float, ...]) -> np.ndarray:
    """Per link: the smallest choice carrying the heavier direction of its physical link, loads scaled so the
    busiest link needs the largest choice."""
    edge_load: dict[tuple[int, int], float] = {}
    for link, load in zip(topology.links, loads):
        key = (min(link.src, link.dst), max(link.src, link.dst))
        edge_load[key] = max(edge_load.get(key, 0.0), float(load))
    scale = choices[-1] / max(max(edge_load.values()), 1e-300)
    table = np.asarray(choices)
    pick = {
        key: table[min(np.searchsorted(table, load * scale * (1 - 1e-12)), len(table) - 1)]
        for key, load in edge_load.items()
    }
    return np.array([pick[(min(lk.src, lk.dst), max(lk.src, lk.dst))] for lk in topology.links], dtype=float)


def _draw_ports(n_nodes: int, spec: GenerationSpec, rng: np.random.Generator) -> list[PortConfig]:
    names, probs = zip(*spec.scheduling_probs)
    policies = rng.choice(len(names), size=n_nodes, p=probs)
    buffers = rng.choice(spec.buffers_bits, size=n_nodes)
    ports = []
    for policy, buffer in zip(policies, buffers):
        scheduling = Scheduling(names[policy])
        if scheduling is Scheduling.FIFO:
            ports.append(PortConfig(scheduling, (float(buffer),), "bits", None, (0,)))
            continue
        sets = {Scheduling.WFQ: spec.wfq_weights, Scheduling.DRR: spec.drr_weights}.get(scheduling)
        weights = tuple(sets[int(rng.integers(len(sets)))]) if sets else None
        ports.append(PortConfig(scheduling, (float(buffer),) * 3, "bits", weights, (0, 1, 2)))
    return ports
