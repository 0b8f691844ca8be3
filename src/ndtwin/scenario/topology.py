"""Topology: nodes and directed links, each link an output port with its queues and scheduler."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import cached_property
from typing import Literal

import numpy as np

from ndtwin.errors import ScenarioError, check_int, check_number

MAX_QUEUES = 3
BufferUnit = Literal["bits", "packets"]


class Scheduling(str, Enum):
    """Scheduling policy of an output port's queues. Queue 0 has the highest priority under SP."""

    FIFO = "FIFO"
    SP = "SP"
    WFQ = "WFQ"
    DRR = "DRR"

    @classmethod
    def parse(cls, value: object, field_name: str = "scheduling") -> Scheduling:
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            raise ScenarioError(field_name, f"one of {[s.value for s in cls]}", value) from None


@dataclass(frozen=True)
class PortConfig:
    """Queues of one output port.

    ``buffers`` holds one size per queue in ``buffer_unit`` (bits or packets, counting the
    queue's waiting packets and its packet in transmission);
    ``weights`` the WFQ/DRR weights per queue (any positive scale, e.g. percent);
    ``tos_to_queue[t]`` the queue that packets of ToS ``t`` enter.
    """

    scheduling: Scheduling = Scheduling.FIFO
    buffers: tuple[float, ...] = (32.0,)
    buffer_unit: BufferUnit = "packets"
    weights: tuple[float, ...] | None = None
    tos_to_queue: tuple[int, ...] = (0, 0, 0)

    def __post_init__(self) -> None:
        self.validate("port")

    def validate(self, where: str) -> None:
        """Raise ScenarioError (fields prefixed with ``where``) if the configuration is inconsistent."""
        if not isinstance(self.scheduling, Scheduling):
            object.__setattr__(self, "scheduling", Scheduling.parse(self.scheduling, f"{where}.scheduling"))
        n = len(self.buffers)
        if not 1 <= n <= MAX_QUEUES:
            raise ScenarioError(f"{where}.buffers", f"1 to {MAX_QUEUES} queue buffer sizes", self.buffers)
        if self.scheduling is Scheduling.FIFO and n != 1:
            raise ScenarioError(f"{where}.buffers", "exactly one queue under FIFO scheduling", self.buffers)
        if self.buffer_unit not in ("bits", "packets"):
            raise ScenarioError(f"{where}.buffer_unit", "'bits' or 'packets'", self.buffer_unit)
        for q, size in enumerate(self.buffers):
            check_number(f"{where}.buffers[{q}]", size, minimum=0, strict=True)
        if self.scheduling in (Scheduling.WFQ, Scheduling.DRR):
            if self.weights is None or len(self.weights) != n:
                raise ScenarioError(f"{where}.weights", f"{n} weights for {self.scheduling.value}", self.weights)
            for q, w in enumerate(self.weights):
                check_number(f"{where}.weights[{q}]", w, minimum=0, strict=True)
        if not self.tos_to_queue:
            raise ScenarioError(f"{where}.tos_to_queue", "a queue index for at least ToS 0", self.tos_to_queue)
        for t, q in enumerate(self.tos_to_queue):
            check_int(f"{where}.tos_to_queue[{t}]", q, minimum=0, maximum=n - 1)

    @property
    def n_queues(self) -> int:
        return len(self.buffers)

    def weight_shares(self) -> tuple[float, ...]:
        """Weights normalised to sum to 1 (equal shares when the policy has no weights)."""
        weights = self.weights or (1.0,) * self.n_queues
        total = float(sum(weights))
        return tuple(float(w) / total for w in weights)

    def queue_of(self, tos: int) -> int:
        """Queue that ToS ``tos`` enters; ToS values beyond the map go to the lowest-priority queue."""
        if tos < len(self.tos_to_queue):
            return self.tos_to_queue[tos]
        return self.n_queues - 1


DEFAULT_PORT = PortConfig()


@dataclass(frozen=True)
class Link:
    """A directed link ``src → dst``: the output port of ``src`` towards ``dst``."""

    src: int
    dst: int
    capacity_bps: float
    prop_delay_s: float = 0.0
    weight: float = 1.0
    port: PortConfig = field(default=DEFAULT_PORT)


@dataclass(frozen=True)
class Topology:
    """Nodes ``0..n-1`` (with display names) and directed links between them (at most one per ordered pair)."""

    node_names: tuple[str, ...]
    links: tuple[Link, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "node_names", tuple(str(n) for n in self.node_names))
        object.__setattr__(self, "links", tuple(self.links))
        if not self.node_names:
            raise ScenarioError("topology.node_names", "at least one node")
        if len(set(self.node_names)) != len(self.node_names):
            raise ScenarioError("topology.node_names", "unique node names")
        n = len(self.node_names)
        seen: dict[tuple[int, int], int] = {}
        for i, link in enumerate(self.links):
            where = f"topology.links[{i}]"
            if not isinstance(link, Link):
                raise ScenarioError(where, "a Link", type(link).__name__)
            check_int(f"{where}.src", link.src, maximum=n - 1)
            check_int(f"{where}.dst", link.dst, maximum=n - 1)
            if link.src == link.dst:
                raise ScenarioError(where, "a link between two different nodes", (link.src, link.dst))
            check_number(f"{where}.capacity_bps", link.capacity_bps, minimum=0, strict=True)
            check_number(f"{where}.prop_delay_s", link.prop_delay_s, minimum=0)
            check_number(f"{where}.weight", link.weight, minimum=0, strict=True)
            if not isinstance(link.port, PortConfig):
                raise ScenarioError(f"{where}.port", "a PortConfig", type(link.port).__name__)
            key = (int(link.src), int(link.dst))
            if key in seen:
                raise ScenarioError(where, f"one link per ordered node pair (link {seen[key]} is also {key})")
            seen[key] = i

    @classmethod
    def from_edges(
        cls,
        n_nodes: int,
        edges: Iterable[tuple[int, int, float]],
        *,
        prop_delay_s: float = 0.0,
        port: PortConfig = DEFAULT_PORT,
        bidirectional: bool = True,
    ) -> Topology:
        """Build a topology from ``(u, v, capacity_bps)`` edges, both directions unless told otherwise."""
        links = []
        for u, v, capacity in edges:
            links.append(Link(u, v, capacity, prop_delay_s, port=port))
            if bidirectional:
                links.append(Link(v, u, capacity, prop_delay_s, port=port))
        return cls(tuple(str(i) for i in range(n_nodes)), tuple(links))

    @property
    def n_nodes(self) -> int:
        return len(self.node_names)

    @property
    def n_links(self) -> int:
        return len(self.links)

    @cached_property
    def _link_ids(self) -> dict[tuple[int, int], int]:
        return {(link.src, link.dst): i for i, link in enumerate(self.links)}

    def link_id(self, src: int, dst: int) -> int | None:
        """Index of link ``src → dst``, or None if there is no such link."""
        return self._link_ids.get((src, dst))

    def node_index(self, node: int | str) -> int:
        """Index of a node given by index or by name."""
        if isinstance(node, (int, np.integer)) and 0 <= node < self.n_nodes:
            return int(node)
        name = str(node)
        try:
            return self.node_names.index(name)
        except ValueError:
            raise ScenarioError("node", f"a node of the topology (0..{self.n_nodes - 1} or a name)", node) from None

    @cached_property
    def capacity_bps(self) -> np.ndarray:
        return np.array([link.capacity_bps for link in self.links], dtype=float)

    @cached_property
    def prop_delay_s(self) -> np.ndarray:
        return np.array([link.prop_delay_s for link in self.links], dtype=float)

    @cached_property
    def weight(self) -> np.ndarray:
        return np.array([link.weight for link in self.links], dtype=float)

    @cached_property
    def src(self) -> np.ndarray:
        return np.array([link.src for link in self.links], dtype=np.int64)

    @cached_property
    def dst(self) -> np.ndarray:
        return np.array([link.dst for link in self.links], dtype=np.int64)

    def without_links(self, pairs: Sequence[tuple[int, int]], *, both_directions: bool = True) -> Topology:
        """A copy with the given links removed (a link failure); node indices are unchanged."""
        drop = set()
        for u, v in pairs:
            if self.link_id(u, v) is None:
                raise ScenarioError("failed link", "an existing link", (u, v))
            drop.add((u, v))
            if both_directions:
                drop.add((v, u))
        return replace(self, links=tuple(lk for lk in self.links if (lk.src, lk.dst) not in drop))

    def without_nodes(self, nodes: Sequence[int]) -> Topology:
        """A copy where the given nodes have no links (a node failure); node indices are unchanged."""
        gone = {self.node_index(n) for n in nodes}
        return replace(self, links=tuple(lk for lk in self.links if lk.src not in gone and lk.dst not in gone))

    def with_link(self, src: int, dst: int, **changes: object) -> Topology:
        """A copy where link ``src → dst`` has the given fields changed (e.g. ``capacity_bps``)."""
        lid = self.link_id(src, dst)
        if lid is None:
            raise ScenarioError("link", "an existing link", (src, dst))
        links = list(self.links)
        links[lid] = replace(links[lid], **changes)
        return replace(self, links=tuple(links))
