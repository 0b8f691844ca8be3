"""Queueing-theory twin: every output queue an M/M/1/K queue, coupled by a fixed point over upstream losses.

See docs/QT_BASELINE.md for the model and its approximations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

import numpy as np
import pandas as pd

from ndtwin.scenario import MAX_QUEUES, Scenario, Scheduling
from ndtwin.twin.queueing import mm1k_blocking, mm1k_stats, waiting_moments

# An SP queue starved by higher priorities keeps this share of the link capacity (avoids a zero service rate).
MIN_CAPACITY_SHARE = 1e-6

# Service-time model: "exponential" is textbook M/M/1/K; "sizes" takes the variability of the packet-size laws.
Service = Literal["exponential", "sizes"]

# How a WFQ/DRR queue's service capacity is read: "ranked" (WFQ by ``attained_service_capacity``, DRR by
# ``weighted_fair_capacity``), "backlogged" (both by ``weighted_fair_capacity``) or "leftover"
# (``leftover_fair_capacity``); the last two are the rules of GNN models saved before, kept for their inputs.
FairShare = Literal["ranked", "backlogged", "leftover"]
FAIR_SHARES: tuple[str, ...] = get_args(FairShare)


@dataclass(frozen=True)
class QueueReading:
    """How the queueing model reads a scenario's ports. A GNN model keeps the reading its inputs were trained on.

    ``fair_share``: WFQ/DRR service capacities (``FairShare``); ``transmission_in_buffer``: a queue's buffer holds
    its packet in transmission (as in ``ndtwin.sim``), so a queue holds K = buffer packets, else buffer + 1.
    """

    fair_share: FairShare = "ranked"
    transmission_in_buffer: bool = True


# The reading of GNN models saved before either field existed (the shipped ones among them).
LEGACY_READING = QueueReading(fair_share="leftover", transmission_in_buffer=False)


@dataclass(frozen=True)
class QueueSetup:
    """Static parameters of every global queue (see ``Scenario.queues``), and its cell in a port × queue grid."""

    link: np.ndarray  # link id (= port id)
    index: np.ndarray  # queue index within its port
    port_capacity_bps: np.ndarray  # (n_links,)
    buffer: np.ndarray  # in packets or bits
    buffer_in_bits: np.ndarray  # bool
    strict_priority: np.ndarray  # bool: port scheduled by SP
    wfq: np.ndarray  # bool: port scheduled by WFQ
    weight_share: np.ndarray  # normalised WFQ/DRR weight (1 for FIFO, unused for SP)
    reading: QueueReading = QueueReading()

    @classmethod
    def of(cls, scenario: Scenario, reading: QueueReading = QueueReading()) -> QueueSetup:
        queues = scenario.queues
        ports = [scenario.topology.links[link].port for link in queues.link]
        cells = list(zip(ports, queues.index))
        return cls(
            link=queues.link,
            index=queues.index,
            port_capacity_bps=scenario.topology.capacity_bps,
            buffer=np.array([port.buffers[q] for port, q in cells], dtype=float),
            buffer_in_bits=np.array([port.buffer_unit == "bits" for port in ports], dtype=bool),
            strict_priority=np.array([port.scheduling is Scheduling.SP for port in ports], dtype=bool),
            wfq=np.array([port.scheduling is Scheduling.WFQ for port in ports], dtype=bool),
            weight_share=np.array([port.weight_shares()[q] for port, q in cells], dtype=float),
            reading=reading,
        )

    @property
    def one_queue_per_port(self) -> bool:
        return not self.index.any()

    @property
    def link_capacity_bps(self) -> np.ndarray:
        return self.port_capacity_bps[self.link]

    def to_grid(self, values: np.ndarray) -> np.ndarray:
        """Per-queue values as a (port, queue index) grid, zero where a port has fewer queues."""
        grid = np.zeros((len(self.port_capacity_bps), MAX_QUEUES))
        grid[self.link, self.index] = values
        return grid

    def from_grid(self, grid: np.ndarray) -> np.ndarray:
        return grid[self.link, self.index]


def water_filling(demand: np.ndarray, weights: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Max-min weighted fair allocation, row by row.

    Each row is a port: ``demand`` and ``weights`` are (ports, queues), ``capacity`` is (ports,). Queues demanding
    less than their weighted share of what is left get their demand; the rest split the remainder by weight.
    """
    satisfied = weights <= 0
    share = np.zeros_like(demand)
    for _ in range(demand.shape[1]):
        left = capacity - np.where(satisfied, demand, 0.0).sum(axis=1)
        active_weight = np.where(satisfied, 0.0, weights).sum(axis=1)
        per_weight = np.divide(np.maximum(left, 0.0), active_weight, out=np.zeros_like(left), where=active_weight > 0)
        share = per_weight[:, None] * weights
        satisfied = satisfied | (demand <= share)
    return np.where(satisfied, demand, share)


def weighted_fair_capacity(demand: np.ndarray, weights: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Service capacity of each queue of work-conserving weighted-fair ports (WFQ, DRR, and FIFO as one queue).

    A queue is served, while it holds packets, with what it would get if it were always backlogged: its
    water-filling allocation against the other queues' demands (at least its guaranteed weight share). Same grid
    shapes as ``water_filling``; ``weights`` normalised per row.
    """
    served = np.empty_like(demand)
    for queue in range(demand.shape[1]):
        backlogged = demand.copy()
        backlogged[:, queue] = capacity  # it can use no more
        served[:, queue] = water_filling(backlogged, weights, capacity)[:, queue]
    return served


def leftover_fair_capacity(demand: np.ndarray, weights: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """What the other queues' water-filling allocations leave each queue, never less than its guaranteed share.
    A queue demanding less than its share beside an overloaded one gets exactly its demand (load 1): the inputs
    GNN models saved before ``weighted_fair_capacity`` were trained on."""
    allocation = water_filling(demand, weights, capacity)
    others = allocation.sum(axis=1, keepdims=True) - allocation
    return np.maximum(capacity[:, None] - others, weights * capacity[:, None])


def attained_service_capacity(
    demand: np.ndarray, weights: np.ndarray, carried: np.ndarray, capacity: np.ndarray, backlogged: np.ndarray
) -> np.ndarray:
    """Service capacity of WFQ queues whose tags grow with their own service (``ndtwin.sim``'s WFQ): a queue
    demanding less per unit weight than another is served before it, so each queue gets what the queues with a
    lower demand per weight carry leave it, and at least its ``backlogged`` share (``weighted_fair_capacity``).
    Grids as in ``water_filling``."""
    per_weight = np.where(weights > 0, demand / np.where(weights > 0, weights, 1.0), np.inf)
    first = per_weight[:, None, :] < per_weight[:, :, None]  # [port, queue, other]: other is served first
    return np.maximum(capacity[:, None] - (first * carried[:, None, :]).sum(axis=2), backlogged)


def strict_priority_capacity(carried: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Service capacity of SP queues (column 0 highest): what higher priorities' carried load leaves, floored."""
    higher = np.cumsum(carried, axis=1) - carried
    return np.maximum(capacity[:, None] - higher, MIN_CAPACITY_SHARE * capacity[:, None])


class Arrivals(NamedTuple):
    """What enters each queue per second: packets, bits, and the packet-weighted mean squared size."""

    pkts_per_s: np.ndarray
    bps: np.ndarray
    size_second_moment_bits2: np.ndarray


@dataclass(frozen=True)
class QueueState:
    """Per-queue quantities at one step of the fixed point."""

    arrivals: Arrivals
    mean_pkt_bits: np.ndarray
    service_capacity_bps: np.ndarray
    system_size: np.ndarray  # K: packets the queue holds, its packet in transmission included
    load: np.ndarray  # offered rho
    blocking: np.ndarray
    log_acceptance: np.ndarray
    waiting_s: np.ndarray  # mean wait of an accepted packet before its transmission
    waiting_var_s2: np.ndarray
    size_var_bits2: np.ndarray  # variance of the queue's packet sizes under the service model


def service_size_var_bits2(mean_bits: np.ndarray, second_moment_bits2: np.ndarray, service: Service) -> np.ndarray:
    """Variance of a packet's size as the service model sees it: exponential, or the actual size law."""
    if service == "exponential":
        return mean_bits**2
    return np.maximum(second_moment_bits2 - mean_bits**2, 0.0)


def evaluate_queues(
    setup: QueueSetup, arrivals: Arrivals, log_acceptance: np.ndarray, idle_pkt_bits: float, service: Service
) -> QueueState:
    """M/M/1/K state of every queue given its arrivals; SP uses the carried load implied by ``log_acceptance``.

    With ``service="sizes"`` the waiting moments are rescaled by the Pollaczek–Khinchine factor (1 + c²)/2,
    c² being the squared coefficient of variation of the queue's packet sizes (its square for the variance).
    """
    busy = arrivals.pkts_per_s > 0
    mean_pkt_bits, capacity, system_size, load = _offered(setup, arrivals, log_acceptance, idle_pkt_bits)
    stats = mm1k_stats(load, system_size)
    waiting, waiting_var = waiting_moments(stats, capacity / mean_pkt_bits)
    second_moment = np.where(busy, arrivals.size_second_moment_bits2, mean_pkt_bits**2)
    size_var = service_size_var_bits2(mean_pkt_bits, second_moment, service)
    variability = (1 + size_var / mean_pkt_bits**2) / 2
    return QueueState(
        arrivals=arrivals,
        mean_pkt_bits=mean_pkt_bits,
        service_capacity_bps=capacity,
        system_size=system_size,
        load=load,
        blocking=stats.blocking,
        log_acceptance=stats.log_acceptance,
        waiting_s=waiting * variability,
        waiting_var_s2=waiting_var * variability**2,
        size_var_bits2=size_var,
    )


class _Offered(NamedTuple):
    mean_pkt_bits: np.ndarray
    service_capacity_bps: np.ndarray
    system_size: np.ndarray
    load: np.ndarray


def _offered(setup: QueueSetup, arrivals: Arrivals, log_acceptance: np.ndarray, idle_pkt_bits: float) -> _Offered:
    """Mean packet, service capacity, system size K and offered load of every queue (see ``evaluate_queues``)."""
    busy = arrivals.pkts_per_s > 0
    packets = np.where(busy, arrivals.pkts_per_s, 1.0)
    mean_pkt_bits = np.where(busy, arrivals.bps / packets, idle_pkt_bits)
    capacity = service_capacity(setup, arrivals.bps, arrivals.bps * np.exp(log_acceptance))
    in_transmission = 0.0 if setup.reading.transmission_in_buffer else 1.0
    system_size = np.where(setup.buffer_in_bits, setup.buffer / mean_pkt_bits, setup.buffer) + in_transmission
    return _Offered(mean_pkt_bits, capacity, system_size, arrivals.bps / capacity)


def service_capacity(setup: QueueSetup, demand_bps: np.ndarray, carried_bps: np.ndarray) -> np.ndarray:
    """Capacity each queue is served with under its port's scheduling (see the *_capacity functions)."""
    if setup.one_queue_per_port:  # every scheduling serves a lone queue at the full link capacity
        return setup.link_capacity_bps
    capacity = setup.port_capacity_bps
    demand, weights, carried = setup.to_grid(demand_bps), setup.to_grid(setup.weight_share), setup.to_grid(carried_bps)
    fair = leftover_fair_capacity if setup.reading.fair_share == "leftover" else weighted_fair_capacity
    shared_grid = fair(demand, weights, capacity)
    shared = setup.from_grid(shared_grid)
    if setup.reading.fair_share == "ranked":
        ranked = attained_service_capacity(demand, weights, carried, capacity, shared_grid)
        shared = np.where(setup.wfq, setup.from_grid(ranked), shared)
    priority = strict_priority_capacity(carried, capacity)
    return np.where(setup.strict_priority, setup.from_grid(priority), shared)


@dataclass(frozen=True)
class NetworkSolution:
    """The converged queue states and the per-flow predictions of one scenario."""

    setup: QueueSetup
    queues: QueueState
    delay_s: np.ndarray
    delay_var_s2: np.ndarray
    loss: np.ndarray
    iterations: int
    converged: bool


class _FlowHops:
    """Per-hop views of a scenario's flows, and sums over the hops of each queue or each flow."""

    def __init__(self, scenario: Scenario) -> None:
        hops, traffic = scenario.hops, scenario.traffic
        self.n_flows = scenario.n_flows
        self.n_queues = len(scenario.queues.link)
        self.flow, self.queue, self.link = hops.flow, hops.queue, hops.link
        self.first_hop = hops.flow_offset[:-1][hops.flow]
        flow_pkts_per_s = traffic.rate_bps / traffic.mean_size_bits
        self.pkts_per_s = flow_pkts_per_s[hops.flow]
        self.size_bits = traffic.mean_size_bits[hops.flow]
        self.size_second_moment_bits2 = traffic.second_moment_bits2[hops.flow]
        # Mean packet of all traffic: stands in for the (irrelevant) packet size of queues nobody uses.
        self.idle_pkt_bits = float(traffic.rate_bps.sum() / flow_pkts_per_s.sum()) if self.n_flows else 1.0

    def arrivals(self, log_acceptance: np.ndarray) -> Arrivals:
        """Arrivals at every queue, each flow thinned by the losses of its earlier hops."""
        hop_log = log_acceptance[self.queue]
        before = np.cumsum(hop_log) - hop_log
        pkts = self.pkts_per_s * np.exp(before - before[self.first_hop])
        pkts_in_queue = self.queue_sum(pkts)
        squares = self.queue_sum(pkts * self.size_second_moment_bits2)
        return Arrivals(
            pkts_in_queue, self.queue_sum(pkts * self.size_bits), squares / np.maximum(pkts_in_queue, 1e-300)
        )

    def queue_sum(self, per_hop: np.ndarray) -> np.ndarray:
        return np.bincount(self.queue, per_hop, minlength=self.n_queues)

    def flow_sum(self, per_hop: np.ndarray) -> np.ndarray:
        return np.bincount(self.flow, per_hop, minlength=self.n_flows)


def solve_network(
    scenario: Scenario,
    *,
    max_iterations: int = 100,
    tolerance: float = 1e-9,
    service: Service = "exponential",
    bounded: bool = True,
    reading: QueueReading = QueueReading(),
) -> NetworkSolution:
    """Iterate queue arrival rates and blockings to a fixed point, then sum the per-hop delays of every flow.

    With ``bounded``, each hop's wait and delay variance are held within the physical bounds of
    ``ndtwin.scenario.bounds`` (the exponential service model lets packets of bounded size take unbounded time, and
    the reduced-service-rate model of SP starves low priorities beyond what the offered loads allow).
    ``reading``: how the ports are read (``QueueReading``).
    """
    setup = QueueSetup.of(scenario, reading)
    hops = _FlowHops(scenario)

    def admit(log_acceptance: np.ndarray) -> _Admission:
        """One fixed-point step: arrivals thinned by ``log_acceptance`` and the acceptance they meet."""
        arrivals = hops.arrivals(log_acceptance)
        offered = _offered(setup, arrivals, log_acceptance, hops.idle_pkt_bits)
        return _Admission(log_acceptance, arrivals, mm1k_blocking(offered.load, offered.system_size)[1])

    current = admit(np.zeros(hops.n_queues))
    iterations, converged = 0, False
    while iterations < max_iterations and not converged:
        previous, current = current, admit(current.log_acceptance)
        iterations += 1
        converged = _converged(previous, current, tolerance)
    state = evaluate_queues(setup, current.arrivals, current.thinned_by, hops.idle_pkt_bits, service)
    capacity = scenario.topology.capacity_bps[hops.link]
    transmission_var_s2 = service_size_var_bits2(hops.size_bits, hops.size_second_moment_bits2, service) / capacity**2
    waiting_s = state.waiting_s[hops.queue]
    per_hop_var = state.waiting_var_s2[hops.queue] + transmission_var_s2
    if bounded:
        bounds = scenario.bounds
        waiting_s = np.minimum(waiting_s, bounds.hop_wait_s)
        per_hop_var = np.minimum(per_hop_var, bounds.hop_delay_var_s2)
    per_hop_delay = waiting_s + hops.size_bits / capacity + scenario.topology.prop_delay_s[hops.link]
    return NetworkSolution(
        setup=setup,
        queues=state,
        delay_s=hops.flow_sum(per_hop_delay),
        delay_var_s2=hops.flow_sum(per_hop_var),
        loss=-np.expm1(hops.flow_sum(state.log_acceptance[hops.queue])),
        iterations=iterations,
        converged=converged,
    )


class _Admission(NamedTuple):
    """A fixed-point step: the acceptance arrivals were thinned by, the arrivals, and the acceptance they meet."""

    thinned_by: np.ndarray
    arrivals: Arrivals
    log_acceptance: np.ndarray


def _converged(previous: _Admission, current: _Admission, tolerance: float) -> bool:
    """Arrival and carried rates of every queue unchanged to a relative ``tolerance``."""
    carried = lambda s: s.arrivals.bps * np.exp(s.log_acceptance)  # noqa: E731
    return bool(
        np.allclose(current.arrivals.bps, previous.arrivals.bps, rtol=tolerance, atol=0.0)
        and np.allclose(carried(current), carried(previous), rtol=tolerance, atol=0.0)
    )


class QueueingTheoryTwin:
    """The analytical baseline twin: M/M/1/K output queues with a loss fixed point (see docs/QT_BASELINE.md).

    ``service="sizes"`` replaces the exponential service times by the flows' packet-size laws (M/G/1-style
    waiting times); the default is the textbook M/M/1/K model. ``bounded=False`` drops the physical bounds of
    the per-hop wait and variance (see ``solve_network``).
    """

    name = "qt"

    def __init__(
        self,
        *,
        max_iterations: int = 100,
        tolerance: float = 1e-9,
        service: Service = "exponential",
        bounded: bool = True,
    ) -> None:
        if service not in ("exponential", "sizes"):
            raise ValueError(f"service: expected 'exponential' or 'sizes', got {service!r}")
        self.max_iterations = max_iterations
        self.tolerance = tolerance
        self.service = service
        self.bounded = bounded

    def solve(self, scenario: Scenario) -> NetworkSolution:
        """The converged per-queue state and per-flow predictions, with the iteration count."""
        return solve_network(
            scenario,
            max_iterations=self.max_iterations,
            tolerance=self.tolerance,
            service=self.service,
            bounded=self.bounded,
        )

    def predict(self, scenario: Scenario) -> pd.DataFrame:
        """One row per flow (traffic order): mean delay (s), delay variance (s²) and loss ratio."""
        solution = self.solve(scenario)
        return pd.DataFrame({"delay_s": solution.delay_s, "delay_var_s2": solution.delay_var_s2, "loss": solution.loss})

    def predict_queues(self, scenario: Scenario) -> pd.DataFrame:
        """One row per global queue (see ``Scenario.queues``), for diagnostics."""
        solution = self.solve(scenario)
        return queue_frame(solution.setup, solution.queues)


def queue_frame(setup: QueueSetup, state: QueueState) -> pd.DataFrame:
    """Per-queue diagnostics; ``sojourn_s`` is the wait plus the transmission of the queue's mean packet."""
    capacity = setup.link_capacity_bps
    return pd.DataFrame(
        {
            "link": setup.link,
            "queue": setup.index,
            "arrival_pkts_per_s": state.arrivals.pkts_per_s,
            "arrival_bps": state.arrivals.bps,
            "mean_pkt_bits": state.mean_pkt_bits,
            "buffer_pkts": state.system_size - 1,
            "service_capacity_bps": state.service_capacity_bps,
            "load": state.load,
            "utilization": state.arrivals.bps * np.exp(state.log_acceptance) / capacity,
            "loss": state.blocking,
            "waiting_s": state.waiting_s,
            "sojourn_s": state.waiting_s + state.mean_pkt_bits / capacity,
            "sojourn_var_s2": state.waiting_var_s2 + state.size_var_bits2 / capacity**2,
        }
    )
