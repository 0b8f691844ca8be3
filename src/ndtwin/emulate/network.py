"""A Scenario as a live network: one namespace per node, a veth pair per linked node pair, routes and shaping."""

from __future__ import annotations

import os
import secrets
import signal
import threading
from collections import defaultdict
from types import TracebackType

from ndtwin.emulate.host import batch, check_host, configure_namespace
from ndtwin.emulate.layout import Layout, interface_name
from ndtwin.emulate.routes import route_commands
from ndtwin.emulate.scaled import largest_packet_bytes
from ndtwin.emulate.shaping import port_commands
from ndtwin.emulate.state import RunState, sweep_stale
from ndtwin.scenario import Scenario

MIN_MTU_BYTES = 1500


def new_run_id() -> str:
    """Short and unique per run: the pid and random bits (namespace names stay readable)."""
    return f"{os.getpid():x}{secrets.token_hex(2)}"


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _terminate_as_exit() -> dict:
    """In the main thread, make SIGTERM and SIGHUP raise SystemExit (as Ctrl-C raises KeyboardInterrupt), so the
    network is torn down on them too; returns the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}


class LiveNetwork:
    """Context manager: builds the emulated ``scenario`` on entry, removes every namespace it made on exit.

    Entering first removes what runs killed earlier left behind; while inside, SIGTERM and SIGHUP end the program
    through the same clean-up as Ctrl-C. The state file is written before anything is
    created, so a run killed while building is cleaned up too.
    """

    def __init__(self, scenario: Scenario, run_id: str | None = None) -> None:
        self.scenario = scenario
        self.layout = Layout.of(scenario.topology, run_id or new_run_id())
        self.mtu = max(MIN_MTU_BYTES, largest_packet_bytes(scenario))
        self.state = RunState(self.layout.run_id, self.layout.namespaces)
        self.swept: list[str] = []

    def __enter__(self) -> LiveNetwork:
        check_host()
        self._handlers = _terminate_as_exit()
        self.swept = sweep_stale()
        self.state.write()
        try:
            self._build()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            self.state.remove()
        finally:
            for sig, handler in self._handlers.items():
                signal.signal(sig, handler)

    def _build(self) -> None:
        layout, topology = self.layout, self.scenario.topology
        batch("ip", None, [f"netns add {ns}" for ns in layout.namespaces])
        for ns in layout.namespaces:
            configure_namespace(ns)
        for wire in layout.wires:
            batch("ip", layout.namespace(wire.a), [
                f"link add name {interface_name(wire.b)} address {wire.mac_a} mtu {self.mtu} type veth "
                f"peer name {interface_name(wire.a)} address {wire.mac_b} mtu {self.mtu} "
                f"netns {layout.namespace(wire.b)}"
            ])  # fmt: skip
        routes = route_commands(layout, self.scenario.routing)
        for node in range(layout.n_nodes):
            lines = [f"addr add {layout.node_address(node)}/32 dev lo"]
            for wire in layout.wires:
                if node not in (wire.a, wire.b):
                    continue
                peer = wire.b if node == wire.a else wire.a
                own = wire.address_a if node == wire.a else wire.address_b
                device = interface_name(peer)
                lines += [
                    f"addr add {own}/31 dev {device}",
                    f"link set {device} up",
                    f"neigh add {layout.peer_address(node, peer)} lladdr {layout.peer_mac(node, peer)} "
                    f"dev {device} nud permanent",
                ]
            batch("ip", layout.namespace(node), lines + routes[node])
        shaping: dict[int, list[str]] = defaultdict(list)
        for link in topology.links:
            shaping[link.src] += port_commands(interface_name(link.dst), link.port, link.capacity_bps, self.mtu)
        for node, lines in shaping.items():
            batch("tc", layout.namespace(node), lines)
