"""Physical upper bounds of a scenario's per-flow QoS, from buffers, capacities and offered loads only.

A packet accepted by an output queue waits for the bits ahead of it to leave, then for its own transmission.
With ``B_q`` the buffer of queue ``q`` in bits (a buffer in packets counts its largest packets), ``s`` the largest
packet on the port (the one on the wire when it arrives; service is non-preemptive) and ``C`` the link capacity,
the mean wait of an accepted packet is at most

* a port's only queue (FIFO, or any policy with one queue): ``(B_q + s) / C`` — a hard bound;
* strict priority: ``(B_q + Σ_{p<q} B_p + s) / (C · (1 − ρ_{<q}))``. The higher queues' backlog is served first
  and their later arrivals take, on average, a share ``ρ_{<q}`` (their offered load over ``C``) of the link, so
  the work ahead drains at ``C · (1 − ρ_{<q})`` on average (the mean of a delay busy period). Unbounded (inf)
  when the higher-priority queues are offered the whole link: the queue can starve;
* WFQ and DRR: the smaller of the strict-priority bound with every other queue ranked higher (no work-conserving
  policy serves a queue worse than the lowest priority) and the guaranteed-rate bound
  ``(B_q + n · s) / (w_q · C)`` (a backlogged queue is served at least its weight share ``w_q``, give or take one
  packet of each of the ``n`` queues).

Offered loads are not thinned by upstream losses, which only makes the bounds larger. A flow's mean delay is at
most the sum over its hops of (wait bound + its mean packet's transmission + propagation).

Delay variance: every packet's delay lies in ``[Σ_h (s_min/C_h + prop_h), Σ_h (W_h + s_max/C_h + prop_h)]`` when
the ``W_h`` bound each packet's wait, so by Popoviciu's inequality its variance is at most a quarter of the squared
range ``R = Σ_h r_h``, ``r_h = W_h + (s_max − s_min)/C_h`` (flow's own largest and smallest packet). This is
exact for single-queue ports; for multi-queue ports ``W_h`` bounds the mean wait only, so there it is the same
formula with the mean-wait bound (checked against the simulator's labels in docs/BENCHMARKS.md). A model meets
the flow bound by keeping each hop's variance term within ``r_h · R / 4`` (these sum to ``R² / 4``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ndtwin.scenario.scenario import Scenario
from ndtwin.scenario.topology import Scheduling


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


def queue_wait_bound_s(scenario: Scenario) -> np.ndarray:
    """Per global queue (``Scenario.queues``): the bound of an accepted packet's mean wait (see module doc)."""
    topology, queues, hops, traffic = scenario.topology, scenario.queues, scenario.hops, scenario.traffic
    n_queues = len(queues.link)
    largest = np.array([max(f.size.sizes_bits) for f in traffic.flows], dtype=float)
    queue_largest = np.zeros(n_queues)
    np.maximum.at(queue_largest, hops.queue, largest[hops.flow])
    port_largest = np.zeros(topology.n_links)
    np.maximum.at(port_largest, queues.link, queue_largest)
    capacity = topology.capacity_bps[queues.link]
    ports = [topology.links[lid].port for lid in queues.link]
    buffer_bits = np.array(
        [
            port.buffers[q] * (1.0 if port.buffer_unit == "bits" else queue_largest[g])
            for g, (port, q) in enumerate(zip(ports, queues.index))
        ]
    )
    load = np.bincount(hops.queue, weights=traffic.rate_bps[hops.flow], minlength=n_queues) / capacity
    residual = port_largest[queues.link]
    bound = np.empty(n_queues)
    for lid, link in enumerate(topology.links):
        cells = slice(queues.offset[lid], queues.offset[lid + 1])
        bound[cells] = _port_wait_bound_s(
            link.port.scheduling, buffer_bits[cells], load[cells], link.port.weight_shares(), residual[cells][0],
            link.capacity_bps,
        )  # fmt: skip
    return bound


def _port_wait_bound_s(
    scheduling: Scheduling,
    buffer_bits: np.ndarray,
    load: np.ndarray,
    shares: tuple[float, ...],
    residual_bits: float,
    capacity_bps: float,
) -> np.ndarray:
    """Wait bounds of the queues of one port, in priority order (see the module docstring)."""
    n = len(buffer_bits)
    if n == 1:
        return np.array([(buffer_bits[0] + residual_bits) / capacity_bps])
    if scheduling is Scheduling.SP:
        ahead_bits = np.cumsum(buffer_bits)
        ahead_load = np.cumsum(load) - load
    else:
        ahead_bits = np.full(n, buffer_bits.sum())
        ahead_load = load.sum() - load
    leftover = 1.0 - ahead_load
    with np.errstate(divide="ignore"):
        bound = np.where(leftover > 0, (ahead_bits + residual_bits) / (capacity_bps * leftover), np.inf)
    if scheduling is not Scheduling.SP:
        guaranteed = (buffer_bits + n * residual_bits) / (np.asarray(shares) * capacity_bps)
        bound = np.minimum(bound, guaranteed)
    return bound


def flow_bounds(scenario: Scenario) -> FlowBounds:
    """Per-hop and per-flow delay and delay-variance bounds of every flow (see the module docstring)."""
    topology, hops, traffic = scenario.topology, scenario.hops, scenario.traffic
    capacity = topology.capacity_bps[hops.link]
    wait = queue_wait_bound_s(scenario)[hops.queue]
    sizes = [f.size.sizes_bits for f in traffic.flows]
    spread_bits = np.array([max(s) - min(s) for s in sizes], dtype=float)[hops.flow]
    hop_delay = wait + traffic.mean_size_bits[hops.flow] / capacity + topology.prop_delay_s[hops.link]
    hop_range = wait + spread_bits / capacity
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
