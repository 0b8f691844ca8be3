"""The agents' records as a labelled Sample, with the same label columns as the simulator's.

Delays: the measured one-way delay of every delivered measured packet, plus that packet's own serialization time
(size / capacity) on every hop of its path. HTB releases a packet at the start of its transmission slot and the
veth carries it in microseconds, so the measured delay holds every wait behind other packets but not the
packet's own transmission; adding it back makes the labels those of a store-and-forward network, as the simulator
and the twins model it. The raw measured mean is kept in ``meta["measured_delay_s"]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ndtwin.data.sample import Sample
from ndtwin.scenario import Scenario
from ndtwin.sim import kernel
from ndtwin.sim.simulate import RunWindow, labelled_sample

SOURCE = "ndtwin-emulate"


def inverse_capacity_sum(scenario: Scenario) -> np.ndarray:
    """Per flow, the sum over its hops of 1 / capacity (s per bit): its serialization time per bit of size."""
    hops = scenario.hops
    inverse = 1.0 / scenario.topology.capacity_bps[hops.link]
    return np.bincount(hops.flow, weights=inverse, minlength=scenario.n_flows)


def emulated_sample(scenario: Scenario, window: RunWindow, seed: int, results: list[dict], queues: np.ndarray,
                    meta: dict[str, Any]) -> Sample:  # fmt: skip
    """The Sample of one run from every agent's results and the queues' counters over the measured window."""
    n = scenario.n_flows
    stats = np.zeros((n, 4))
    for result in results:
        flows = np.asarray(result["flows"], dtype=np.int64)
        stats[flows, kernel.F_GEN] += result["sent"]
        stats[flows, kernel.F_GEN_BITS] += result["sent_bits"]
    flow = np.concatenate([np.asarray(r["received_flow"], dtype=np.int64) for r in results])
    size_bits = 8.0 * np.concatenate([np.asarray(r["received_size"], dtype=float) for r in results])
    measured = 1e-9 * np.concatenate([np.asarray(r["received_delay_ns"], dtype=float) for r in results])
    delivered = np.bincount(flow, minlength=n)
    stats[:, kernel.F_DELIVERED] = delivered
    stats[:, kernel.F_DROPS] = np.maximum(stats[:, kernel.F_GEN] - delivered, 0)
    delay = measured + size_bits * inverse_capacity_sum(scenario)[flow]
    with np.errstate(invalid="ignore", divide="ignore"):
        raw_mean = np.bincount(flow, measured, minlength=n) / delivered
    return labelled_sample(
        scenario,
        window,
        seed,
        stats,
        queues,
        flow,
        delay,
        source=SOURCE,
        id_prefix="emu",
        meta={"measured_delay_s": [float(v) if np.isfinite(v) else None for v in raw_mean], **meta},
    )
