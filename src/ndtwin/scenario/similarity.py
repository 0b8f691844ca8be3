"""Similarity transforms of a scenario: the same network at another bit scale and time scale.

Multiplying every packet size, bit buffer, capacity and rate by ``size_factor`` changes no time; further
multiplying capacities and rates by ``speed_factor`` and dividing propagation delays and ON/OFF periods by it
makes every time ``speed_factor`` times shorter. Utilizations, packet counts and loss ratios are unchanged, so a
packet-level simulation of the transformed scenario gives delays / speed_factor, delay variances / speed_factor²
and the same losses. A model trained at one scale can thus answer for networks of any speed.
"""

from __future__ import annotations

from dataclasses import replace

from ndtwin.errors import check_number
from ndtwin.scenario.scenario import Scenario
from ndtwin.scenario.topology import Link, PortConfig, Topology
from ndtwin.scenario.traffic import Flow, PacketSizeDistribution, TimeDistribution, Traffic


def rescaled(scenario: Scenario, *, size_factor: float = 1.0, speed_factor: float = 1.0) -> Scenario:
    """The scenario with sizes × ``size_factor`` and times ÷ ``speed_factor`` (see the module docstring)."""
    size_factor = check_number("size_factor", size_factor, minimum=0, strict=True)
    speed_factor = check_number("speed_factor", speed_factor, minimum=0, strict=True)
    bits_per_s = size_factor * speed_factor
    links = tuple(
        Link(
            link.src,
            link.dst,
            link.capacity_bps * bits_per_s,
            link.prop_delay_s / speed_factor,
            link.weight,
            _port(link.port, size_factor),
        )
        for link in scenario.topology.links
    )
    sizes: dict[PacketSizeDistribution, PacketSizeDistribution] = {}
    times: dict[TimeDistribution, TimeDistribution] = {}
    for flow in scenario.traffic.flows:  # each distinct law transformed once (flows share a few)
        if flow.time not in times:
            times[flow.time] = _time(flow.time, speed_factor)
        if flow.size not in sizes:
            sizes[flow.size] = replace(flow.size, sizes_bits=tuple(s * size_factor for s in flow.size.sizes_bits))
    flows = tuple(
        Flow(flow.src, flow.dst, flow.rate_bps * bits_per_s, flow.tos, times[flow.time], sizes[flow.size])
        for flow in scenario.traffic.flows
    )
    topology = Topology(scenario.topology.node_names, links)
    return Scenario(topology, scenario.routing, Traffic(flows))


def _port(port: PortConfig, size_factor: float) -> PortConfig:
    if port.buffer_unit != "bits":
        return port
    return replace(port, buffers=tuple(b * size_factor for b in port.buffers))


def _time(law: TimeDistribution, speed_factor: float) -> TimeDistribution:
    """Durations (``*_s``) ÷ speed_factor, rates (``*_per_s``) × speed_factor, other parameters kept."""
    params = {}
    for name, value in law.params.items():
        if name.endswith("_per_s"):
            value = value * speed_factor
        elif name.endswith("_s"):
            value = value / speed_factor
        params[name] = value
    return TimeDistribution(law.kind, params)
