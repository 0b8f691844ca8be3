"""Topology sources for generation: topology files, folders of them, and random power-law and backbone graphs.

A source is written as a string:

* ``powerlaw:N`` or ``powerlaw:NMIN-NMAX``: a connected power-law graph (networkx ``powerlaw_cluster_graph``
  with ``m = 2`` edges per new node and triangle probability 0.1, as BNN-UPC did), ``N`` drawn uniformly;
* ``backbone:N`` or ``backbone:NMIN-NMAX``: a sparse geometric graph like a research backbone (Abilene, Nsfnet,
  Uninett: 1.3–1.5 links per node, long paths, no hubs): the minimum spanning tree of N random points in the unit
  square, plus the shortest other links between nodes of degree < 4 until there are 1.35 links per node;
* a GraphML / GML file (e.g. from the Topology Zoo);
* a folder: every ``*.graphml`` and ``*.gml`` file in it, each one a source of its own.

Only the graph is taken from a file; capacities, ports and delays are drawn per sample (``scenario_draw``).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from ndtwin.data.topology_io import read_topology
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.scenario import Topology

POWERLAW_EDGES_PER_NODE = 2
POWERLAW_TRIANGLE_PROB = 0.1
BACKBONE_LINKS_PER_NODE = 1.35
BACKBONE_MAX_DEGREE = 4  # extra links only join nodes below this degree (tree links may exceed it)
BACKBONE_MIN_NODES = 3
TOPOLOGY_SUFFIXES = (".graphml", ".gml")


def powerlaw_graph(n: int, seed: int) -> nx.Graph:
    """A connected power-law graph on ``n`` nodes (see the module docstring)."""
    return nx.powerlaw_cluster_graph(n, POWERLAW_EDGES_PER_NODE, POWERLAW_TRIANGLE_PROB, seed=seed)


def backbone_graph(n: int, seed: int) -> nx.Graph:
    """A connected sparse geometric graph on ``n`` nodes (see the module docstring)."""
    points = np.random.default_rng(seed).random((n, 2))
    distance = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
    pairs = sorted((distance[u, v], u, v) for u in range(n) for v in range(u + 1, n))
    complete = nx.Graph()
    complete.add_weighted_edges_from((u, v, d) for d, u, v in pairs)
    graph = nx.minimum_spanning_tree(complete)
    wanted = round(BACKBONE_LINKS_PER_NODE * n)
    for _, u, v in pairs:
        if graph.number_of_edges() >= wanted:
            break
        if not graph.has_edge(u, v) and max(graph.degree(u), graph.degree(v)) < BACKBONE_MAX_DEGREE:
            graph.add_edge(u, v)
    return graph


GRAPH_FAMILIES = {  # family: (graph builder from node count and seed, smallest node count)
    "powerlaw": (powerlaw_graph, POWERLAW_EDGES_PER_NODE + 1),
    "backbone": (backbone_graph, BACKBONE_MIN_NODES),
}
_RANDOM = re.compile(rf"({'|'.join(GRAPH_FAMILIES)}):(\d+)(?:-(\d+))?")


@dataclass(frozen=True)
class RandomGraphSource:
    """Random connected graphs of one family (``GRAPH_FAMILIES``) with ``n_min``..``n_max`` nodes."""

    family: str
    n_min: int
    n_max: int

    def draw(self, rng: np.random.Generator) -> tuple[str, Topology]:
        n = int(rng.integers(self.n_min, self.n_max + 1))
        graph_seed = int(rng.integers(2**31))
        graph = GRAPH_FAMILIES[self.family][0](n, graph_seed)
        return f"{self.family}-{n}-{graph_seed}", Topology.from_edges(n, ((u, v, 1.0) for u, v in graph.edges))


@dataclass(frozen=True)
class FileSource:
    """One topology file (read once per process)."""

    path: Path

    def draw(self, rng: np.random.Generator) -> tuple[str, Topology]:
        return self.path.stem, _read_connected(self.path)


Source = RandomGraphSource | FileSource


@lru_cache(maxsize=16)
def resolve_sources(entries: tuple[str, ...]) -> tuple[Source, ...]:
    """The sources named by ``entries`` (folders expanded, sorted; cached per process); errors name the bad
    entry."""
    sources: list[Source] = []
    for i, entry in enumerate(entries):
        match = _RANDOM.fullmatch(entry.strip())
        if match:
            family, low = match.group(1), int(match.group(2))
            high = int(match.group(3) or low)
            smallest = GRAPH_FAMILIES[family][1]
            if not smallest <= low <= high:
                expected = f"{family}:NMIN-NMAX with {smallest} <= NMIN <= NMAX"
                raise ScenarioError(f"spec.topologies[{i}]", expected, entry)
            sources.append(RandomGraphSource(family, low, high))
            continue
        path = Path(entry)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in TOPOLOGY_SUFFIXES)
            if not files:
                raise DatasetError(path, f"no topology files ({', '.join(TOPOLOGY_SUFFIXES)}) in this folder")
            sources.extend(FileSource(p) for p in files)
        elif path.is_file():
            sources.append(FileSource(path))
        else:
            expected = "powerlaw:NMIN-NMAX, backbone:NMIN-NMAX, a topology file or a folder of them"
            raise ScenarioError(f"spec.topologies[{i}]", expected, entry)
    return tuple(sources)


def draw_topology(sources: Sequence[Source], rng: np.random.Generator) -> tuple[str, Topology]:
    """A name and a topology from one source drawn uniformly."""
    return sources[int(rng.integers(len(sources)))].draw(rng)


@lru_cache(maxsize=64)
def _read_connected(path: Path) -> Topology:
    """The file's topology; DatasetError unless every node can reach every other."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing capacities or delays do not matter: they are redrawn
        topology = read_topology(path)
    n = topology.n_nodes
    graph = csr_matrix((np.ones(topology.n_links), (topology.src, topology.dst)), shape=(n, n))
    components = connected_components(graph, directed=True, connection="strong")[0]
    if n < 2 or components != 1:
        problem = "expected a strongly connected topology of 2+ nodes (all-pairs traffic)"
        raise DatasetError(path, f"{problem}, got {n} nodes in {components} components")
    return topology
