"""Routing files of the BNN-UPC datanetAPI datasets (FORMAT.md §10): next-hop port matrices and ``;`` path lists."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ndtwin.data.datanet_graph import PortNumbers, read_text
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.scenario import Routing

Pair = tuple[int, int]


@dataclass(frozen=True)
class RouteTable:
    """The routes of one routing file resolved against one graph: a next-hop matrix or explicit paths."""

    source: Path
    next_hop: np.ndarray | None = None  # next_hop[u, d]: node after u towards d, −1 for none
    paths: Mapping[Pair, tuple[int, ...]] | None = None

    def routing(self, pairs: Iterable[Pair]) -> Routing:
        """A Routing holding the paths of ``pairs`` only."""
        if self.paths is None:
            try:
                return Routing.from_next_hop(self.next_hop, pairs)
            except ScenarioError as err:
                raise DatasetError(self.source, str(err)) from None
        try:
            return Routing({pair: self.paths[pair] for pair in pairs})
        except KeyError as err:
            raise DatasetError(self.source, f"no path for pair {err.args[0]}") from None


def read_route_table(path: Path, n_nodes: int, ports: PortNumbers) -> RouteTable:
    """Read a routing file; the format is a path list when its first line contains ``;``, else a port matrix."""
    path = Path(path)
    if path.is_dir():
        raise DatasetError(path, "per-source routing directories are not supported")
    lines = [line.strip() for line in read_text(path, "routing").splitlines() if line.strip()]
    if not lines:
        raise DatasetError(path, "empty routing file")
    if ";" in lines[0]:
        return RouteTable(path, paths=_path_list(path, lines))
    return RouteTable(path, next_hop=_next_hop_matrix(path, lines, n_nodes, ports))


def _path_list(path: Path, lines: list[str]) -> dict[Pair, tuple[int, ...]]:
    """One path per line, node ids separated by ``;``, keyed by its first and last node."""
    paths = {}
    for number, line in enumerate(lines, 1):
        try:
            nodes = tuple(int(node) for node in line.rstrip(";").split(";"))
        except ValueError:
            raise DatasetError(path, f"line {number}: expected node ids separated by ';', got {line!r}") from None
        if len(nodes) < 2:
            raise DatasetError(path, f"line {number}: expected a path of at least 2 nodes, got {line!r}")
        paths[(nodes[0], nodes[-1])] = nodes
    return paths


def _next_hop_matrix(path: Path, lines: list[str], n_nodes: int, ports: PortNumbers) -> np.ndarray:
    """Translate the port matrix (row = current node, column = destination) into next-hop node ids."""
    if len(lines) != n_nodes:
        raise DatasetError(path, f"{len(lines)} rows, expected one per node of the graph ({n_nodes})")
    neighbour = {(u, port): v for (u, v), port in ports.items()}
    next_hop = np.full((n_nodes, n_nodes), -1, dtype=np.int64)
    for u, line in enumerate(lines):
        entries = line.rstrip(",").split(",")
        if len(entries) != n_nodes:
            raise DatasetError(path, f"row {u}: {len(entries)} entries, expected {n_nodes}")
        for d, entry in enumerate(entries):
            try:
                port = int(entry)
            except ValueError:
                raise DatasetError(path, f"row {u}, column {d}: expected a port number, got {entry!r}") from None
            if port < 0:
                continue
            if (u, port) not in neighbour:
                raise DatasetError(path, f"row {u}, column {d}: node {u} has no port {port} in the graph")
            next_hop[u, d] = neighbour[(u, port)]
    return next_hop
