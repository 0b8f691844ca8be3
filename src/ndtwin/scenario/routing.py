"""Routing: one node path per ordered (src, dst) pair; every flow of a pair follows it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from ndtwin.errors import ScenarioError, check_int
from ndtwin.scenario.topology import Topology

Pair = tuple[int, int]
Path = tuple[int, ...]


def _node_ids(where: str, values: Sequence[object]) -> Path:
    """``values`` as a tuple of node indices; plain non-negative ints pass without per-item checks."""
    if all(type(v) is int and v >= 0 for v in values):
        return tuple(values)
    return tuple(check_int(f"{where}[{i}]", v) for i, v in enumerate(values))


@dataclass(frozen=True)
class Routing:
    """Paths as node sequences from source to destination, keyed by ordered pair."""

    paths: Mapping[Pair, Path]

    def __post_init__(self) -> None:
        clean: dict[Pair, Path] = {}
        for key, path in dict(self.paths).items():
            where = f"routing.paths[{key}]"
            if not isinstance(key, tuple) or len(key) != 2:
                raise ScenarioError("routing.paths", "keys that are (src, dst) pairs", key)
            src, dst = _node_ids(where, key)
            nodes = _node_ids(where, path)
            if len(nodes) < 2 or nodes[0] != src or nodes[-1] != dst:
                raise ScenarioError(where, f"a path of at least 2 nodes from {src} to {dst}", nodes)
            if len(set(nodes)) != len(nodes):
                raise ScenarioError(where, "a loop-free path", nodes)
            clean[(src, dst)] = nodes
        object.__setattr__(self, "paths", MappingProxyType(clean))

    def __reduce__(self) -> tuple:
        """Pickle as a plain dict: a read-only mapping proxy cannot be pickled (worker processes need it)."""
        return (Routing, (dict(self.paths),))

    @classmethod
    def from_paths(cls, paths: Iterable[Sequence[int]]) -> Routing:
        """From explicit node paths; each is keyed by its first and last node."""
        table = {}
        for path in paths:
            path = tuple(int(n) for n in path)
            if len(path) < 2:
                raise ScenarioError("routing path", "at least 2 nodes", path)
            table[(path[0], path[-1])] = path
        return cls(table)

    @classmethod
    def from_next_hop(cls, next_hop: np.ndarray, pairs: Iterable[Pair]) -> Routing:
        """From a destination-based table: ``next_hop[u, d]`` is the node after ``u`` towards ``d`` (−1: none)."""
        table = np.asarray(next_hop)
        n = table.shape[0]
        if table.ndim != 2 or table.shape != (n, n):
            raise ScenarioError("routing.next_hop", "a square N×N matrix", table.shape)
        paths = {}
        for src, dst in pairs:
            path = [src]
            while path[-1] != dst:
                nxt = int(table[path[-1], dst])
                if nxt < 0:
                    raise ScenarioError(
                        f"routing.next_hop[{path[-1]}, {dst}]", f"a next hop on the way {src}→{dst}", nxt
                    )
                if nxt in path or len(path) > n:
                    raise ScenarioError(f"routing.next_hop[·, {dst}]", f"a loop-free route {src}→{dst}", path + [nxt])
                path.append(nxt)
            paths[(src, dst)] = tuple(path)
        return cls(paths)

    @classmethod
    def shortest_paths(cls, topology: Topology, pairs: Iterable[Pair] | None = None) -> Routing:
        """OSPF-like: minimum total link weight; ties broken deterministically. All pairs if ``pairs`` is None."""
        n = topology.n_nodes
        if pairs is None:
            wanted = [(s, d) for s in range(n) for d in range(n) if s != d]
        else:
            wanted = [_node_ids("routing pair", pair) for pair in pairs]
            outside = next((pair for pair in wanted if max(pair) >= n), None)
            if outside is not None:
                raise ScenarioError("routing pair", f"node indices below the topology's {n} nodes", outside)
        sources = sorted({s for s, _ in wanted})
        if not wanted:
            return cls({})
        # Small per-link perturbation by index makes ties deterministic without changing true shortest paths.
        weights = topology.weight * (1.0 + 1e-9 * np.arange(topology.n_links)) if topology.n_links else topology.weight
        graph = csr_matrix((weights, (topology.src, topology.dst)), shape=(n, n))
        _, predecessors = dijkstra(graph, directed=True, indices=sources, return_predecessors=True)
        row = {s: i for i, s in enumerate(sources)}
        paths = {}
        for src, dst in wanted:
            pred = predecessors[row[src]]
            if pred[dst] < 0:
                raise ScenarioError(f"routing pair ({src}, {dst})", "a destination reachable from the source")
            path = [dst]
            while path[-1] != src:
                path.append(int(pred[path[-1]]))
            paths[(src, dst)] = tuple(reversed(path))
        return cls._unchecked(paths)

    @classmethod
    def _unchecked(cls, paths: dict[Pair, Path]) -> Routing:
        """A Routing of paths that are valid by construction (int node tuples, loop-free), without re-validation."""
        routing = object.__new__(cls)
        object.__setattr__(routing, "paths", MappingProxyType(paths))
        return routing

    def path(self, src: int, dst: int) -> Path:
        try:
            return self.paths[(src, dst)]
        except KeyError:
            raise ScenarioError(f"routing.paths[({src}, {dst})]", "a path for this flow's pair") from None

    def __len__(self) -> int:
        return len(self.paths)
