"""Perturbations: small, composable changes of a Scenario for what-if questions.

Each perturbation is a frozen dataclass with ``apply(scenario) -> Scenario`` and ``describe() -> str``;
``a + b`` (or ``Compose((a, b, …))``) applies them in order. ``outcome(scenario)`` also tells which baseline
flow each perturbed flow comes from and which flows were dropped because a failure disconnected them.
Nodes may be given by index or by name. Errors name the perturbation and its bad field.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from ndtwin.errors import ScenarioError, check_int, check_number
from ndtwin.scenario import Flow, PortConfig, Routing, Scenario, Scheduling, Topology, Traffic

Node = int | str


class PerturbationError(ScenarioError):
    """A perturbation that cannot be applied; ``field`` names the perturbation and its argument, e.g. ``FailLink.u``
    (``FailLink(u, v)`` when the two together are wrong)."""

    def __reduce__(self) -> tuple:
        return (type(self), (self.field, self.expected, self.got))


@dataclass(frozen=True)
class Outcome:
    """A perturbed scenario and how its flows relate to the baseline's.

    ``origin[i]`` is the baseline index of perturbed flow ``i`` (−1 for an added flow); ``dropped`` lists the
    baseline flows removed because a failure left them without a route (only with ``drop_disconnected``).
    """

    scenario: Scenario
    origin: np.ndarray
    dropped: tuple[int, ...] = ()

    @classmethod
    def unchanged_flows(cls, scenario: Scenario) -> Outcome:
        return cls(scenario, np.arange(scenario.n_flows))


class Perturbation:
    """Base of all perturbations. Subclasses implement ``_outcome`` and ``describe``."""

    kind: ClassVar[str] = "perturbation"  # the family used to group validation scores

    def apply(self, scenario: Scenario) -> Scenario:
        """The perturbed scenario."""
        return self.outcome(scenario).scenario

    def outcome(self, scenario: Scenario) -> Outcome:
        """The perturbed scenario with the flow correspondence; errors are prefixed with this perturbation."""
        try:
            return self._outcome(scenario)
        except PerturbationError:
            raise
        except ScenarioError as error:
            name = type(self).__name__
            where = error.field if error.field.startswith(f"{name}.") else f"{name}: {error.field}"
            raise PerturbationError(where, error.expected, error.got) from None

    def describe(self) -> str:
        raise NotImplementedError

    def _outcome(self, scenario: Scenario) -> Outcome:
        raise NotImplementedError

    def _error(self, field_name: str, expected: str, got: object = None) -> PerturbationError:
        return PerturbationError(f"{type(self).__name__}.{field_name}", expected, got)

    def __add__(self, other: Perturbation) -> Compose:
        if not isinstance(other, Perturbation):
            return NotImplemented
        return Compose(_steps(self) + _steps(other))


def _steps(p: Perturbation) -> tuple[Perturbation, ...]:
    return p.steps if isinstance(p, Compose) else (p,)


@dataclass(frozen=True)
class Compose(Perturbation):
    """Several perturbations applied in order."""

    steps: tuple[Perturbation, ...]
    kind: ClassVar[str] = "compose"

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        for i, step in enumerate(self.steps):
            if not isinstance(step, Perturbation):
                raise self._error(f"steps[{i}]", "a Perturbation", type(step).__name__)

    def describe(self) -> str:
        return " + ".join(step.describe() for step in self.steps) or "no change"

    def _outcome(self, scenario: Scenario) -> Outcome:
        result = Outcome.unchanged_flows(scenario)
        for step in self.steps:
            nxt = step.outcome(result.scenario)
            origin = np.where(nxt.origin >= 0, result.origin[np.maximum(nxt.origin, 0)], -1)
            dropped = result.dropped + tuple(int(result.origin[i]) for i in nxt.dropped if result.origin[i] >= 0)
            result = Outcome(nxt.scenario, origin, dropped)
        return result


# --- helpers -------------------------------------------------------------------------------------------------


def _node(p: Perturbation, topology: Topology, field_name: str, node: Node) -> int:
    try:
        return topology.node_index(node)
    except ScenarioError as error:
        raise p._error(field_name, error.expected, node) from None


def _link(p: Perturbation, topology: Topology, u: Node, v: Node) -> tuple[int, int]:
    src, dst = _node(p, topology, "u", u), _node(p, topology, "v", v)
    if topology.link_id(src, dst) is None:
        raise PerturbationError(f"{type(p).__name__}(u, v)", "the two ends of a link of the topology", (u, v))
    return src, dst


def _flow_name(scenario: Scenario, i: int) -> str:
    flow, names = scenario.traffic.flows[i], scenario.topology.node_names
    return f"flow {i} ({names[flow.src]}→{names[flow.dst]})"


def _selection(p: Perturbation, scenario: Scenario, flows: tuple[int, ...] | None,
               pairs: tuple[tuple[Node, Node], ...] | None, tos: tuple[int, ...] | None) -> np.ndarray:  # fmt: skip
    """Mask of the flows matching every given criterion (flow indices, (src, dst) pairs, ToS values)."""
    n = scenario.n_flows
    mask = np.ones(n, dtype=bool)
    if flows is not None:
        chosen = np.zeros(n, dtype=bool)
        for i in flows:
            chosen[check_int(f"{type(p).__name__}.flows", i, maximum=n - 1)] = True
        mask &= chosen
    if pairs is not None:
        wanted = {(_node(p, scenario.topology, "pairs", s), _node(p, scenario.topology, "pairs", d)) for s, d in pairs}
        mask &= np.array([(f.src, f.dst) in wanted for f in scenario.traffic.flows], dtype=bool)
    if tos is not None:
        mask &= np.isin(scenario.traffic.tos, list(tos))
    if not mask.any():
        raise p._error("flows/pairs/tos", "a selection matching at least one flow", (flows, pairs, tos))
    return mask


def _scope(p: Perturbation) -> list[str]:
    """The flow selection criteria a perturbation was given, as text."""
    return [f"{name} {getattr(p, name)}" for name in ("flows", "pairs", "tos") if getattr(p, name) is not None]


def _keep_flows(scenario: Scenario, keep: np.ndarray) -> Scenario:
    traffic = Traffic(tuple(f for f, k in zip(scenario.traffic.flows, keep) if k))
    pairs = set(traffic.pairs())
    routing = Routing({pair: path for pair, path in scenario.routing.paths.items() if pair in pairs})
    return Scenario(scenario.topology, routing, traffic)


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
    kept = _keep_flows(scenario, ~cut)
    paths, broken = {}, []
    for pair, path in kept.routing.paths.items():
        if all(topology.link_id(u, v) is not None for u, v in zip(path, path[1:])):
            paths[pair] = path
        else:
            broken.append(pair)
    paths.update(Routing.shortest_paths(topology, broken).paths)
    perturbed = Scenario(topology, Routing(paths), kept.traffic)
    return Outcome(perturbed, np.flatnonzero(~cut), tuple(int(i) for i in np.flatnonzero(cut)))


# --- traffic -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleTraffic(Perturbation):
    """Multiply the rate of flows by ``factor``: all flows, or those matching ``flows`` (indices), ``pairs``
    ((src, dst) node pairs) and ``tos`` (ToS values) — every given criterion must match."""

    factor: float
    flows: tuple[int, ...] | None = None
    pairs: tuple[tuple[Node, Node], ...] | None = None
    tos: tuple[int, ...] | None = None
    kind: ClassVar[str] = "traffic_scale"

    def __post_init__(self) -> None:
        check_number("ScaleTraffic.factor", self.factor, minimum=0, strict=True)

    def describe(self) -> str:
        scope = _scope(self)
        return f"traffic ×{self.factor:g}" + (f" ({', '.join(scope)})" if scope else "")

    def _outcome(self, scenario: Scenario) -> Outcome:
        mask = _selection(self, scenario, self.flows, self.pairs, self.tos)
        flows = tuple(
            replace(f, rate_bps=f.rate_bps * self.factor) if m else f for f, m in zip(scenario.traffic.flows, mask)
        )
        return Outcome(replace(scenario, traffic=Traffic(flows)), np.arange(scenario.n_flows))


@dataclass(frozen=True)
class AddFlows(Perturbation):
    """Append flows; a new (src, dst) pair is routed over a shortest path, existing pairs keep their path."""

    flows: tuple[Flow, ...]
    kind: ClassVar[str] = "add_flows"

    def __post_init__(self) -> None:
        object.__setattr__(self, "flows", tuple(self.flows))
        if not self.flows:
            raise self._error("flows", "at least one flow")

    def describe(self) -> str:
        return f"add {len(self.flows)} flow(s)"

    def _outcome(self, scenario: Scenario) -> Outcome:
        n = scenario.topology.n_nodes
        for i, flow in enumerate(self.flows):
            if not isinstance(flow, Flow):
                raise self._error(f"flows[{i}]", "a Flow", type(flow).__name__)
            for end in ("src", "dst"):
                check_int(f"AddFlows.flows[{i}].{end}", getattr(flow, end), maximum=n - 1)
        traffic = Traffic(scenario.traffic.flows + self.flows)
        new_pairs = [pair for pair in Traffic(self.flows).pairs() if pair not in scenario.routing.paths]
        paths = dict(scenario.routing.paths) | dict(Routing.shortest_paths(scenario.topology, new_pairs).paths)
        origin = np.concatenate([np.arange(scenario.n_flows), np.full(len(self.flows), -1)])
        return Outcome(Scenario(scenario.topology, Routing(paths), traffic), origin)


@dataclass(frozen=True)
class RemoveFlows(Perturbation):
    """Remove the flows matching ``flows`` (indices), ``pairs`` and ``tos`` (every given criterion must match)."""

    flows: tuple[int, ...] | None = None
    pairs: tuple[tuple[Node, Node], ...] | None = None
    tos: tuple[int, ...] | None = None
    kind: ClassVar[str] = "remove_flows"

    def __post_init__(self) -> None:
        if self.flows is None and self.pairs is None and self.tos is None:
            raise self._error("flows/pairs/tos", "at least one selection criterion")

    def describe(self) -> str:
        scope = _scope(self)
        return f"remove flows ({', '.join(scope)})"

    def _outcome(self, scenario: Scenario) -> Outcome:
        mask = _selection(self, scenario, self.flows, self.pairs, self.tos)
        if mask.all():
            raise self._error("flows/pairs/tos", "a selection that leaves at least one flow", int(mask.sum()))
        return Outcome(_keep_flows(scenario, ~mask), np.flatnonzero(~mask))


# --- topology ------------------------------------------------------------------------------------------------


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
        pair = _link(self, scenario.topology, self.u, self.v)
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
        node = _node(self, scenario.topology, "node", self.node)
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
    src, dst = _link(p, topology, p.u, p.v)
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
        nodes = tuple(_node(self, topology, "path", n) for n in self.path)
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


# --- ports ---------------------------------------------------------------------------------------------------


_PORT_CHANGES = ("scheduling", "weights", "buffers", "buffer_scale", "tos_to_queue")


@dataclass(frozen=True)
class SetPort(Perturbation):
    """Change the output port of link ``u → v`` (every port when ``u`` and ``v`` are None): scheduling policy,
    WFQ/DRR ``weights``, per-queue ``buffers`` (in the port's buffer unit), ``buffer_scale`` (every queue's buffer
    multiplied by it) and/or ``tos_to_queue``.

    Switching to FIFO without new buffers merges the queues: one buffer of their total size, every ToS in it.
    """

    u: Node | None = None
    v: Node | None = None
    scheduling: Scheduling | str | None = None
    weights: tuple[float, ...] | None = None
    buffers: tuple[float, ...] | None = None
    buffer_scale: float | None = None
    tos_to_queue: tuple[int, ...] | None = None
    kind: ClassVar[str] = "port_change"

    def __post_init__(self) -> None:
        if (self.u is None) != (self.v is None):
            raise PerturbationError("SetPort(u, v)", "both link ends, or neither for every port", (self.u, self.v))
        if self.scheduling is not None:
            object.__setattr__(self, "scheduling", Scheduling.parse(self.scheduling, "SetPort.scheduling"))
        if self.buffers is not None and self.buffer_scale is not None:
            raise self._error("buffer_scale", "either buffers or buffer_scale, not both", self.buffer_scale)
        if self.buffer_scale is not None:
            check_number("SetPort.buffer_scale", self.buffer_scale, minimum=0, strict=True)
        if all(getattr(self, name) is None for name in _PORT_CHANGES):
            raise self._error("/".join(_PORT_CHANGES), "at least one change")

    def describe(self) -> str:
        where = "every port" if self.u is None else f"port {self.u}→{self.v}"
        changes = [f"{name}={getattr(self, name)}" for name in _PORT_CHANGES[1:] if getattr(self, name) is not None]
        if self.scheduling is not None:
            changes.insert(0, f"scheduling={self.scheduling.value}")
        return f"{where}: {', '.join(changes)}"

    def changed(self, port: PortConfig) -> PortConfig:
        """``port`` with this perturbation's changes (validated)."""
        scheduling = self.scheduling or port.scheduling
        merge = scheduling is Scheduling.FIFO and port.scheduling is not Scheduling.FIFO
        buffers, tos_to_queue = self.buffers, self.tos_to_queue
        if buffers is None:
            kept = (float(sum(port.buffers)),) if merge else port.buffers
            buffers = tuple(b * (self.buffer_scale or 1.0) for b in kept)
        if merge and tos_to_queue is None:
            tos_to_queue = (0,) * len(port.tos_to_queue)
        weights = self.weights
        if weights is None and scheduling in (Scheduling.WFQ, Scheduling.DRR):
            weights = port.weights
        return PortConfig(
            scheduling=scheduling,
            buffers=tuple(buffers),
            buffer_unit=port.buffer_unit,
            weights=tuple(weights) if weights is not None else None,
            tos_to_queue=tuple(tos_to_queue or port.tos_to_queue),
        )

    def _outcome(self, scenario: Scenario) -> Outcome:
        topology = scenario.topology
        targets = (
            range(topology.n_links) if self.u is None else [topology.link_id(*_link(self, topology, self.u, self.v))]
        )
        links = list(topology.links)
        for lid in targets:
            links[lid] = replace(links[lid], port=self.changed(links[lid].port))
        return Outcome(replace(scenario, topology=replace(topology, links=tuple(links))), np.arange(scenario.n_flows))


__all__ = [
    "AddFlows",
    "Compose",
    "FailLink",
    "FailNode",
    "Outcome",
    "Perturbation",
    "PerturbationError",
    "RemoveFlows",
    "ScaleTraffic",
    "SetCapacity",
    "SetPath",
    "SetPort",
    "SetWeight",
]
