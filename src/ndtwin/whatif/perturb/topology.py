"""Topology perturbations: link and node failures, capacity, routing weight and explicit path changes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from ndtwin.errors import check_number
from ndtwin.scenario import Routing, Scenario, Topology
from ndtwin.whatif.perturb.base import Node, Outcome, Perturbation, keep_flows, link_of, node_of


def _flow_name(scenario: Scenario, i: int) -> str:
    flow, names = scenario.traffic.flows[i], scenario.topology.node_names
    return f"flow {i} ({names[flow.src]}→{names[flow.dst]})"


def _reachable(topology: Topology, sources: list[int]) -> np.ndarray:
    """``reachable[k, d]``: node ``d`` can be reached from ``sources[k]`` over the topology's links."""
    n = topology.n_nodes
    graph = csr_matrix((np.ones(topology.n_links), (topology.src, topology.dst)), shape=(n, n))
    return np.isfinite(dijkstra(graph, directed=True, indices=sources, unweighted=True))


def _after_failure(p: Perturbation, scenario: Scenario, topology: Topology, drop_disconnected: bool) -> Outcome:
    """``scenario`` on the failed ``topology``: flows whose path crossed a lost link are rerouted over shortest
    paths (the others keep theirs); flows left without any route raise an error, or are dropped and reported."""
    sources = sorted({f.src for f in scenario.traffic.flows})
    reachable = _reachable(topology, sources)
    row = {s: k for k, s in enumerate(sources)}
    cut = np.array([not reachable[row[f.src], f.dst] for f in scenario.traffic.flows], dtype=bool)
    if cut.any() and not drop_disconnected:
        first = int(np.flatnonzero(cut)[0])
        raise p._error(
            "drop_disconnected",
            f"every flow to keep a route, but {_flow_name(scenario, first)} and {int(cut.sum()) - 1} other(s) lose "
            "theirs (drop_disconnected=True drops them)",
        )
    kept = keep_flows(scenario, ~cut)
    paths, broken = {}, []
    for pair, path in kept.routing.paths.items():
        if all(topology.link_id(u, v) is not None for u, v in zip(path, path[1:])):
            paths[pair] = path
        else:
            broken.append(pair)
    paths.update(Routing.shortest_paths(topology, broken).paths)
    perturbed = Scenario(topology, Routing(paths), kept.traffic)
    return Outcome(perturbed, np.flatnonzero(~cut), tuple(int(i) for i in np.flatnonzero(cut)))


@dataclass(frozen=True)
class FailLink(Perturbation):
    """Fail link ``u``–``v`` in both directions. Flows that crossed it are rerouted over shortest paths; flows
    left without a route raise an error unless ``drop_disconnected`` (then they are dropped and reported)."""

    u: Node
    v: Node
    drop_disconnected: bool = False
    kind: ClassVar[str] = "link_failure"

    def describe(self) -> str:
        return f"fail link {self.u}–{self.v}"

    def _outcome(self, scenario: Scenario) -> Outcome:
        pair = link_of(self, scenario.topology, self.u, self.v)
        return _after_failure(self, scenario, scenario.topology.without_links([pair]), self.drop_disconnected)


@dataclass(frozen=True)
class FailNode(Perturbation):
    """Fail a node (all its links). Its own flows, and flows left without a route, raise an error unless
    ``drop_disconnected``; flows that crossed it are rerouted over shortest paths."""

    node: Node
    drop_disconnected: bool = False
    kind: ClassVar[str] = "node_failure"

    def describe(self) -> str:
        return f"fail node {self.node}"

    def _outcome(self, scenario: Scenario) -> Outcome:
        node = node_of(self, scenario.topology, "node", self.node)
        return _after_failure(self, scenario, scenario.topology.without_nodes([node]), self.drop_disconnected)


@dataclass(frozen=True)
class SetCapacity(Perturbation):
    """Set the capacity (bit/s) of link ``u → v`` (and ``v → u`` when ``both_directions`` and it exists)."""

    u: Node
    v: Node
    capacity_bps: float
    both_directions: bool = True
    kind: ClassVar[str] = "capacity_change"

    def __post_init__(self) -> None:
        check_number("SetCapacity.capacity_bps", self.capacity_bps, minimum=0, strict=True)

    def describe(self) -> str:
        return f"capacity {self.u}–{self.v} = {self.capacity_bps:.4g} bit/s"

    def _outcome(self, scenario: Scenario) -> Outcome:
        topology = _changed_links(self, scenario.topology, self.both_directions, capacity_bps=float(self.capacity_bps))
        return Outcome(replace(scenario, topology=topology), np.arange(scenario.n_flows))


@dataclass(frozen=True)
class SetWeight(Perturbation):
    """Set the routing weight of link ``u → v`` (and ``v → u`` when ``both_directions``); all flows are then
    rerouted over minimum-weight paths (OSPF-like)."""

    u: Node
    v: Node
    weight: float
    both_directions: bool = True
    kind: ClassVar[str] = "weight_change"

    def __post_init__(self) -> None:
        check_number("SetWeight.weight", self.weight, minimum=0, strict=True)

    def describe(self) -> str:
        return f"weight {self.u}–{self.v} = {self.weight:g}"

    def _outcome(self, scenario: Scenario) -> Outcome:
        topology = _changed_links(self, scenario.topology, self.both_directions, weight=float(self.weight))
        return Outcome(scenario.rerouted(topology), np.arange(scenario.n_flows))


def _changed_links(p: Perturbation, topology: Topology, both_directions: bool, **changes: object) -> Topology:
    src, dst = link_of(p, topology, p.u, p.v)
    topology = topology.with_link(src, dst, **changes)
    if both_directions and topology.link_id(dst, src) is not None:
        topology = topology.with_link(dst, src, **changes)
    return topology


@dataclass(frozen=True)
class SetPath(Perturbation):
    """Route the flows of the pair (``path[0]``, ``path[-1]``) over the explicit node ``path`` (routing is per
    pair, so every flow of that pair follows it)."""

    path: tuple[Node, ...]
    kind: ClassVar[str] = "explicit_path"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", tuple(self.path))
        if len(self.path) < 2:
            raise self._error("path", "at least 2 nodes", self.path)

    def describe(self) -> str:
        return f"path {'→'.join(str(n) for n in self.path)}"

    def _outcome(self, scenario: Scenario) -> Outcome:
        topology = scenario.topology
        nodes = tuple(node_of(self, topology, "path", n) for n in self.path)
        for u, v in zip(nodes, nodes[1:]):
            if topology.link_id(u, v) is None:
                raise self._error(
                    "path",
                    f"consecutive nodes joined by links (no link {self.path[nodes.index(u)]}→"
                    f"{self.path[nodes.index(v)]})",
                    self.path,
                )
        pair = (nodes[0], nodes[-1])
        if pair not in scenario.traffic.pairs():
            raise self._error("path", "the endpoints of at least one flow", self.path)
        routing = Routing(dict(scenario.routing.paths) | {pair: nodes})
        return Outcome(replace(scenario, routing=routing), np.arange(scenario.n_flows))
