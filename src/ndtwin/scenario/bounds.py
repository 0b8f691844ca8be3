"""Physical upper bounds of a scenario's per-flow QoS, from buffers, capacities and offered loads only.

A packet accepted by an output queue waits for the bits ahead of it to leave, then for its own transmission.
With ``B_q`` the buffer of queue ``q`` in bits (a buffer in packets counts its largest packets), ``s`` the largest
packet on the port (the one on the wire when it arrives; service is non-preemptive) and ``C`` the link capacity:

* a port's only queue (FIFO, or any policy with one queue): every packet waits at most ``(B_q + s) / C``;
* strict priority, queue 0: every packet waits at most ``(B_0 + s) / C``. A lower queue ``q`` can starve, so no
  bound holds for every packet; its mean wait is at most ``(B_q + Σ_{p<q} B_p + s) / (C · (1 − ρ_{<q}))``: the
  higher queues' backlog is served first and their later arrivals take, on average, their share ``ρ_{<q}`` of the
  link, so the work ahead drains at ``C · (1 − ρ_{<q})`` on average (the mean of a delay busy period, in the long
  run). ``ρ_{<q}`` is the offered load of the higher queues, the part arriving over each input link capped at that
  link's capacity (``competing_load``). Unbounded (inf) when they may take the whole link;
* WFQ and DRR: a backlogged queue is served at least its weight share ``w_q`` of the link, give or take one packet
  of each of the ``n`` queues: every packet waits at most ``(B_q + n · s) / (w_q · C)``. The mean wait is at most
  the smaller of that and the strict-priority mean bound with every other queue ranked higher (no work-conserving
  policy serves a queue worse than the lowest priority).

Loads are not thinned by upstream losses (other than the input links' capacities), which only makes the bounds
larger. A flow's mean delay is at
most the sum over its hops of (mean-wait bound + its mean packet's transmission + propagation). Labels of short
simulations can exceed a long-run mean bound of a starvable queue by chance.

Delay variance: where ``W_h`` bounds every packet's wait at each hop, a packet's delay lies in
``[Σ_h (s_min/C_h + prop_h), Σ_h (W_h + s_max/C_h + prop_h)]`` (the flow's own smallest and largest packet), so by
Popoviciu's inequality its variance is at most ``R² / 4``, ``R = Σ_h r_h``, ``r_h = W_h + (s_max − s_min)/C_h``.
A path through a starvable queue has no variance bound (inf). A model meets the flow bound by keeping each hop's
variance term within ``r_h · R / 4`` (these sum to ``R² / 4``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ndtwin.scenario.scenario import Scenario
from ndtwin.scenario.topology import MAX_QUEUES, Scheduling


@dataclass(frozen=True)
class WaitBounds:
    """Per global queue (``Scenario.queues``): bounds of an accepted packet's wait before its transmission."""

    mean_s: np.ndarray  # bound of the mean wait
    every_packet_s: np.ndarray  # bound of every packet's wait (inf where the queue can starve)


@dataclass(frozen=True)
class FlowBounds:
    """Per-hop and per-flow upper bounds of one scenario (hops in ``Scenario.hops`` order)."""

    hop_wait_s: np.ndarray  # (n_hops,) bound of the mean wait before transmission at the hop's queue
    hop_delay_s: np.ndarray  # (n_hops,) hop_wait_s + the flow's mean transmission + propagation
    hop_range_s: np.ndarray  # (n_hops,) r_h: the span of a packet's delay at the hop
    flow_range_s: np.ndarray  # (n_hops,) R of the hop's flow, repeated on each of its hops
    delay_s: np.ndarray  # (n_flows,) bound of the flow's mean delay
    delay_var_s2: np.ndarray  # (n_flows,) bound of the flow's delay variance

    @cached_property
    def hop_delay_var_s2(self) -> np.ndarray:
        """(n_hops,) each hop's share ``r_h · R / 4`` of the flow's variance bound."""
        return self.hop_range_s * self.flow_range_s / 4


def queue_wait_bounds(scenario: Scenario) -> WaitBounds:
    """Wait bounds of every global queue (see the module docstring)."""
    topology, queues, hops, traffic = scenario.topology, scenario.queues, scenario.hops, scenario.traffic
    n_queues = len(queues.link)
    largest = np.array([max(f.size.sizes_bits) for f in traffic.flows], dtype=float)
    queue_largest = np.zeros(n_queues)
    np.maximum.at(queue_largest, hops.queue, largest[hops.flow])
    port_largest = np.zeros(topology.n_links)
    np.maximum.at(port_largest, queues.link, queue_largest)
    ports = [topology.links[lid].port for lid in queues.link]
    buffer_bits = np.array(
        [
            port.buffers[q] * (1.0 if port.buffer_unit == "bits" else queue_largest[g])
            for g, (port, q) in enumerate(zip(ports, queues.index))
        ]
    )
    ahead_load = competing_load(scenario)
    mean, every = np.empty(n_queues), np.empty(n_queues)
    for lid, link in enumerate(topology.links):
        cells = slice(queues.offset[lid], queues.offset[lid + 1])
        mean[cells], every[cells] = _port_wait_bounds_s(
            link.port.scheduling, buffer_bits[cells], ahead_load[cells], link.port.weight_shares(), port_largest[lid],
            link.capacity_bps,
        )  # fmt: skip
    return WaitBounds(mean, every)


def competing_load(scenario: Scenario) -> np.ndarray:
    """Per global queue: the load (over its link's capacity) of the traffic its port may serve first — the higher
    queues under SP, every other queue under WFQ and DRR — offered by the flows, the part arriving over each input
    link capped at that link's capacity (a link delivers no more than it can carry)."""
    topology, queues, hops = scenario.topology, scenario.queues, scenario.hops
    n_links = topology.n_links
    previous = np.where(hops.position > 0, np.roll(hops.link, 1), -1)  # hops are flow by flow, in path order
    pairs, group = np.unique(hops.link * (n_links + 1) + previous + 1, return_inverse=True)
    link, source = pairs // (n_links + 1), pairs % (n_links + 1) - 1
    per_queue = np.zeros((len(pairs), MAX_QUEUES))
    np.add.at(per_queue, (group, queues.index[hops.queue]), scenario.traffic.rate_bps[hops.flow])
    cap = np.where(source >= 0, topology.capacity_bps[np.maximum(source, 0)], np.inf)[:, None]
    higher = np.minimum(np.cumsum(per_queue, axis=1) - per_queue, cap)
    others = np.minimum(per_queue.sum(axis=1, keepdims=True) - per_queue, cap)
    ahead = {kind: np.zeros((n_links, MAX_QUEUES)) for kind in ("higher", "others")}
    np.add.at(ahead["higher"], link, higher)
    np.add.at(ahead["others"], link, others)
    strict = np.array([topology.links[lid].port.scheduling is Scheduling.SP for lid in queues.link], dtype=bool)
    rate = np.where(strict, ahead["higher"][queues.link, queues.index], ahead["others"][queues.link, queues.index])
    return rate / topology.capacity_bps[queues.link]


def _port_wait_bounds_s(
    scheduling: Scheduling,
    buffer_bits: np.ndarray,
    ahead_load: np.ndarray,
    shares: tuple[float, ...],
    residual_bits: float,
    capacity_bps: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean-wait and every-packet wait bounds of the queues of one port, in priority order (module docstring)."""
    n = len(buffer_bits)
    alone = (buffer_bits + residual_bits) / capacity_bps
    if n == 1:
        return alone, alone
    if scheduling is Scheduling.SP:
        ahead_bits = np.cumsum(buffer_bits)
    else:
        ahead_bits = np.full(n, buffer_bits.sum())
    leftover = 1.0 - ahead_load
    with np.errstate(divide="ignore"):
        mean = np.where(leftover > 0, (ahead_bits + residual_bits) / (capacity_bps * leftover), np.inf)
    if scheduling is Scheduling.SP:
        return mean, np.where(np.arange(n) == 0, alone, np.inf)
    guaranteed = (buffer_bits + n * residual_bits) / (np.asarray(shares) * capacity_bps)
    return np.minimum(mean, guaranteed), guaranteed


def flow_bounds(scenario: Scenario) -> FlowBounds:
    """Per-hop and per-flow delay and delay-variance bounds of every flow (see the module docstring)."""
    topology, hops, traffic = scenario.topology, scenario.hops, scenario.traffic
    capacity = topology.capacity_bps[hops.link]
    waits = queue_wait_bounds(scenario)
    wait = waits.mean_s[hops.queue]
    sizes = [f.size.sizes_bits for f in traffic.flows]
    spread_bits = np.array([max(s) - min(s) for s in sizes], dtype=float)[hops.flow]
    hop_delay = wait + traffic.mean_size_bits[hops.flow] / capacity + topology.prop_delay_s[hops.link]
    hop_range = waits.every_packet_s[hops.queue] + spread_bits / capacity
    flow_range = _flow_sum(scenario, hop_range)
    return FlowBounds(
        hop_wait_s=wait,
        hop_delay_s=hop_delay,
        hop_range_s=hop_range,
        flow_range_s=flow_range[hops.flow],
        delay_s=_flow_sum(scenario, hop_delay),
        delay_var_s2=flow_range**2 / 4,
    )


def delay_upper_bound_s(scenario: Scenario) -> np.ndarray:
    """Per flow (traffic order): the largest mean delay the scenario's buffers and capacities allow."""
    return flow_bounds(scenario).delay_s


def delay_var_upper_bound_s2(scenario: Scenario) -> np.ndarray:
    """Per flow (traffic order): the largest delay variance the scenario's buffers and capacities allow."""
    return flow_bounds(scenario).delay_var_s2


def _flow_sum(scenario: Scenario, per_hop: np.ndarray) -> np.ndarray:
    return np.bincount(scenario.hops.flow, weights=per_hop, minlength=scenario.n_flows)
