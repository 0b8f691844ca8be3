"""Translate a Scenario into the flat arrays the compiled kernel runs on."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ndtwin.errors import ScenarioError
from ndtwin.scenario import Scenario, Scheduling, SizeKind, TimeKind
from ndtwin.sim import kernel

TIME_CODES: dict[TimeKind, int] = {
    TimeKind.POISSON: kernel.POISSON,
    TimeKind.CBR: kernel.CBR,
    TimeKind.ONOFF: kernel.ONOFF,
}
# DRR: bits one full round offers all queues together; a queue's quantum is its weight share of it. 100 kbit
# (weight percent × 1 kbit) reproduces the per-queue delays of the BNN-UPC simulator's DRR ports
# (docs/SIM_FIDELITY.md); a round of one largest packet per smallest-weight queue made ToS 0 ~2x too fast.
DRR_ROUND_BITS = 100_000.0
SCHEDULING_CODES: dict[Scheduling, int] = {
    Scheduling.FIFO: kernel.FIFO,
    Scheduling.SP: kernel.SP,
    Scheduling.WFQ: kernel.WFQ,
    Scheduling.DRR: kernel.DRR,
}


class SimPlan(NamedTuple):
    """Kernel inputs, in the order of ``kernel.run``'s parameters."""

    # flows
    kind: np.ndarray  # time-law code
    gap: np.ndarray  # mean gap between packets (while ON for ONOFF), s
    gap_cap: np.ndarray  # largest exponential gap, s (inf: none)
    on_s: np.ndarray
    off_s: np.ndarray
    size_start: np.ndarray  # (n_flows + 1,) CSR offsets into size_bits / size_cum
    size_uniform: np.ndarray  # bool: continuous uniform over [size_bits[lo], size_bits[lo + 1]]
    size_bits: np.ndarray
    size_cum: np.ndarray  # cumulative probabilities
    # hops
    hop_offset: np.ndarray
    hop_queue: np.ndarray
    # queues
    q_link: np.ndarray
    q_buffer: np.ndarray  # waiting room, in packets or bits
    q_weight: np.ndarray  # WFQ weight share
    q_quantum: np.ndarray  # DRR quantum, bits
    q_off: np.ndarray  # (n_links + 1,) first queue of each link
    # links
    l_capacity: np.ndarray
    l_prop: np.ndarray
    l_sched: np.ndarray
    l_bits_buffer: np.ndarray  # bool


def build_plan(scenario: Scenario) -> SimPlan:
    """Kernel arrays for ``scenario``; ScenarioError for traffic the simulator cannot generate."""
    flows = _flow_arrays(scenario)
    queues = _queue_arrays(scenario)
    hops = scenario.hops
    topo = scenario.topology
    links = (
        topo.capacity_bps,
        topo.prop_delay_s,
        np.array([SCHEDULING_CODES[link.port.scheduling] for link in topo.links], dtype=np.int64),
        np.array([link.port.buffer_unit == "bits" for link in topo.links], dtype=np.bool_),
    )
    return SimPlan(*flows, hops.flow_offset, hops.queue, *queues, *links)


def _flow_arrays(scenario: Scenario) -> tuple[np.ndarray, ...]:
    n = scenario.n_flows
    kind = np.empty(n, dtype=np.int64)
    gap, gap_cap, on_s, off_s = np.empty(n), np.full(n, np.inf), np.zeros(n), np.zeros(n)
    for i, flow in enumerate(scenario.traffic.flows):
        law = flow.time
        if law.kind not in TIME_CODES:
            supported = ", ".join(k.value for k in TIME_CODES)
            raise ScenarioError(
                f"traffic.flows[{i}].time.kind", f"a law the simulator supports ({supported})", law.kind.value
            )
        kind[i] = kernel.ONOFF_PERIODIC if law.params.get("periodic_on") else TIME_CODES[law.kind]
        gap[i] = 1.0 / flow.pkts_per_s
        if law.kind is TimeKind.ONOFF:
            on_s[i], off_s[i] = law.params["on_s"], law.params.get("off_s", 0.0)
            gap[i] *= on_s[i] / (on_s[i] + off_s[i])  # the ON rate keeps the long-run mean at rate_bps
        factor = law.params.get("exp_max_factor", 0.0)
        if factor > 0:
            gap_cap[i] = factor * gap[i]
    sizes = [flow.size for flow in scenario.traffic.flows]
    size_start = np.concatenate([[0], np.cumsum([len(s.sizes_bits) for s in sizes])]).astype(np.int64)
    size_bits = np.concatenate([s.sizes_bits for s in sizes]) if sizes else np.empty(0)
    size_cum = np.concatenate([np.cumsum(s.probs) for s in sizes]) if sizes else np.empty(0)
    size_uniform = np.array([s.kind is SizeKind.UNIFORM for s in sizes], dtype=np.bool_)
    return kind, gap, gap_cap, on_s, off_s, size_start, size_uniform, size_bits, size_cum


def _queue_arrays(scenario: Scenario) -> tuple[np.ndarray, ...]:
    table = scenario.queues
    ports = [scenario.topology.links[link].port for link in table.link]
    buffer = np.array([port.buffers[q] for port, q in zip(ports, table.index)], dtype=float)
    share = np.array([port.weight_shares()[q] for port, q in zip(ports, table.index)])
    return table.link.astype(np.int64), buffer, share, share * DRR_ROUND_BITS, table.offset.astype(np.int64)
