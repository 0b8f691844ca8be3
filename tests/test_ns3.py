"""The ns-3 backend against ndtwin's own simulator.

Agreement tolerances are four standard errors of the difference: each flow's standard error is measured as
the spread of ndtwin's estimate over independent seeds at the same run length, and the ns-3 estimate is
assumed to be as noisy as one ndtwin run. At these lengths (3000–5000 packets for the slowest flow) that is
2–4 % of a flow's mean delay under FIFO and up to 12 % for a low-priority flow under strict priority; the
measured differences were at most 0.7 of their tolerance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ndtwin.data.sample import FLOW_LABELS, LINK_LABELS, QUEUE_LABELS
from ndtwin.errors import ScenarioError
from ndtwin.scenario import (
    DEFAULT_PORT,
    Flow,
    PacketSizeDistribution,
    PortConfig,
    Routing,
    Scenario,
    Scheduling,
    TimeDistribution,
    Topology,
    Traffic,
)
from ndtwin.sim import simulate
from ndtwin.sim.ns3_backend import Ns3Worker, shared_worker, simulate_ns3

SIZES = PacketSizeDistribution.discrete((4000, 8000, 12000), (0.3, 0.4, 0.3))
SEEDS = range(8)


@pytest.fixture(scope="module")
def worker():
    """The worker of ``simulate_ns3``, so the module starts ns-3 once."""
    pytest.importorskip("ns")
    shared = shared_worker()
    shared.start()
    return shared


def line(n_nodes: int, port: PortConfig, capacity_bps: float = 10e6) -> Topology:
    edges = [(i, i + 1, capacity_bps) for i in range(n_nodes - 1)]
    return Topology.from_edges(n_nodes, edges, prop_delay_s=1e-3, port=port)


def assert_agrees(scenario: Scenario, worker: Ns3Worker, label: str, packets_per_flow: int, atol: float = 0.0) -> None:
    """ns-3's per-flow ``label`` is within four standard errors (plus ``atol``) of the mean over ndtwin seeds."""
    runs = np.array([simulate(scenario, packets_per_flow=packets_per_flow, seed=s).flow_labels[label] for s in SEEDS])
    ns3 = worker.simulate(scenario, packets_per_flow=packets_per_flow).flow_labels[label].to_numpy()
    standard_error = runs.std(axis=0, ddof=1)
    tolerance = 4 * standard_error * np.sqrt(1 + 1 / len(SEEDS)) + atol
    assert np.all(np.abs(ns3 - runs.mean(axis=0)) <= tolerance), (ns3, runs.mean(axis=0), tolerance)


@pytest.mark.slow
def test_fifo_mean_delay_agrees(worker):
    flows = [
        Flow(src, dst, rate, size=SIZES) for src, dst, rate in ((0, 3, 3e6), (1, 3, 2e6), (3, 0, 5e6), (0, 2, 2e6))
    ]
    scenario = Scenario.with_shortest_paths(line(4, PortConfig(buffers=(64,))), Traffic(flows))
    assert_agrees(scenario, worker, "delay_s", 5000)


@pytest.mark.slow
def test_strict_priority_delay_and_loss_agree(worker):
    port = PortConfig(Scheduling.SP, buffers=(80_000, 80_000, 80_000), buffer_unit="bits", tos_to_queue=(0, 1, 2))
    flows = [Flow(0, 2, rate, tos, size=SIZES) for tos, rate in enumerate((1.5e6, 2.5e6, 4e6))]
    flows.append(Flow(1, 2, 0.5e6, 2, size=SIZES))
    scenario = Scenario.with_shortest_paths(line(3, port), Traffic(flows))
    sample = worker.simulate(scenario, packets_per_flow=3000)
    assert sample.flow_labels["delay_s"].iloc[:3].is_monotonic_increasing  # higher ToS, lower priority
    assert sample.flow_labels["loss"].iloc[2] > 0.005
    assert_agrees(scenario, worker, "delay_s", 3000)
    assert_agrees(scenario, worker, "loss", 3000, atol=1e-3)  # one drop more in a flow that almost never drops


@pytest.mark.slow
def test_low_load_cbr_delay_is_transmission_plus_propagation(worker):
    """One CBR flow per path never queues. Node 0 sends packets for node 2 via 1 or via 3 depending on their
    source, so ns-3 needs two addresses for node 2; the delays show each packet took its own path."""
    edges = [(0, 1, 10e6), (1, 2, 5e6), (0, 3, 2e6), (3, 2, 10e6), (4, 0, 10e6)]
    square = Topology.from_edges(5, edges, prop_delay_s=2e-3)
    paths = {(0, 2): (0, 1, 2), (4, 2): (4, 0, 3, 2)}
    cbr, jumbo = TimeDistribution.cbr(), PacketSizeDistribution.fixed(72_000)  # 9000 bytes: beyond Ethernet's MTU
    flows = [Flow(src, dst, 1e6, time=cbr, size=jumbo) for src, dst in paths]
    scenario = Scenario(square, Routing(paths), Traffic(flows))
    labels = simulate_ns3(scenario, packets_per_flow=200).flow_labels
    expected = np.bincount(scenario.hops.flow, 72_000 / square.capacity_bps[scenario.hops.link] + 2e-3)
    for column in ("delay_s", "delay_p10_s", "delay_p90_s"):
        np.testing.assert_allclose(labels[column], expected, rtol=0, atol=1e-8)
    assert (labels["loss"] == 0).all() and (labels["ipdv_s"] < 1e-8).all()
    np.testing.assert_allclose(labels["pkts_per_s"], 1e6 / 72_000, rtol=0.01)


@pytest.mark.slow
def test_labels_have_the_simulator_layout(worker):
    scenario = Scenario.with_shortest_paths(line(3, PortConfig(buffers=(16,))), Traffic((Flow(0, 2, 8e6, size=SIZES),)))
    sample = worker.simulate(scenario, duration_s=2.0, seed=3)
    assert list(sample.flow_labels.columns) == list(FLOW_LABELS)
    assert list(sample.link_labels.columns) == list(LINK_LABELS)
    assert list(sample.queue_labels.columns) == list(QUEUE_LABELS)
    assert sample.meta["source"] == "ns-3" and sample.meta["sim_time_s"] == pytest.approx(1.8)
    pd.testing.assert_frame_equal(sample.flow_labels, worker.simulate(scenario, duration_s=2.0, seed=3).flow_labels)


def unsupported_scenarios() -> dict[str, Scenario]:
    def one_flow(port: PortConfig = DEFAULT_PORT, **flow: object) -> Scenario:
        return Scenario.with_shortest_paths(line(2, port), Traffic((Flow(0, 1, 1e6, **flow),)))

    wfq = PortConfig(Scheduling.WFQ, buffers=(8, 8), weights=(1, 2))
    return {
        "topology.links[0].port.scheduling": one_flow(wfq),
        "traffic.flows[0].size.kind": one_flow(size=PacketSizeDistribution.uniform(4000, 8000)),
        "traffic.flows[0].size.sizes_bits[0]": one_flow(size=PacketSizeDistribution.fixed(8004)),
        "traffic.flows[0].size.sizes_bits[1]": one_flow(size=PacketSizeDistribution.discrete((8000, 160), (0.5, 0.5))),
        "traffic.flows[0].time.kind": one_flow(
            time=TimeDistribution("uniform", {"min_pkts_per_s": 1, "max_pkts_per_s": 3})
        ),
    }


@pytest.mark.parametrize("field", list(unsupported_scenarios()))
def test_unsupported_features_raise_scenario_error(field):
    with pytest.raises(ScenarioError) as error:
        simulate_ns3(unsupported_scenarios()[field], packets_per_flow=10)
    assert error.value.field == field


def test_a_flow_that_sends_nothing_in_a_short_run(worker):
    flows = (Flow(0, 2, 8e6, size=SIZES), Flow(1, 2, 1e3, size=SIZES))  # the second's first packet comes after the run
    scenario = Scenario.with_shortest_paths(line(3, PortConfig(buffers=(16,))), Traffic(flows))
    labels = worker.simulate(scenario, duration_s=0.05, seed=1).flow_labels
    assert labels["delay_s"].iloc[0] > 0
    assert np.isnan(labels["delay_s"].iloc[1]) or labels["pkts_per_s"].iloc[1] == 0
