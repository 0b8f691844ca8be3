"""Physical bounds of per-flow QoS: the bound itself, both models' readouts within it, and the evaluation report."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.data.sample import Sample
from ndtwin.scenario import (
    Flow,
    Link,
    PacketSizeDistribution,
    PortConfig,
    Scenario,
    Scheduling,
    TimeDistribution,
    Topology,
    Traffic,
)
from ndtwin.scenario.bounds import delay_upper_bound_s, delay_var_upper_bound_s2, flow_bounds, queue_wait_bounds
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.twin.evaluate import LOAD_CLASSES, above_bound, evaluate
from ndtwin.twin.qt import LEGACY_READING, QueueingTheoryTwin, solve_network

SIZES = PacketSizeDistribution.discrete((500.0, 1500.0), (0.5, 0.5))
PORTS = {
    "fifo-packets": PortConfig(Scheduling.FIFO, (4.0,), "packets"),
    "sp-bits": PortConfig(Scheduling.SP, (8000.0, 8000.0, 16000.0), "bits", None, (0, 1, 2)),
    "wfq-bits": PortConfig(Scheduling.WFQ, (8000.0, 16000.0, 8000.0), "bits", (60.0, 30.0, 10.0), (0, 1, 2)),
    "drr-bits": PortConfig(Scheduling.DRR, (32000.0,) * 3, "bits", (90.0, 5.0, 5.0), (0, 1, 2)),
}


def two_hops() -> Scenario:
    """0 → 1 → 2: 10 kbit/s, 1 ms, an 8000-bit FIFO buffer; then 20 kbit/s, 2 ms, a 4-packet FIFO buffer."""
    links = (
        Link(0, 1, 10_000.0, 0.001, port=PortConfig(Scheduling.FIFO, (8000.0,), "bits")),
        Link(1, 2, 20_000.0, 0.002, port=PortConfig(Scheduling.FIFO, (4.0,), "packets")),
    )
    traffic = Traffic((Flow(0, 2, 1000.0, size=SIZES),))
    return Scenario.with_shortest_paths(Topology(("a", "b", "c"), links), traffic)


def test_two_hop_bound_matches_hand_computation():
    # Hop 1: wait ≤ (8000 buffer + 1500 on the wire) / 10 000 = 0.95 s; + 1000/10 000 transmission + 1 ms.
    # Hop 2: the buffer holds 4 packets of at most 1500 bits: (6000 + 1500) / 20 000 = 0.375 s; + 0.05 + 0.002.
    assert delay_upper_bound_s(two_hops())[0] == pytest.approx(0.95 + 0.1 + 0.001 + 0.375 + 0.05 + 0.002)
    # A packet's delay spans at most R = (0.95 + 1000/10 000) + (0.375 + 1000/20 000) s; variance ≤ R² / 4.
    assert delay_var_upper_bound_s2(two_hops())[0] == pytest.approx((1.05 + 0.425) ** 2 / 4)


def test_priority_and_weighted_queues_drain_at_what_the_port_leaves_them():
    sp, wfq = PORTS["sp-bits"], PORTS["wfq-bits"]
    flows = (Flow(0, 1, 2000.0, tos=0, size=SIZES), Flow(0, 1, 3000.0, tos=1, size=SIZES))
    for port in (sp, wfq):
        link = Link(0, 1, 10_000.0, port=port)
        wait = queue_wait_bounds(Scenario.with_shortest_paths(Topology(("a", "b"), (link,)), Traffic(flows)))
        if port is sp:  # queue 1 waits for queue 0's buffer and shares the link with its 20 % load
            assert wait.mean_s[:2] == pytest.approx([(8000 + 1500) / 10_000, (16000 + 1500) / (10_000 * 0.8)])
            assert wait.every_packet_s[0] == wait.mean_s[0] and np.isinf(wait.every_packet_s[1:]).all()
        else:  # queue 2: all buffers at the 50 % left by the others, or 3 packets beyond its 10 % share
            guaranteed = (8000 + 3 * 1500) / 1000
            assert wait.mean_s[2] == pytest.approx(min((32000 + 1500) / (10_000 * 0.5), guaranteed))
            assert wait.every_packet_s[2] == pytest.approx(guaranteed)


def test_starvable_priority_queue_has_no_variance_bound():
    flows = (Flow(0, 1, 12_000.0, tos=0, size=SIZES), Flow(0, 1, 1000.0, tos=2, size=SIZES))
    link = Link(0, 1, 10_000.0, port=PORTS["sp-bits"])
    scenario = Scenario.with_shortest_paths(Topology(("a", "b"), (link,)), Traffic(flows))
    assert np.isfinite(delay_upper_bound_s(scenario)[0]) and np.isinf(delay_upper_bound_s(scenario)[1])
    assert np.isfinite(delay_var_upper_bound_s2(scenario)[0]) and np.isinf(delay_var_upper_bound_s2(scenario)[1])


def test_an_input_link_delivers_no_more_than_its_capacity():
    # The high-priority flow is offered 12 kbit/s but reaches node 1 over a 5 kbit/s link: it takes at most half
    # of the 10 kbit/s link 1 → 2, so the low-priority queue there drains at 5 kbit/s or more.
    links = (Link(0, 1, 5000.0), Link(1, 2, 10_000.0, port=PORTS["sp-bits"]))
    flows = (Flow(0, 2, 12_000.0, tos=0, size=SIZES), Flow(1, 2, 1000.0, tos=2, size=SIZES))
    scenario = Scenario.with_shortest_paths(Topology(("a", "b", "c"), links), Traffic(flows))
    assert queue_wait_bounds(scenario).mean_s[-1] == pytest.approx((8000 + 8000 + 16000 + 1500) / (10_000 * 0.5))


def random_scenario(port: str, utilization: float, seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 9))
    edges = [(i, (i + 1) % n, float(rng.choice([1e4, 4e4, 1e5]))) for i in range(n)] + [(0, n // 2, 2.5e4)]
    topology = Topology.from_edges(n, edges, prop_delay_s=1e-3, port=PORTS[port])
    time = TimeDistribution.on_off(0.5, 1.0) if seed % 2 else None
    return all_pairs_scenario(topology, max_utilization=utilization, seed=seed, size=SIZES, time=time)


CASES = [(port, load, seed) for seed, port in enumerate(PORTS) for load in (0.4, 2.0)]


@pytest.mark.parametrize(("port", "utilization", "seed"), CASES)
def test_qt_stays_within_the_bounds(port, utilization, seed):
    scenario = random_scenario(port, utilization, seed)
    prediction = QueueingTheoryTwin().predict(scenario)
    assert not above_bound(flow_bounds(scenario), prediction).any()


def test_qt_holds_what_exponential_service_overstates():
    # Fixed 1000-bit packets, a one-packet buffer: a packet's delay lies in [0.1, 0.3] s (the bound does not
    # assume the packet in transmission counts against the buffer), so its variance is at most 0.01 s²; M/M/1/K's
    # exponential service times give more where the queue holds two packets (the legacy reading).
    link = Link(0, 1, 10_000.0, port=PortConfig(Scheduling.FIFO, (1.0,), "packets"))
    flow = Flow(0, 1, 500.0, size=PacketSizeDistribution.fixed(1000.0))
    scenario = Scenario.with_shortest_paths(Topology(("a", "b"), (link,)), Traffic((flow,)))
    assert delay_var_upper_bound_s2(scenario)[0] == pytest.approx(0.01)
    assert solve_network(scenario, bounded=False, reading=LEGACY_READING).delay_var_s2[0] > 0.01
    assert solve_network(scenario, reading=LEGACY_READING).delay_var_s2[0] == pytest.approx(0.01)


def test_gnn_readout_holds_every_hop_at_its_bound():
    torch = pytest.importorskip("torch")
    from ndtwin.gnn import GnnTwin, ModelConfig, RouteNetLike
    from ndtwin.gnn.features import collate, featurize
    from ndtwin.gnn.normalize import Normalizer

    scenarios = [random_scenario(port, load, seed) for port, load, seed in CASES if load > 1 or port == "sp-bits"]
    model = RouteNetLike(ModelConfig(hidden=8, iterations=2))
    with torch.no_grad():  # an untrained model told to fill every queue far beyond its buffer
        for head in model.readout.heads[:2]:
            head[-1].bias.fill_(40.0)
    twin = GnnTwin(model, Normalizer.fit([collate([featurize(s) for s in scenarios])]))
    for scenario, prediction in zip(scenarios, twin.predict_many(scenarios)):
        bounds = flow_bounds(scenario)
        finite = np.isfinite(bounds.delay_s)
        assert not above_bound(bounds, prediction).any()
        assert prediction["delay_s"].to_numpy()[finite] == pytest.approx(bounds.delay_s[finite], rel=1e-5)
        assert ((prediction["loss"] >= 0) & (prediction["loss"] <= 1)).all()
    model.config = ModelConfig(hidden=8, iterations=2, bounded=False)
    unbounded = twin.predict(scenarios[0])
    assert above_bound(flow_bounds(scenarios[0]), unbounded).all()


class Overshooting:
    """Predicts twice the delay bound of the flows through an overloaded link, the bound itself elsewhere."""

    name = "overshooting"

    def predict(self, scenario: Scenario) -> pd.DataFrame:
        bounds = flow_bounds(scenario)
        factor = np.where(_overloaded(scenario), 2.0, 1.0)
        return pd.DataFrame({"delay_s": bounds.delay_s * factor, "delay_var_s2": 0.0, "loss": 0.0})


def _overloaded(scenario: Scenario) -> np.ndarray:
    from ndtwin.scenario.generate import path_utilization

    return path_utilization(scenario) >= 1


def test_evaluation_reports_flows_above_bound_and_errors_by_load():
    scenarios = [random_scenario("wfq-bits", load, seed) for seed, load in enumerate((0.5, 0.9, 1.6))]
    samples = [
        Sample(s, QueueingTheoryTwin().predict(s), meta={"source": f"x/{i}/s:0"}) for i, s in enumerate(scenarios)
    ]
    report = evaluate(Overshooting(), samples)
    overloaded = sum(int(_overloaded(s).sum()) for s in scenarios)
    assert overloaded > 0
    assert report["n_flows_above_bound"] == overloaded and report["n_labels_above_bound"] == 0
    by_load = report["delay_by_load"]
    assert list(by_load) == list(LOAD_CLASSES)
    assert sum(c["n_flows"] for c in by_load.values()) == report["n_flows"]
    assert by_load[">=1"]["n_flows"] == overloaded and {"mape", "r2"} <= set(by_load[">=1"])


def test_eval_json_has_the_bound_and_load_fields(shared_data):
    result = CliRunner().invoke(app, ["eval", "--json", "-m", "qt", str(shared_data / "gnnet/2022/validation/50")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_flows_above_bound"] == 0 and report["n_labels_above_bound"] == 0
    assert sum(c["n_flows"] for c in report["delay_by_load"].values()) == report["n_flows"]
    assert report["delay_by_load"][">=1"]["n_flows"] > 0
