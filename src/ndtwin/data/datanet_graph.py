"""Topologies of the BNN-UPC datanetAPI datasets: GML graphs (FORMAT.md §9) and links_bw overrides (§4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ndtwin.data.topology_io import parse_gml_pairs
from ndtwin.errors import DatasetError, ScenarioError, check_int, check_number
from ndtwin.scenario import Link, PortConfig, Scheduling, Topology

PortNumbers = dict[tuple[int, int], int]


def read_datanet_graph(path: Path) -> tuple[Topology, PortNumbers]:
    """Read a GML topology: one Link per directed edge (file order), with the port configuration of its source node.

    Also returns the output-port number of every link, keyed by ``(src, dst)`` (needed by port-matrix routings).
    """
    path = Path(path)
    text = read_text(path, "graph")
    try:
        return _topology(*_gml_graph(text))
    except ValueError as err:  # ScenarioError included
        raise DatasetError(path, str(err)) from None


def with_link_bandwidths(topology: Topology, path: Path) -> Topology:
    """A copy of ``topology`` whose capacities are overridden by a links_bw file (lines ``src;dst;bandwidth_bps``)."""
    lines = read_text(path, "links_bw").splitlines()
    links = list(topology.links)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split(";")
        try:
            if len(fields) != 3:
                raise ScenarioError("line", "'src;dst;bandwidth_bps'", line)
            src, dst = check_int("src", fields[0].strip()), check_int("dst", fields[1].strip())
            capacity = check_number("bandwidth_bps", fields[2].strip(), minimum=0, strict=True)
        except ScenarioError as err:
            raise DatasetError(path, f"line {number}: {err}") from None
        link_id = topology.link_id(src, dst)
        if link_id is None:
            raise DatasetError(path, f"line {number}: the graph has no link {src}→{dst}")
        links[link_id] = replace(links[link_id], capacity_bps=capacity)
    return replace(topology, links=tuple(links))


def read_text(path: Path, what: str) -> str:
    """The text of a dataset file, or a DatasetError saying why it cannot be read."""
    try:
        return Path(path).read_text(encoding="ascii")
    except OSError as err:
        raise DatasetError(path, f"cannot read the {what} file ({err.strerror})") from None
    except UnicodeDecodeError:
        raise DatasetError(path, f"the {what} file is not ASCII text") from None


def _gml_graph(text: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The graph-level attributes, node blocks and edge blocks of a GML document."""
    blocks = [value for key, value in parse_gml_pairs(text) if key == "graph"]
    if len(blocks) != 1 or not isinstance(blocks[0], list):
        raise ValueError("expected one 'graph [ … ]' block")
    graph, nodes, edges = {}, [], []
    for key, value in blocks[0]:
        if key in ("node", "edge") and isinstance(value, list):
            (nodes if key == "node" else edges).append(dict(value))
        else:
            graph[key] = value
    return graph, nodes, edges


def _topology(
    graph: Mapping[str, Any], nodes: list[dict[str, Any]], edges: list[dict[str, Any]]
) -> tuple[Topology, PortNumbers]:
    by_id = {check_int(f"node[{i}].id", node.get("id")): node for i, node in enumerate(nodes)}
    if sorted(by_id) != list(range(len(nodes))):
        raise ScenarioError("graph node ids", f"the integers 0..{len(nodes) - 1}, each once", sorted(by_id))
    levels_tos = check_int("graph.levelsToS", graph.get("levelsToS", 1), minimum=1)
    ports = {node: _port_config(node, attrs, levels_tos) for node, attrs in by_id.items()}
    names = tuple(by_id[node].get("label", str(node)) for node in range(len(nodes)))
    links, port_numbers = [], {}
    for i, attrs in enumerate(edges):
        src = check_int(f"edge[{i}].source", attrs.get("source"), maximum=len(nodes) - 1)
        dst = check_int(f"edge[{i}].target", attrs.get("target"), maximum=len(nodes) - 1)
        where = f"edge {src}→{dst}"
        capacity = check_number(f"{where}.bandwidth", attrs.get("bandwidth"), minimum=0, strict=True)
        links.append(Link(src, dst, capacity, port=ports[src]))
        if "port" in attrs:
            port_numbers[(src, dst)] = check_int(f"{where}.port", attrs["port"])
    return Topology(names, tuple(links)), port_numbers


def _port_config(node: int, attrs: Mapping[str, Any], levels_tos: int) -> PortConfig:
    """The configuration shared by every output port of ``node`` (FORMAT.md §9.2)."""
    where = f"node {node}"
    buffers, unit = _buffers(where, attrs)
    if "levelsQoS" in attrs:
        levels = check_int(f"{where}.levelsQoS", attrs["levelsQoS"], minimum=1)
        if levels != len(buffers):
            raise ScenarioError(f"{where}.levelsQoS", f"one buffer size per queue ({len(buffers)} given)", levels)
    scheduling = Scheduling.parse(attrs.get("schedulingPolicy", "FIFO"), f"{where}.schedulingPolicy")
    weights = attrs.get("schedulingWeights")
    if weights is not None:
        weights = None if _text(weights) == "-" else _numbers(f"{where}.schedulingWeights", weights)
    tos_to_queue = _tos_to_queue(where, attrs.get("tosToQoSqueue"), len(buffers), levels_tos)
    try:
        return PortConfig(scheduling, buffers, unit, weights, tos_to_queue)
    except ScenarioError as err:
        raise ScenarioError(f"{where}: {err.field}", err.expected, err.got) from None


def _buffers(where: str, attrs: Mapping[str, Any]) -> tuple[tuple[float, ...], str]:
    """Per-queue buffer sizes and their unit: ``bufferSizes`` are bits, ``queueSizes`` packets."""
    if "bufferSizes" in attrs and "queueSizes" in attrs:
        raise ScenarioError(where, "either bufferSizes or queueSizes, not both")
    if "bufferSizes" in attrs:
        return _numbers(f"{where}.bufferSizes", attrs["bufferSizes"]), "bits"
    if "queueSizes" in attrs:
        return _numbers(f"{where}.queueSizes", attrs["queueSizes"]), "packets"
    raise ScenarioError(where, "a bufferSizes (bits) or queueSizes (packets) attribute")


def _tos_to_queue(where: str, value: Any, n_queues: int, levels_tos: int) -> tuple[int, ...]:
    """Queue of each ToS. ``;`` separates queues and ``,`` the ToS values of one queue (``"0,1,2"`` is one queue).

    Without a map, ToS ``i`` enters queue ``i`` (the last queue when there are fewer queues).
    ToS values the map leaves out enter the last (lowest-priority) queue.
    """
    if value is None:
        return tuple(min(tos, n_queues - 1) for tos in range(max(levels_tos, n_queues)))
    queue_of: dict[int, int] = {}
    for queue, group in enumerate(_text(value).split(";")):
        for part in group.split(","):
            tos = check_int(f"{where}.tosToQoSqueue", part.strip())
            if tos in queue_of:
                raise ScenarioError(f"{where}.tosToQoSqueue", "each ToS in at most one queue", _text(value))
            queue_of[tos] = queue
    return tuple(queue_of.get(tos, n_queues - 1) for tos in range(max(levels_tos, max(queue_of) + 1)))


def _numbers(field: str, value: Any) -> tuple[float, ...]:
    """A quoted or bare GML value holding one number or a comma list, as floats."""
    return tuple(check_number(f"{field}[{i}]", part.strip()) for i, part in enumerate(_text(value).split(",")))


def _text(value: Any) -> str:
    """A GML value as text: quoted and bare values are the same thing in these files."""
    return str(value).strip()
