"""Scenario = Topology + Routing + Traffic, cross-validated, with flat hop arrays for models."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from ndtwin.errors import ScenarioError
from ndtwin.scenario.routing import Routing
from ndtwin.scenario.topology import Topology
from ndtwin.scenario.traffic import Traffic

if TYPE_CHECKING:
    from ndtwin.scenario.bounds import FlowBounds


@dataclass(frozen=True)
class QueueTable:
    """Every queue of every output port, numbered globally: queue ``g`` is queue ``index[g]`` of ``link[g]``."""

    link: np.ndarray  # (n_queues,) link id
    index: np.ndarray  # (n_queues,) queue index within the port
    offset: np.ndarray  # (n_links + 1,) first global queue id of each link


@dataclass(frozen=True)
class HopTable:
    """The hops of all flows as flat arrays, flow by flow in path order (CSR by ``flow_offset``)."""

    flow: np.ndarray  # (n_hops,) flow index
    link: np.ndarray  # (n_hops,) link id
    queue: np.ndarray  # (n_hops,) global queue id (see QueueTable)
    position: np.ndarray  # (n_hops,) hop number within the path, from 0
    flow_offset: np.ndarray  # (n_flows + 1,) first hop of each flow


@dataclass(frozen=True)
class Scenario:
    """A network state: topology, routing and traffic. Validated on construction."""

    topology: Topology
    routing: Routing
    traffic: Traffic

    def __post_init__(self) -> None:
        topo = self.topology
        n = topo.n_nodes
        for (src, dst), path in self.routing.paths.items():
            for u, v in zip(path, path[1:]):
                if u >= n or v >= n:
                    raise ScenarioError(f"routing.paths[({src}, {dst})]", f"node indices < {n}", path)
                if topo.link_id(u, v) is None:
                    raise ScenarioError(
                        f"routing.paths[({src}, {dst})]", f"a path that follows links (no link {u}→{v})", path
                    )
        for i, flow in enumerate(self.traffic.flows):
            for end in ("src", "dst"):
                if getattr(flow, end) >= n:
                    raise ScenarioError(f"traffic.flows[{i}].{end}", f"a node index < {n}", getattr(flow, end))
            if (flow.src, flow.dst) not in self.routing.paths:
                raise ScenarioError(f"traffic.flows[{i}]", f"a routed pair (routing has no path {flow.src}→{flow.dst})")

    @classmethod
    def with_shortest_paths(cls, topology: Topology, traffic: Traffic) -> Scenario:
        """Route every flow's pair over minimum-weight paths."""
        return cls(topology, Routing.shortest_paths(topology, traffic.pairs()), traffic)

    def rerouted(self, topology: Topology) -> Scenario:
        """The same traffic on a changed topology (e.g. after a failure), with shortest paths recomputed."""
        return replace(self, topology=topology, routing=Routing.shortest_paths(topology, self.traffic.pairs()))

    @property
    def n_flows(self) -> int:
        return len(self.traffic.flows)

    @cached_property
    def queues(self) -> QueueTable:
        counts = np.array([link.port.n_queues for link in self.topology.links], dtype=np.int64)
        offset = np.concatenate([[0], np.cumsum(counts)])
        link = np.repeat(np.arange(len(counts)), counts)
        index = np.arange(offset[-1]) - offset[link]
        return QueueTable(link=link, index=index, offset=offset)

    @cached_property
    def hops(self) -> HopTable:
        link_paths, flow_path = self._link_paths()
        path_lengths = np.array([len(p) for p in link_paths], dtype=np.int64)
        path_offset = np.concatenate([[0], np.cumsum(path_lengths)])
        hops_per_flow = path_lengths[flow_path]
        flow_offset = np.concatenate([[0], np.cumsum(hops_per_flow)])
        flow = np.repeat(np.arange(self.n_flows, dtype=np.int64), hops_per_flow)
        position = np.arange(flow_offset[-1], dtype=np.int64) - flow_offset[flow]
        all_links = np.concatenate(link_paths) if link_paths else np.zeros(0, dtype=np.int64)
        link = all_links[path_offset[flow_path[flow]] + position]
        tos = self.traffic.tos[flow]
        queue = self.queues.offset[link] + self._tos_queue_table(int(tos.max(initial=0)) + 1)[link, tos]
        return HopTable(flow, link, queue, position, flow_offset)

    @cached_property
    def bounds(self) -> FlowBounds:
        """Physical upper bounds of every flow's delay and delay variance (``ndtwin.scenario.bounds.flow_bounds``),
        computed once for all the models and intervals that ask."""
        from ndtwin.scenario.bounds import flow_bounds

        return flow_bounds(self)

    def _link_paths(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Link ids of each distinct routed pair's path, and the index of each flow's path in that list."""
        link_ids = self.topology._link_ids
        index: dict[tuple[int, int], int] = {}
        link_paths: list[np.ndarray] = []
        flow_path = np.empty(self.n_flows, dtype=np.int64)
        for i, flow in enumerate(self.traffic.flows):
            key = (flow.src, flow.dst)
            if key not in index:
                path = self.routing.paths[key]
                index[key] = len(link_paths)
                link_paths.append(np.array([link_ids[hop] for hop in zip(path, path[1:])], dtype=np.int64))
            flow_path[i] = index[key]
        return link_paths, flow_path

    def _tos_queue_table(self, n_tos: int) -> np.ndarray:
        """``table[link, tos]``: the queue index a ToS enters at each link's port (PortConfig.queue_of)."""
        table = np.zeros((self.topology.n_links, n_tos), dtype=np.int64)
        for lid, link in enumerate(self.topology.links):
            table[lid] = [link.port.queue_of(t) for t in range(n_tos)]
        return table
