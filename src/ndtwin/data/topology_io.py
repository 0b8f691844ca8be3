"""Read topologies from GraphML / GML files and write them back as GML.

Supported inputs (the format is told by content: GraphML is XML, anything else is parsed as GML):

* Internet Topology Zoo GraphML: names from node ``label``; capacity from ``LinkSpeedRaw`` (bit/s) or
  ``LinkSpeed`` + ``LinkSpeedUnits``; propagation delay from the great-circle distance between the end nodes'
  ``Latitude``/``Longitude`` at ``PROPAGATION_SPEED_M_S``.
* robust-ndt / SNDlib-style GML: edge ``capacity`` (or ``capacities``) in Mbit/s and ``delay`` in ms.
* GML written by :func:`write_gml`: SI edge attributes ``capacity_bps``, ``prop_delay_s``, ``weight`` and the
  output-port configuration (``scheduling``, ``buffers``, ``buffer_unit``, ``queue_weights``, ``tos_to_queue``).

Undirected edges become one link each way. Parallel edges are merged, self-loops dropped; whatever had to be
filled in or changed is reported as one :class:`TopologyWarning` per kind and file.
"""

from __future__ import annotations

import html
import math
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from ndtwin.errors import DatasetError, ScenarioError, check_int, check_number
from ndtwin.scenario.topology import DEFAULT_PORT, Link, PortConfig, Scheduling, Topology

DEFAULT_CAPACITY_BPS: float = 10e9
"""Capacity of links whose file gives none: 10 Gbit/s (OC-192 / 10GbE), the usual backbone link speed of the
Topology Zoo networks (all Abilene links are OC-192; 10G is the most common ``LinkSpeed`` in Geant2012)."""

PROPAGATION_SPEED_M_S = 2e8
"""Signal speed in optical fibre (about two thirds of the speed of light)."""

EARTH_RADIUS_M = 6_371_000.0

# (edge attribute, factor to SI), in order of precedence.
_CAPACITY_KEYS = (("capacity_bps", 1.0), ("LinkSpeedRaw", 1.0), ("capacity", 1e6), ("capacities", 1e6))
_DELAY_KEYS = (("prop_delay_s", 1.0), ("delay", 1e-3))
_SPEED_UNITS = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


class TopologyWarning(UserWarning):
    """A topology file lacked a value that was filled with a default, or had edges that were merged or dropped."""


@dataclass(frozen=True)
class _Edge:
    """One edge of the file with its values in SI units."""

    src: int
    dst: int
    capacity_bps: float
    prop_delay_s: float
    weight: float
    port: PortConfig


def read_topology(
    path: str | Path,
    *,
    default_capacity_bps: float = DEFAULT_CAPACITY_BPS,
    port: PortConfig = DEFAULT_PORT,
) -> Topology:
    """Read a GraphML or GML topology file.

    Edges without a capacity get ``default_capacity_bps``; edges without a delay whose end nodes lack coordinates
    get 0 s. Links get ``port`` unless the file gives port attributes. Raises DatasetError for a missing or
    unparsable file or a bad value (naming the file and the edge or node).
    """
    path = Path(path)
    check_number("default_capacity_bps", default_capacity_bps, minimum=0, strict=True)
    graph = _load_graph(path)
    try:
        topology, notes = _to_topology(graph, default_capacity_bps, port)
    except ScenarioError as err:
        raise DatasetError(path, str(err)) from err
    for note in notes:
        warnings.warn(f"{path}: {note}", TopologyWarning, stacklevel=2)
    return topology


def read_coordinates(path: str | Path) -> dict[str, tuple[float, float]]:
    """(latitude, longitude) in degrees of the nodes of a topology file that give a position, by node name (the
    names :func:`read_topology` gives them)."""
    path = Path(path)
    graph = _load_graph(path)
    names = _node_names(graph)
    try:
        coordinates = _node_coordinates(graph, names)
    except ScenarioError as err:
        raise DatasetError(path, str(err)) from err
    return {name: where for name, where in zip(names, coordinates) if where is not None}


def write_gml(topology: Topology, path: str | Path) -> None:
    """Write ``topology`` as a directed GML graph in SI units, one edge per link in link order.

    :func:`read_topology` reads it back unchanged (names, link order, capacities, delays, weights and ports).
    """
    Path(path).write_text("\n".join(_gml_lines(topology)) + "\n", encoding="ascii")


# --- parsing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FileGraph:
    """A parsed file, nodes and edges in file order: ``nodes`` as (id, attributes), ``edges`` as
    (source id, target id, attributes)."""

    directed: bool
    nodes: list[tuple[Any, dict[str, Any]]]
    edges: list[tuple[Any, Any, dict[str, Any]]]


def _load_graph(path: Path) -> _FileGraph:
    if not path.is_file():
        raise DatasetError(path, "not a file" if path.exists() else "no such file")
    is_graphml = _is_xml(path)
    try:
        return _parse_graphml(path) if is_graphml else _parse_gml(path.read_text(encoding="utf-8"))
    except (ValueError, SyntaxError, OSError) as err:  # ElementTree.ParseError is a SyntaxError
        raise DatasetError(path, f"cannot parse as {'GraphML' if is_graphml else 'GML'}: {err}") from err


def _is_xml(path: Path) -> bool:
    with path.open("rb") as file:
        head = file.read(256)
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


_GRAPHML_TYPES: dict[str, Callable[[str], Any]] = {
    "int": int,
    "long": int,
    "float": float,
    "double": float,
    "boolean": lambda text: text.strip().lower() in ("true", "1"),
}


def _parse_graphml(path: Path) -> _FileGraph:
    root = ElementTree.parse(path).getroot()
    namespace = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    graph = root.find(f"{namespace}graph")
    if graph is None:
        raise ValueError("no <graph> element")
    keys = {key.get("id"): key for key in root.iter(f"{namespace}key")}

    def attributes(element: ElementTree.Element, kind: str) -> dict[str, Any]:
        values = {}
        for key in keys.values():
            default = key.find(f"{namespace}default")
            if default is not None and key.get("for", "all") in (kind, "all"):
                values[_graphml_name(key)] = _graphml_value(key, default.text or "")
        for data in element.findall(f"{namespace}data"):
            key = keys.get(data.get("key"))
            if key is None:
                raise ValueError(f"<data key={data.get('key')!r}> refers to no <key>")
            values[_graphml_name(key)] = _graphml_value(key, data.text or "")
        return values

    return _FileGraph(
        directed=graph.get("edgedefault", "directed") == "directed",
        nodes=[(node.get("id"), attributes(node, "node")) for node in graph.findall(f"{namespace}node")],
        edges=[
            (edge.get("source"), edge.get("target"), attributes(edge, "edge"))
            for edge in graph.findall(f"{namespace}edge")
        ],
    )


def _graphml_name(key: ElementTree.Element) -> str:
    return key.get("attr.name") or key.get("id", "")


def _graphml_value(key: ElementTree.Element, text: str) -> Any:
    """``text`` converted to the key's ``attr.type``; kept as text if it does not convert (checked later)."""
    convert = _GRAPHML_TYPES.get(key.get("attr.type", "string"), str)
    try:
        return convert(text)
    except ValueError:
        return text


_GML_TOKEN = re.compile(
    r"(?P<space>\s+|#[^\n]*)"
    r'|(?P<string>"[^"]*")'
    r"|(?P<open>\[)|(?P<close>\])"
    r"|(?P<real>[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?\d+[eE][+-]?\d+)"
    r"|(?P<int>[+-]?\d+)"
    r"|(?P<key>[A-Za-z_]\w*)"
)


class _GmlParser:
    """GML text as nested lists of (key, value) pairs; values are int, float, str or such a list."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = list(self._tokenize())
        self.next = 0

    def parse(self) -> list[tuple[str, Any]]:
        pairs = self._pairs()
        if self.next < len(self.tokens):
            raise self._error("unmatched ']'")
        return pairs

    def _tokenize(self) -> Iterator[tuple[str, str, int]]:
        position = 0
        while position < len(self.text):
            match = _GML_TOKEN.match(self.text, position)
            if match is None:
                raise ValueError(f"line {self._line(position)}: unexpected {self.text[position : position + 12]!r}")
            if match.lastgroup != "space":
                yield match.lastgroup or "", match.group(), position
            position = match.end()

    def _pairs(self) -> list[tuple[str, Any]]:
        pairs = []
        while self.next < len(self.tokens) and self.tokens[self.next][0] != "close":
            kind, key, _ = self.tokens[self.next]
            if kind != "key":
                raise self._error(f"expected a key, got {key!r}")
            self.next += 1
            pairs.append((key, self._value(key)))
        return pairs

    def _value(self, key: str) -> Any:
        if self.next >= len(self.tokens):
            raise self._error(f"no value for {key!r} at the end of the file", len(self.text))
        kind, text, _ = self.tokens[self.next]
        if kind not in ("open", "int", "real", "string"):
            raise self._error(f"expected a value for {key!r}, got {text!r}")
        self.next += 1
        if kind == "open":
            return self._block(key)
        if kind == "int":
            return int(text)
        if kind == "real":
            return float(text)
        return html.unescape(text[1:-1])

    def _block(self, key: str) -> list[tuple[str, Any]]:
        pairs = self._pairs()
        if self.next >= len(self.tokens):
            raise self._error(f"'[' of {key!r} is never closed", len(self.text))
        self.next += 1
        return pairs

    def _error(self, message: str, position: int | None = None) -> ValueError:
        if position is None:
            position = self.tokens[self.next][2]
        return ValueError(f"line {self._line(position)}: {message}")

    def _line(self, position: int) -> int:
        return self.text.count("\n", 0, position) + 1


def parse_gml_pairs(text: str) -> list[tuple[str, Any]]:
    """GML text as nested ``(key, value)`` lists (values int, float, str or such a list); ValueError with the line
    number on a syntax error."""
    return _GmlParser(text).parse()


def _parse_gml(text: str) -> _FileGraph:
    graphs = [value for key, value in parse_gml_pairs(text) if key == "graph"]
    if len(graphs) != 1 or not isinstance(graphs[0], list):
        raise ValueError("expected exactly one 'graph [ ... ]' block")
    body = graphs[0]
    nodes = [_gml_element(value, f"node {i}", ("id",)) for i, value in enumerate(v for k, v in body if k == "node")]
    edges = [
        _gml_element(value, f"edge {i}", ("source", "target"))
        for i, value in enumerate(v for k, v in body if k == "edge")
    ]
    return _FileGraph(
        directed=any(key == "directed" and value == 1 for key, value in body),
        nodes=[(ids[0], attrs) for ids, attrs in nodes],
        edges=[(ids[0], ids[1], attrs) for ids, attrs in edges],
    )


def _gml_element(value: Any, what: str, id_keys: Sequence[str]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A node or edge block as (its ids, its other attributes)."""
    if not isinstance(value, list):
        raise ValueError(f"{what}: expected a '[ ... ]' block, got {value!r}")
    attrs = _gml_attributes(value)
    for key in id_keys:
        if not isinstance(attrs.get(key), (int, str)):
            raise ValueError(f"{what}: expected one integer or string {key!r}, got {attrs.get(key)!r}")
    return tuple(attrs.pop(key) for key in id_keys), attrs


def _gml_attributes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Pairs as a dict: nested blocks as dicts, a repeated key as the list of its values."""
    grouped: dict[str, list[Any]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(_gml_attributes(value) if isinstance(value, list) else value)
    return {key: values[0] if len(values) == 1 else values for key, values in grouped.items()}


# --- converting ----------------------------------------------------------------------------------------------


def _to_topology(graph: _FileGraph, default_capacity_bps: float, port: PortConfig) -> tuple[Topology, list[str]]:
    names = _node_names(graph)
    coordinates = _node_coordinates(graph, names)
    edges, missing, self_loops = _read_edges(graph, names, coordinates, port, default_capacity_bps)
    merged_edges = _merge_parallel(edges, graph.directed)
    links = _links(merged_edges, graph.directed)
    notes = _notes(
        n_edges=len(edges),
        no_capacity=missing["capacity"],
        no_delay=missing["delay"],
        merged=len(edges) - len(merged_edges),
        self_loops=self_loops,
        default_capacity_bps=default_capacity_bps,
    )
    return Topology(tuple(names), tuple(links)), notes


def _node_names(graph: _FileGraph) -> list[str]:
    """Node labels (the node id if there is none); a label used more than once becomes ``"label (id)"``."""
    labels = [str(attrs.get("label", node)) for node, attrs in graph.nodes]
    counts = Counter(labels)
    return [f"{label} ({node})" if counts[label] > 1 else label for label, (node, _) in zip(labels, graph.nodes)]


def _node_coordinates(graph: _FileGraph, names: Sequence[str]) -> list[tuple[float, float] | None]:
    """(latitude, longitude) in degrees per node, None where the file has no position."""
    coordinates: list[tuple[float, float] | None] = []
    for name, (_, data) in zip(names, graph.nodes):
        if "Latitude" in data and "Longitude" in data:
            where = f"node {name!r}"
            latitude = check_number(f"{where}.Latitude", data["Latitude"])
            longitude = check_number(f"{where}.Longitude", data["Longitude"])
            coordinates.append((latitude, longitude))
        else:
            coordinates.append(None)
    return coordinates


def _read_edges(
    graph: _FileGraph,
    names: Sequence[str],
    coordinates: Sequence[tuple[float, float] | None],
    port: PortConfig,
    default_capacity_bps: float,
) -> tuple[list[_Edge], Counter[str], int]:
    """Edges in file order without self-loops; ``missing`` counts the edges lacking a capacity or a delay."""
    index = _node_index(graph)
    arrow = "->" if graph.directed else "--"
    edges: list[_Edge] = []
    missing: Counter[str] = Counter()
    self_loops = 0
    for number, (u, v, attrs) in enumerate(graph.edges):
        if u not in index or v not in index:
            raise ScenarioError(f"edge {number}", "a source and target that are node ids of the file", (u, v))
        src, dst = index[u], index[v]
        if src == dst:
            self_loops += 1
            continue
        where = f"edge {number} ({names[src]!r} {arrow} {names[dst]!r})"
        capacity = _edge_capacity(attrs, where)
        delay = _edge_delay(attrs, where, coordinates[src], coordinates[dst])
        missing.update(capacity=capacity is None, delay=delay is None)
        edges.append(
            _Edge(
                src,
                dst,
                default_capacity_bps if capacity is None else capacity,
                0.0 if delay is None else delay,
                _edge_weight(attrs),
                _edge_port(attrs, where, port),
            )
        )
    return edges, missing, self_loops


def _node_index(graph: _FileGraph) -> dict[Any, int]:
    """Position of each node id in the file."""
    index: dict[Any, int] = {}
    for position, (node, _) in enumerate(graph.nodes):
        if node in index:
            raise ScenarioError(f"node {position}", "a node id used by no other node", node)
        index[node] = position
    return index


def _first_scaled(
    attrs: Mapping[str, Any], keys: Sequence[tuple[str, float]], where: str, strict: bool
) -> float | None:
    """The first of ``keys`` present in ``attrs``, checked (>= 0, or > 0 if ``strict``) and scaled to SI."""
    for key, factor in keys:
        if key in attrs:
            return check_number(f"{where}.{key}", attrs[key], minimum=0, strict=strict) * factor
    return None


def _edge_capacity(attrs: Mapping[str, Any], where: str) -> float | None:
    capacity = _first_scaled(attrs, _CAPACITY_KEYS, where, strict=True)
    if capacity is None and "LinkSpeed" in attrs:
        speed = check_number(f"{where}.LinkSpeed", attrs["LinkSpeed"], minimum=0, strict=True)
        unit = str(attrs.get("LinkSpeedUnits", "")).strip().upper()
        if unit not in _SPEED_UNITS:
            expected = f"one of {sorted(_SPEED_UNITS)}"
            raise ScenarioError(f"{where}.LinkSpeedUnits", expected, attrs.get("LinkSpeedUnits"))
        capacity = speed * _SPEED_UNITS[unit]
    return capacity


def _edge_delay(
    attrs: Mapping[str, Any],
    where: str,
    src_position: tuple[float, float] | None,
    dst_position: tuple[float, float] | None,
) -> float | None:
    delay = _first_scaled(attrs, _DELAY_KEYS, where, strict=False)
    if delay is None and src_position is not None and dst_position is not None:
        delay = _great_circle_m(src_position, dst_position) / PROPAGATION_SPEED_M_S
    return delay


def _great_circle_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance in metres between two (latitude, longitude) points in degrees."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _edge_weight(attrs: Mapping[str, Any]) -> float:
    """The edge's ``weight`` if it is a positive finite number, else 1."""
    weight = attrs.get("weight")
    if isinstance(weight, (int, float)) and not isinstance(weight, bool) and math.isfinite(weight) and weight > 0:
        return float(weight)
    return 1.0


def _edge_port(attrs: Mapping[str, Any], where: str, default: PortConfig) -> PortConfig:
    """``default`` with whatever port fields the edge gives (empty ``queue_weights`` means no weights)."""
    changes: dict[str, Any] = {}
    if "scheduling" in attrs:
        changes["scheduling"] = Scheduling.parse(attrs["scheduling"], f"{where}.scheduling")
    if "buffers" in attrs:
        changes["buffers"] = _list_attribute(attrs, "buffers", where, check_number)
    if "buffer_unit" in attrs:
        changes["buffer_unit"] = str(attrs["buffer_unit"])
    if "queue_weights" in attrs:
        changes["weights"] = _list_attribute(attrs, "queue_weights", where, check_number) or None
    if "tos_to_queue" in attrs:
        changes["tos_to_queue"] = _list_attribute(attrs, "tos_to_queue", where, check_int)
    if not changes:
        return default
    try:
        return replace(default, **changes)
    except ScenarioError as err:
        raise ScenarioError(f"{where}.{err.field}", err.expected, err.got) from None


def _list_attribute(attrs: Mapping[str, Any], key: str, where: str, check: Callable[[str, Any], Any]) -> tuple:
    """A list attribute (a space/comma separated string, a GML list or one value), each item checked."""
    value = attrs[key]
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    return tuple(check(f"{where}.{key}[{i}]", item) for i, item in enumerate(items))


def _merge_parallel(edges: Sequence[_Edge], directed: bool) -> list[_Edge]:
    """One edge per node pair (ordered if ``directed``): capacities summed, minimum delay and weight."""
    groups: dict[tuple[int, int], _Edge] = {}
    for edge in edges:
        key = (edge.src, edge.dst) if directed else (min(edge.src, edge.dst), max(edge.src, edge.dst))
        first = groups.get(key)
        groups[key] = (
            edge
            if first is None
            else replace(
                first,
                capacity_bps=first.capacity_bps + edge.capacity_bps,
                prop_delay_s=min(first.prop_delay_s, edge.prop_delay_s),
                weight=min(first.weight, edge.weight),
            )
        )
    return list(groups.values())


def _links(edges: Sequence[_Edge], directed: bool) -> list[Link]:
    links = []
    for e in edges:
        links.append(Link(e.src, e.dst, e.capacity_bps, e.prop_delay_s, e.weight, e.port))
        if not directed:
            links.append(Link(e.dst, e.src, e.capacity_bps, e.prop_delay_s, e.weight, e.port))
    return links


def _notes(
    *, n_edges: int, no_capacity: int, no_delay: int, merged: int, self_loops: int, default_capacity_bps: float
) -> list[str]:
    notes = []
    if no_capacity:
        notes.append(
            f"{no_capacity} of {n_edges} edges have no capacity; their links use the default "
            f"{default_capacity_bps:g} bit/s"
        )
    if no_delay:
        notes.append(
            f"{no_delay} of {n_edges} edges have neither a delay nor coordinates at both ends; "
            "their propagation delay is 0 s"
        )
    if merged:
        notes.append(
            f"merged {merged} parallel edges into the edge they duplicate "
            "(capacities summed, minimum delay and weight kept)"
        )
    if self_loops:
        notes.append(f"dropped {self_loops} self-loop edges")
    return notes


# --- writing -------------------------------------------------------------------------------------------------


def _gml_lines(topology: Topology) -> Iterator[str]:
    yield "graph ["
    yield "  directed 1"
    for i, name in enumerate(topology.node_names):
        yield from _gml_block("node", {"id": i, "label": name})
    for link in topology.links:
        yield from _gml_block("edge", {"source": link.src, "target": link.dst, **_link_attributes(link)})
    yield "]"


def _link_attributes(link: Link) -> dict[str, Any]:
    port = link.port
    return {
        "capacity_bps": float(link.capacity_bps),
        "prop_delay_s": float(link.prop_delay_s),
        "weight": float(link.weight),
        "scheduling": port.scheduling.value,
        "buffers": " ".join(repr(float(b)) for b in port.buffers),
        "buffer_unit": port.buffer_unit,
        "queue_weights": " ".join(repr(float(w)) for w in port.weights or ()),
        "tos_to_queue": " ".join(str(int(q)) for q in port.tos_to_queue),
    }


def _gml_block(kind: str, attrs: Mapping[str, Any]) -> Iterator[str]:
    yield f"  {kind} ["
    for key, value in attrs.items():
        yield f"    {key} {_gml_value(value)}"
    yield "  ]"


def _gml_value(value: Any) -> str:
    """A GML literal: ints as is, reals always with a decimal point, strings quoted with character references."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        mantissa, e, exponent = repr(value).partition("e")
        return (mantissa if "." in mantissa else mantissa + ".0") + e + exponent
    escaped = re.sub(r'[^ -~]|[&"]', lambda match: f"&#{ord(match.group())};", str(value))
    return f'"{escaped}"'
