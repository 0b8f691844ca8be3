"""The Scenario as emulated: capacities scaled to what the host forwards, no propagation, whole-byte IP packets.

Scaling every capacity and every flow rate by one factor keeps every link's utilisation; the queueing delays of
the emulated network are then those of the original times ``1 / factor``. Propagation delay cannot be emulated
(the kernel here has no netem), so the emulated scenario has none. Packet sizes are IP packet sizes (IPv4 + UDP
headers included), rounded to whole bytes, between ``MIN_PACKET_BYTES`` and ``MAX_PACKET_BYTES``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ndtwin.errors import ScenarioError, check_number
from ndtwin.scenario import Flow, PacketSizeDistribution, Scenario, TimeKind, Topology, Traffic

IP_UDP_HEADER_BYTES = 28
PAYLOAD_HEADER_BYTES = 16  # flow id (4), sequence number (4), send time in ns (8)
MIN_PACKET_BYTES = IP_UDP_HEADER_BYTES + PAYLOAD_HEADER_BYTES
MAX_PACKET_BYTES = 9000  # the veth MTU is raised to the largest packet (jumbo frames at most)
EMULATED_TIME_LAWS = (TimeKind.POISSON, TimeKind.CBR, TimeKind.ONOFF)


def emulated_scenario(scenario: Scenario, capacity_bps: float) -> tuple[Scenario, float]:
    """The scenario to emulate, with its fastest link at ``capacity_bps``, and the scale factor applied.

    ScenarioError (naming the flow) for a time law the traffic generator cannot produce or a packet size outside
    ``[MIN_PACKET_BYTES, MAX_PACKET_BYTES]`` bytes.
    """
    check_number("capacity_bps", capacity_bps, minimum=0, strict=True)
    topology = scenario.topology
    if topology.n_links == 0:
        raise ScenarioError("topology.links", "at least one link to emulate")
    factor = capacity_bps / float(topology.capacity_bps.max())
    links = tuple(replace(link, capacity_bps=link.capacity_bps * factor, prop_delay_s=0.0) for link in topology.links)
    flows = tuple(_emulated_flow(i, flow, factor) for i, flow in enumerate(scenario.traffic.flows))
    return replace(scenario, topology=Topology(topology.node_names, links), traffic=Traffic(flows)), factor


def _emulated_flow(index: int, flow: Flow, factor: float) -> Flow:
    if flow.time.kind not in EMULATED_TIME_LAWS:
        laws = ", ".join(law.value for law in EMULATED_TIME_LAWS)
        raise ScenarioError(
            f"traffic.flows[{index}].time.kind", f"a law the emulator generates ({laws})", flow.time.kind.value
        )
    return replace(flow, rate_bps=flow.rate_bps * factor, size=_whole_bytes(index, flow.size))


def _whole_bytes(index: int, size: PacketSizeDistribution) -> PacketSizeDistribution:
    """The size law with sizes rounded to whole bytes, checked against the packet limits."""
    sizes_bytes = np.rint(np.asarray(size.sizes_bits) / 8)
    for q, value in enumerate(sizes_bytes):
        if not MIN_PACKET_BYTES <= value <= MAX_PACKET_BYTES:
            raise ScenarioError(
                f"traffic.flows[{index}].size.sizes_bits[{q}]",
                f"an IP packet size of {MIN_PACKET_BYTES * 8} to {MAX_PACKET_BYTES * 8} bits",
                size.sizes_bits[q],
            )
    rounded = tuple(float(b * 8) for b in sizes_bytes)
    return size if rounded == size.sizes_bits else PacketSizeDistribution(rounded, size.probs, size.kind)


def largest_packet_bytes(scenario: Scenario) -> int:
    """The largest IP packet any flow can send."""
    return int(max((max(flow.size.sizes_bits) for flow in scenario.traffic.flows), default=8 * MIN_PACKET_BYTES) // 8)
