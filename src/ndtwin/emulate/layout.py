"""Where every node and link of an emulated Scenario lives: namespace and interface names, MAC and IPv4 addresses.

All addresses come from the benchmarking range 198.18.0.0/15 (RFC 2544): each node owns one /32 in 198.19.0.0/16
(its flows' source and destination address, on its loopback), each node pair joined by links shares a /31 in
198.18.0.0/16 (one veth pair carries both directions).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cached_property

from ndtwin.errors import ScenarioError
from ndtwin.scenario import Topology

NODE_BLOCK = ipaddress.IPv4Network("198.19.0.0/16")
LINK_BLOCK = ipaddress.IPv4Network("198.18.0.0/16")
EMULATION_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
NAMESPACE_PREFIX = "ndt-"
MAX_NODES = 65_000


@dataclass(frozen=True)
class Wire:
    """The veth pair between nodes ``a < b``: interface ``iface_a`` in a's namespace faces b, and vice versa."""

    index: int
    a: int
    b: int

    @property
    def address_a(self) -> str:
        return str(LINK_BLOCK.network_address + 2 * self.index)

    @property
    def address_b(self) -> str:
        return str(LINK_BLOCK.network_address + 2 * self.index + 1)

    @property
    def mac_a(self) -> str:
        return _mac(self.index, 0)

    @property
    def mac_b(self) -> str:
        return _mac(self.index, 1)


def _mac(index: int, end: int) -> str:
    """A locally administered unicast MAC unique per wire end."""
    return f"02:4e:44:{index >> 8 & 0xFF:02x}:{index & 0xFF:02x}:{end:02x}"


def interface_name(peer: int) -> str:
    """The interface of a node that faces node ``peer`` (unique inside the node's namespace)."""
    return f"to{peer}"


@dataclass(frozen=True)
class Layout:
    """Names and addresses of an emulated topology for the run ``run_id``."""

    run_id: str
    n_nodes: int
    wires: tuple[Wire, ...]

    @classmethod
    def of(cls, topology: Topology, run_id: str) -> Layout:
        if topology.n_nodes > MAX_NODES:
            raise ScenarioError("topology.node_names", f"at most {MAX_NODES} nodes to emulate", topology.n_nodes)
        pairs = sorted({(min(link.src, link.dst), max(link.src, link.dst)) for link in topology.links})
        if len(pairs) > LINK_BLOCK.num_addresses // 2:
            raise ScenarioError("topology.links", f"at most {LINK_BLOCK.num_addresses // 2} node pairs", len(pairs))
        return cls(run_id, topology.n_nodes, tuple(Wire(i, a, b) for i, (a, b) in enumerate(pairs)))

    def namespace(self, node: int) -> str:
        return f"{NAMESPACE_PREFIX}{self.run_id}-{node}"

    @property
    def namespaces(self) -> list[str]:
        return [self.namespace(node) for node in range(self.n_nodes)]

    def node_address(self, node: int) -> str:
        return str(NODE_BLOCK.network_address + node + 1)

    @cached_property
    def _wire_of(self) -> dict[tuple[int, int], Wire]:
        return {(w.a, w.b): w for w in self.wires} | {(w.b, w.a): w for w in self.wires}

    def wire(self, u: int, v: int) -> Wire:
        return self._wire_of[(u, v)]

    def peer_address(self, u: int, v: int) -> str:
        """The address of ``v``'s end of the wire ``u``–``v`` (``u``'s next hop towards ``v``)."""
        wire = self.wire(u, v)
        return wire.address_b if v == wire.b else wire.address_a

    def peer_mac(self, u: int, v: int) -> str:
        wire = self.wire(u, v)
        return wire.mac_b if v == wire.b else wire.mac_a
