"""The child process of the ns-3 backend: loads ns-3 once, then runs the jobs it is sent.

ns-3's Python bindings take about 10 s to load, so a worker process keeps them loaded across simulations.
Jobs and results are plain arrays (see ``ndtwin.sim.ns3_backend``); the network model itself is the C++ in
``ns3_model.cc``, compiled at start-up.
"""

from __future__ import annotations

import time
import traceback
from importlib import resources
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

import numpy as np


class Ns3Job(NamedTuple):
    """One simulation as flat arrays: links, their queues, addresses, host routes and flow schedules."""

    n_nodes: int
    link_src: np.ndarray  # (n_links,) int64
    link_dst: np.ndarray
    capacity_bps: np.ndarray  # (n_links,) float
    prop_s: np.ndarray
    queue_offset: np.ndarray  # (n_links + 1,) int64, CSR into buffers
    buffers: np.ndarray  # (n_queues,) float, packets or bits
    in_bits: np.ndarray  # (n_links,) int64 0/1
    tos_table: np.ndarray  # (n_links, n_tos) int64: queue index of each ToS
    address_node: np.ndarray  # (n_addresses,) int64: node owning each destination address
    route_node: np.ndarray  # (n_routes,) int64: host route at node → address via link
    route_address: np.ndarray
    route_link: np.ndarray
    flow_src: np.ndarray  # (n_flows,) int64
    flow_address: np.ndarray
    flow_tos: np.ndarray
    schedule_offset: np.ndarray  # (n_flows + 1,) int64, CSR into the two arrays below
    send_ns: np.ndarray  # int64 send times, non-decreasing within a flow
    payload_bytes: np.ndarray  # int64 UDP payload sizes
    warmup_ns: int


class Ns3Result(NamedTuple):
    """Delivered measured packets (flow, delay in s) in delivery order, raw per-queue counters of measured
    packets (columns: arrivals, drops, tx packets, tx bits, sojourn s, max occupancy), transmissions of all
    packets, the wall time of ``Simulator::Run`` and the worker's CPU time for the whole job."""

    rec_flow: np.ndarray
    rec_delay: np.ndarray
    queue_stats: np.ndarray
    packet_hops: int
    run_s: float
    cpu_s: float


def load_ns3() -> Any:
    """Import ns-3 and compile the model; returns the ``ndtwin_ns3`` C++ namespace."""
    import cppyy
    from ns import ns  # noqa: F401  (loads the ns-3 libraries and headers into cppyy)

    source = resources.files("ndtwin.sim").joinpath("ns3_model.cc").read_text(encoding="utf-8")
    cppyy.cppdef(source)
    return cppyy.gbl.ndtwin_ns3


_NO_PACKETS = np.zeros(1, dtype=np.int64)


def run_job(model: Any, job: Ns3Job) -> Ns3Result:
    """Build the job's network in ns-3, run it until it drains and collect the counters."""
    start = time.process_time()
    network = model.Network(
        job.n_nodes, len(job.link_src), job.link_src, job.link_dst, job.capacity_bps, job.prop_s,
        job.queue_offset, job.buffers, job.in_bits, job.tos_table.ravel(), job.tos_table.shape[1],
        len(job.address_node), job.address_node, len(job.route_node), job.route_node, job.route_address,
        job.route_link,
    )  # fmt: skip
    offset = job.schedule_offset
    for flow in range(len(job.flow_src)):
        lo, hi = int(offset[flow]), int(offset[flow + 1])
        # cppyy cannot pass an empty array as a pointer: a flow that sends nothing gets a one-element placeholder.
        send_ns = job.send_ns[lo:hi] if hi > lo else _NO_PACKETS
        payload = job.payload_bytes[lo:hi] if hi > lo else _NO_PACKETS
        network.AddFlow(
            flow, int(job.flow_src[flow]), int(job.flow_address[flow]), int(job.flow_tos[flow]),
            send_ns, payload, hi - lo, job.warmup_ns,
        )  # fmt: skip
    network.Run()
    result = Ns3Result(
        _array(network.sink.flows, np.int64),
        _array(network.sink.delays, np.float64),
        _array(network.queue_stats, np.float64).reshape(-1, 6),
        int(network.packet_hops),
        float(network.run_seconds),
        0.0,
    )
    network.__destruct__()
    return result._replace(cpu_s=time.process_time() - start)


def _array(vector: Any, dtype: type) -> np.ndarray:
    """A numpy copy of a C++ ``std::vector``."""
    if vector.size() == 0:
        return np.empty(0, dtype=dtype)
    return np.frombuffer(vector.data(), dtype=dtype, count=vector.size()).copy()


def serve(connection: Connection) -> None:
    """Child-process loop: answer each job with ``("ok", Ns3Result)`` or ``("error", traceback)``;
    ``None`` ends it."""
    try:
        model = load_ns3()
    except Exception:  # noqa: BLE001  (reported to the parent, which raises)
        connection.send(("error", traceback.format_exc()))
        return
    connection.send(("ready", None))
    while (job := connection.recv()) is not None:
        try:
            connection.send(("ok", run_job(model, job)))
        except Exception:  # noqa: BLE001  (reported to the parent, which raises)
            connection.send(("error", traceback.format_exc()))
