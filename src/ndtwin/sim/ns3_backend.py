"""A second simulation backend: the same scenarios and labels as ``ndtwin.sim.simulate``, run on ns-3.

ns-3 (``pip install 'ndtwin[ns3]'``) runs in a child process (:class:`Ns3Worker`) that loads it once, so a
sweep pays its ~10 s start-up a single time. The model matches ``ndtwin.sim.kernel``'s:

* every directed link is a point-to-point channel (capacity, propagation delay) whose sending device's queue
  is the port itself: one tail-drop queue (FIFO) or three served by strict priority (SP, non-preemptive, ToS
  mapped by ``PortConfig.tos_to_queue``), each buffer counting its waiting packets and its packet in
  transmission, in packets or bits;
* packets are UDP datagrams whose size on the wire (payload + UDP 8 + IPv4 20 + PPP 2 bytes) is the ndtwin
  packet size; they follow the scenario's paths through static host routes (one destination address per
  group of pairs whose paths agree on every next hop, so source-dependent routing works too);
* sources replay send times and sizes drawn by the simulator's own code for its time laws (Poisson, CBR,
  ON-OFF) and size laws, with fixed or discrete sizes in whole bytes.

WFQ, DRR, time laws the simulator lacks and continuous size laws raise ScenarioError. Flow, link and queue
labels are all provided, computed by ``ndtwin.sim.labels`` from the same counters as the simulator's.
"""

from __future__ import annotations

import atexit
import importlib.util
import multiprocessing
from itertools import pairwise
from typing import Any, Self

import numpy as np
from numba import njit

from ndtwin.data.sample import Sample
from ndtwin.errors import ScenarioError, check_int
from ndtwin.scenario import Scenario, Scheduling, SizeKind
from ndtwin.sim import kernel
from ndtwin.sim.ns3_worker import Ns3Job, Ns3Result, serve
from ndtwin.sim.plan import build_plan
from ndtwin.sim.simulate import RunWindow, labelled_sample, run_window

SOURCE = "ns-3"
HEADER_BYTES = 8 + 20 + 2  # UDP, IPv4 and PPP headers
MAX_WIRE_BYTES = 65535 + 2  # the largest IPv4 packet plus its PPP header
SUPPORTED_SCHEDULING = (Scheduling.FIFO, Scheduling.SP)
# The kernel's queue-statistics columns of the worker's raw counters, in the worker's order.
QUEUE_STAT_COLUMNS = [
    kernel.Q_ARRIVALS, kernel.Q_DROPS, kernel.Q_TX_PKTS, kernel.Q_TX_BITS, kernel.Q_SOJOURN, kernel.Q_MAX_OCC
]  # fmt: skip


class Ns3Worker:
    """A child process running ns-3, reused across simulations. Use as a context manager:

    >>> with Ns3Worker() as worker:  # doctest: +SKIP
    ...     samples = [worker.simulate(s, packets_per_flow=2000) for s in scenarios]
    """

    def __init__(self) -> None:
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Any = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the child process and wait until ns-3 is loaded (no-op if already running)."""
        if self._process is not None and self._process.is_alive():
            return
        self.close()
        if importlib.util.find_spec("ns") is None:
            raise ImportError("ns-3 is not installed: pip install 'ndtwin[ns3]'")
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=serve, args=(child,), daemon=True, name="ndtwin-ns3")
        self._process.start()
        child.close()
        self._receive()

    def close(self) -> None:
        """Stop the child process."""
        if self._process is None:
            return
        if self._process.is_alive():
            self._connection.send(None)
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()
        self._connection.close()
        self._process = None

    def simulate(
        self,
        scenario: Scenario,
        *,
        packets_per_flow: int | None = None,
        duration_s: float | None = None,
        warmup_fraction: float = 0.1,
        seed: int = 0,
    ) -> Sample:
        """Simulate ``scenario`` in ns-3, with the run window and labels of ``ndtwin.sim.simulate``."""
        seed = check_int("seed", seed, maximum=2**32 - 1)
        window = run_window(scenario, packets_per_flow, duration_s, warmup_fraction)
        job, generated = build_job(scenario, window, seed)
        self.start()
        self._connection.send(job)
        result = self._receive()
        return to_sample(scenario, window, generated, result, seed)

    def _receive(self) -> Any:
        try:
            status, payload = self._connection.recv()
        except EOFError:
            self.close()
            raise RuntimeError("the ns-3 worker process exited unexpectedly") from None
        if status == "error":
            raise RuntimeError(f"ns-3 worker failed:\n{payload}")
        return payload


_shared: Ns3Worker | None = None


def shared_worker() -> Ns3Worker:
    """The worker behind :func:`simulate_ns3`, created on first use and stopped at exit."""
    global _shared
    if _shared is None:
        _shared = Ns3Worker()
        atexit.register(_shared.close)
    return _shared


def simulate_ns3(
    scenario: Scenario,
    *,
    packets_per_flow: int | None = None,
    duration_s: float | None = None,
    warmup_fraction: float = 0.1,
    seed: int = 0,
) -> Sample:
    """Like ``ndtwin.sim.simulate`` but in ns-3, on the :func:`shared_worker` process (started on first use)."""
    return shared_worker().simulate(
        scenario, packets_per_flow=packets_per_flow, duration_s=duration_s, warmup_fraction=warmup_fraction, seed=seed
    )


def build_job(scenario: Scenario, window: RunWindow, seed: int) -> tuple[Ns3Job, np.ndarray]:
    """The ns-3 job for ``scenario`` and the (count, bits) of measured packets each flow generates;
    ScenarioError for anything the backend does not model."""
    check_supported(scenario)
    topo = scenario.topology
    plan = build_plan(scenario)
    send_s, size_bits, counts = _schedules(*plan[:9], window.end_s, seed)
    send_ns = np.rint(send_s * 1e9).astype(np.int64)
    warmup_ns = round(window.warmup_s * 1e9)
    flow = np.repeat(np.arange(scenario.n_flows), counts)
    measured = send_ns >= warmup_ns
    generated = np.zeros((scenario.n_flows, 2))
    generated[:, 0] = np.bincount(flow[measured], minlength=scenario.n_flows)
    generated[:, 1] = np.bincount(flow[measured], size_bits[measured], minlength=scenario.n_flows)
    pair_address, address_node, routes = _addresses(scenario)
    flows = scenario.traffic.flows
    job = Ns3Job(
        topo.n_nodes,
        topo.src,
        topo.dst,
        topo.capacity_bps,
        topo.prop_delay_s,
        scenario.queues.offset.astype(np.int64),
        *_port_arrays(scenario),
        np.array(address_node, dtype=np.int64),
        *np.array(routes, dtype=np.int64).reshape(-1, 3).T.copy(),  # node, address and link of each route
        flow_src=np.array([f.src for f in flows], dtype=np.int64),
        flow_address=np.array([pair_address[(f.src, f.dst)] for f in flows], dtype=np.int64),
        flow_tos=scenario.traffic.tos.astype(np.int64),
        schedule_offset=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        send_ns=send_ns,
        payload_bytes=(np.rint(size_bits / 8) - HEADER_BYTES).astype(np.int64),
        warmup_ns=warmup_ns,
    )
    return job, generated


def to_sample(scenario: Scenario, window: RunWindow, generated: np.ndarray, result: Ns3Result, seed: int) -> Sample:
    """The labelled Sample of an ns-3 run, built with the simulator's own label functions."""
    n_flows = scenario.n_flows
    flow_stats = np.zeros((n_flows, 4))
    flow_stats[:, kernel.F_GEN] = generated[:, 0]
    flow_stats[:, kernel.F_GEN_BITS] = generated[:, 1]
    flow_stats[:, kernel.F_DELIVERED] = np.bincount(result.rec_flow, minlength=n_flows)
    flow_stats[:, kernel.F_DROPS] = flow_stats[:, kernel.F_GEN] - flow_stats[:, kernel.F_DELIVERED]
    queue_stats = np.zeros((len(scenario.queues.link), 6))
    queue_stats[:, QUEUE_STAT_COLUMNS] = result.queue_stats
    run = {"packet_hops": result.packet_hops, "ns3_run_s": result.run_s, "ns3_worker_cpu_s": result.cpu_s}
    return labelled_sample(
        scenario,
        window,
        seed,
        flow_stats,
        queue_stats,
        result.rec_flow,
        result.rec_delay,
        source=SOURCE,
        id_prefix="ns3",
        meta=run,
    )


def check_supported(scenario: Scenario) -> None:
    """ScenarioError for schedulers and packet sizes the ns-3 model does not cover (build_plan checks the
    time laws). Cheap: ns-3 is not started."""
    for i, link in enumerate(scenario.topology.links):
        if link.port.scheduling not in SUPPORTED_SCHEDULING:
            expected = "FIFO or SP (the schedulers of the ns-3 backend)"
            raise ScenarioError(f"topology.links[{i}].port.scheduling", expected, link.port.scheduling.value)
    for i, flow in enumerate(scenario.traffic.flows):
        if flow.size.kind is SizeKind.UNIFORM:
            raise ScenarioError(f"traffic.flows[{i}].size.kind", "a fixed or discrete size law", flow.size.kind.value)
        for k, bits in enumerate(flow.size.sizes_bits):
            if bits % 8 or not HEADER_BYTES * 8 <= bits <= MAX_WIRE_BYTES * 8:
                raise ScenarioError(
                    f"traffic.flows[{i}].size.sizes_bits[{k}]",
                    f"whole bytes from {HEADER_BYTES} (the UDP, IPv4 and PPP headers) to {MAX_WIRE_BYTES} bytes",
                    bits,
                )


def _port_arrays(scenario: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every port's queue buffers (flat, in global queue order), whether it counts bits, and its ToS → queue map."""
    links = scenario.topology.links
    n_tos = int(scenario.traffic.tos.max(initial=0)) + 1
    buffers = np.array([size for link in links for size in link.port.buffers], dtype=float)
    in_bits = np.array([link.port.buffer_unit == "bits" for link in links], dtype=np.int64)
    tos_table = np.array([[link.port.queue_of(t) for t in range(n_tos)] for link in links], dtype=np.int64)
    return buffers, in_bits, tos_table.reshape(-1, n_tos)


def _addresses(scenario: Scenario) -> tuple[dict[tuple[int, int], int], list[int], list[tuple[int, int, int]]]:
    """Destination addresses and host routes for the routed pairs of the traffic.

    Pairs to one destination share an address while their paths agree on the next hop at every node they
    share, so destination-based routing needs one address per node and source-dependent routing a few more.
    Returns each pair's address, each address's node and the routes as (node, address, link)."""
    topo = scenario.topology
    pair_address: dict[tuple[int, int], int] = {}
    address_node: list[int] = []
    tables: list[dict[int, int]] = []  # per address: node -> outgoing link
    by_destination: dict[int, list[int]] = {}
    for pair in scenario.traffic.pairs():
        path = scenario.routing.paths[pair]
        hops = {u: topo.link_id(u, v) for u, v in pairwise(path)}
        candidates = by_destination.setdefault(pair[1], [])
        agrees = (a for a in candidates if all(tables[a].get(u, link) == link for u, link in hops.items()))
        address = next(agrees, None)
        if address is None:
            address = len(address_node)
            address_node.append(pair[1])
            tables.append({})
            candidates.append(address)
        tables[address].update(hops)
        pair_address[pair] = address
    routes = [(node, address, link) for address, table in enumerate(tables) for node, link in table.items()]
    return pair_address, address_node, routes


@njit
def _schedules(kind, gap, gap_cap, on_s, off_s, size_start, size_uniform, size_bits, size_cum, end_s, seed):
    """Send times and sizes (bits) of every flow's packets on ``[0, end_s)``, flow after flow, drawn with the
    simulator's time and size laws; and the number of packets of each flow."""
    np.random.seed(seed)
    n_flows = len(kind)
    on_end = np.zeros(n_flows)
    times, sizes = np.empty(1024), np.empty(1024)
    counts = np.zeros(n_flows, dtype=np.int64)
    n = 0
    for flow in range(n_flows):
        t = kernel._first_arrival(flow, kind, gap, gap_cap, on_s, off_s, on_end)
        while t < end_s:
            if n == len(times):
                times, sizes = kernel._grown(times), kernel._grown(sizes)
            times[n] = t
            sizes[n] = kernel._draw_size(flow, size_start, size_uniform, size_bits, size_cum)
            counts[flow] += 1
            n += 1
            t = kernel._next_arrival(flow, t, kind, gap, gap_cap, on_s, off_s, on_end)
    return times[:n], sizes[:n], counts
