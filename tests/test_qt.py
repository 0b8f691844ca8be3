"""Queueing-theory twin: closed forms against explicit state sums, scheduling, fixed point, robustness."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ndtwin.scenario import (
    Flow,
    Link,
    PacketSizeDistribution,
    PortConfig,
    Routing,
    Scenario,
    Scheduling,
    Topology,
    Traffic,
)
from ndtwin.scenario.bounds import delay_var_upper_bound_s2
from ndtwin.twin.base import PREDICTED_COLUMNS, Twin
from ndtwin.twin.qt import (
    LEGACY_READING,
    QueueingTheoryTwin,
    QueueReading,
    attained_service_capacity,
    leftover_fair_capacity,
    solve_network,
    water_filling,
    weighted_fair_capacity,
)
from ndtwin.twin.queueing import mm1k_stats

PKT = 1000.0  # bits
CAPACITY = 100_000.0  # bit/s, so mu = 100 packets/s


def explicit_mm1k(rho: float, k: int, mu: float) -> dict[str, float]:
    """M/M/1/K by summing over states: blocking, mean and variance of an accepted packet's sojourn."""
    weights = rho ** np.arange(k + 1, dtype=float)
    p = weights / weights.sum()
    seen = p[:k] / p[:k].sum()  # PASTA: accepted arrivals see 0..k-1
    stages = np.arange(1, k + 1)  # Erlang(n + 1, mu) sojourn
    mean = np.sum(seen * stages) / mu
    second = np.sum(seen * stages * (stages + 1)) / mu**2
    mean_in_system = np.sum(p * np.arange(k + 1))
    return {"blocking": p[k], "delay": mean, "var": second - mean**2, "in_system": mean_in_system}


def port(scheduling: Scheduling = Scheduling.FIFO, buffers=(32.0,), unit="packets", weights=None) -> PortConfig:
    tos_to_queue = (0, 0, 0) if scheduling is Scheduling.FIFO else tuple(range(len(buffers)))
    return PortConfig(scheduling, tuple(buffers), unit, weights, tos_to_queue)


def chain(capacities, *, config: PortConfig | None = None, prop_delay_s: float = 0.0) -> Topology:
    """Nodes 0..n in a line, links i → i+1 with the given capacities."""
    links = [Link(i, i + 1, c, prop_delay_s, port=config or port()) for i, c in enumerate(capacities)]
    return Topology(tuple(str(i) for i in range(len(capacities) + 1)), tuple(links))


def scenario_of(topology: Topology, flows: list[Flow]) -> Scenario:
    return Scenario.with_shortest_paths(topology, Traffic(tuple(flows)))


def poisson_flow(src: int, dst: int, pkts_per_s: float, tos: int = 0, size: float = PKT) -> Flow:
    return Flow(src, dst, pkts_per_s * size, tos, size=PacketSizeDistribution.fixed(size))


def predict(scenario: Scenario):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return QueueingTheoryTwin().predict(scenario)


def test_satisfies_twin_protocol():
    assert isinstance(QueueingTheoryTwin(), Twin)
    assert QueueingTheoryTwin.name == "qt"


@pytest.mark.parametrize("rho", [0.05, 0.5, 0.9, 1.0, 1.3, 3.0])
@pytest.mark.parametrize("buffer_pkts", [1, 8, 32])
def test_single_link_matches_mm1k(rho, buffer_pkts):
    mu = CAPACITY / PKT
    scenario = scenario_of(chain([CAPACITY], config=port(buffers=(buffer_pkts,))), [poisson_flow(0, 1, rho * mu)])
    got = predict(scenario).iloc[0]
    want = explicit_mm1k(rho, buffer_pkts, mu)  # the buffer holds the packet in transmission: K = buffer
    assert got["loss"] == pytest.approx(want["blocking"], rel=1e-9)
    assert got["delay_s"] == pytest.approx(want["delay"], rel=1e-9)
    # Exponential service spreads fixed-size packets' delays beyond what the buffer allows: held at the bound.
    bound = delay_var_upper_bound_s2(scenario)[0]
    assert got["delay_var_s2"] == pytest.approx(min(want["var"], bound), rel=1e-9)


def test_legacy_reading_adds_a_place_for_the_packet_in_transmission():
    mu = CAPACITY / PKT
    scenario = scenario_of(chain([CAPACITY], config=port(buffers=(8,))), [poisson_flow(0, 1, 0.9 * mu)])
    blocking = [
        solve_network(scenario, reading=reading).queues.blocking[0] for reading in (QueueReading(), LEGACY_READING)
    ]
    assert blocking == pytest.approx([explicit_mm1k(0.9, k, mu)["blocking"] for k in (8, 9)], rel=1e-9)


def test_single_link_obeys_littles_law():
    mu, rho, k = CAPACITY / PKT, 0.8, 6
    scenario = scenario_of(chain([CAPACITY], config=port(buffers=(k,))), [poisson_flow(0, 1, rho * mu)])
    got = predict(scenario).iloc[0]
    in_system = explicit_mm1k(rho, k, mu)["in_system"]
    assert in_system == pytest.approx(rho * mu * (1 - got["loss"]) * got["delay_s"], rel=1e-9)


def test_bit_buffer_counts_mean_packets():
    flows = [poisson_flow(0, 1, 70.0)]
    in_packets = predict(scenario_of(chain([CAPACITY], config=port(buffers=(10,))), flows))
    in_bits = predict(scenario_of(chain([CAPACITY], config=port(buffers=(10 * PKT,), unit="bits")), flows))
    assert np.allclose(in_bits.to_numpy(), in_packets.to_numpy(), rtol=1e-12)


def test_huge_buffer_is_mm1():
    mu, lam = CAPACITY / PKT, 60.0
    scenario = scenario_of(chain([CAPACITY], config=port(buffers=(1e7,))), [poisson_flow(0, 1, lam)])
    got = predict(scenario).iloc[0]
    assert got["delay_s"] == pytest.approx(1 / (mu - lam), rel=1e-9)
    assert got["delay_var_s2"] == pytest.approx(1 / (mu - lam) ** 2, rel=1e-9)
    assert got["loss"] < 1e-300 or got["loss"] == 0.0


def test_flow_pays_own_transmission_time_in_a_shared_queue():
    small, large = poisson_flow(0, 1, 20.0, size=500.0), poisson_flow(0, 1, 20.0, size=1500.0)
    queues = QueueingTheoryTwin().predict_queues(scenario_of(chain([CAPACITY]), [small, large]))
    assert queues["mean_pkt_bits"].iloc[0] == pytest.approx(1000.0)
    delays = predict(scenario_of(chain([CAPACITY]), [small, large]))["delay_s"]
    assert delays[1] - delays[0] == pytest.approx(1000.0 / CAPACITY, rel=1e-12)


def test_tandem_upstream_losses_thin_downstream_load():
    mu1, mu2, lam, k = 100.0, 80.0, 150.0, 9
    scenario = scenario_of(chain([mu1 * PKT, mu2 * PKT], config=port(buffers=(k,))), [poisson_flow(0, 2, lam)])
    first = explicit_mm1k(lam / mu1, k, mu1)
    thinned = lam * (1 - first["blocking"])
    second = explicit_mm1k(thinned / mu2, k, mu2)
    got = predict(scenario).iloc[0]
    queues = QueueingTheoryTwin().predict_queues(scenario)
    assert queues["arrival_pkts_per_s"].tolist() == pytest.approx([lam, thinned], rel=1e-9)
    assert got["loss"] == pytest.approx(1 - (1 - first["blocking"]) * (1 - second["blocking"]), rel=1e-9)
    assert got["delay_s"] == pytest.approx(first["delay"] + second["delay"], rel=1e-9)
    assert got["delay_var_s2"] == pytest.approx(first["var"] + second["var"], rel=1e-9)


def test_fixed_point_couples_flows_through_shared_links():
    # Flow A (0→2) crosses an overloaded link 0→1; flow B (1→2) shares link 1→2 with A's thinned remainder.
    flows = [poisson_flow(0, 2, 200.0), poisson_flow(1, 2, 50.0)]
    scenario = scenario_of(chain([100 * PKT, 100 * PKT], config=port(buffers=(8,))), flows)
    solution = QueueingTheoryTwin().solve(scenario)
    assert solution.converged
    first = explicit_mm1k(2.0, 8, 100.0)
    shared = 200.0 * (1 - first["blocking"]) + 50.0
    second = explicit_mm1k(shared / 100.0, 8, 100.0)
    assert solution.queues.arrivals.pkts_per_s[1] == pytest.approx(shared, rel=1e-9)
    assert solution.loss[1] == pytest.approx(second["blocking"], rel=1e-9)


def sp_scenario(high_pkts: float, low_pkts: float) -> Scenario:
    config = port(Scheduling.SP, buffers=(16, 16))
    flows = [poisson_flow(0, 1, high_pkts, tos=0), poisson_flow(0, 1, low_pkts, tos=1)]
    return scenario_of(chain([CAPACITY], config=config), flows)


def test_strict_priority_protects_high_priority():
    mu = CAPACITY / PKT
    light, heavy = predict(sp_scenario(30.0, 10.0)), predict(sp_scenario(30.0, 65.0))
    assert heavy["delay_s"][0] == pytest.approx(light["delay_s"][0], rel=1e-12)
    assert heavy["delay_s"][0] == pytest.approx(explicit_mm1k(0.3, 16, mu)["delay"], rel=1e-9)
    assert heavy["delay_s"][1] > light["delay_s"][1]
    assert predict(sp_scenario(60.0, 10.0))["delay_s"][1] > light["delay_s"][1]


def test_strict_priority_low_queue_gets_leftover_capacity():
    mu, high, low = CAPACITY / PKT, 50.0, 30.0
    got = predict(sp_scenario(high, low))
    carried_high = high * (1 - explicit_mm1k(high / mu, 16, mu)["blocking"])
    leftover_mu = mu - carried_high
    low_queue = explicit_mm1k(low / leftover_mu, 16, leftover_mu)
    waiting = low_queue["delay"] - 1 / leftover_mu
    assert got["delay_s"][1] == pytest.approx(waiting + PKT / CAPACITY, rel=1e-9)
    assert got["loss"][1] == pytest.approx(low_queue["blocking"], rel=1e-9)


def test_starved_priority_queue_stays_finite():
    got = predict(sp_scenario(150.0, 20.0))
    assert np.isfinite(got.to_numpy()).all()
    assert got["loss"][1] > 0.99


def test_water_filling_shares():
    demand = np.array([[10.0, 50.0, 50.0], [10.0, 20.0, 30.0], [90.0, 90.0, 90.0], [80.0, 5.0, 0.0]])
    weights = np.array([[0.5, 0.25, 0.25], [0.6, 0.3, 0.1], [0.6, 0.3, 0.1], [0.5, 0.5, 0.0]])
    allocation = water_filling(demand, weights, np.full(4, 100.0))
    expected = [[10.0, 45.0, 45.0], [10.0, 20.0, 30.0], [60.0, 30.0, 10.0], [80.0, 5.0, 0.0]]
    assert allocation == pytest.approx(np.array(expected))


def test_water_filling_redistributes_in_weight_order():
    # Queue 2 needs less than its share (20); queue 1 then less than its new share (33.75); queue 0 takes the rest.
    demand = np.array([[100.0, 33.0, 10.0], [100.0, 35.0, 15.0]])
    allocation = water_filling(demand, np.array([[0.5, 0.3, 0.2]] * 2), np.array([100.0, 100.0]))
    assert allocation == pytest.approx(np.array([[57.0, 33.0, 10.0], [53.125, 31.875, 15.0]]))


def test_weighted_fair_capacity_is_guaranteed_share_or_leftover():
    capacity = weighted_fair_capacity(np.array([[10.0, 120.0]]), np.array([[0.5, 0.5]]), np.array([100.0]))
    assert capacity == pytest.approx(np.array([[50.0, 90.0]]))


@pytest.mark.parametrize(("scheduling", "light_capacity"), [(Scheduling.DRR, 50.0), (Scheduling.WFQ, 100.0)])
def test_weighted_ports_serve_queues_at_their_fair_capacity(scheduling, light_capacity):
    """DRR serves the light queue at its backlogged share; WFQ, whose tags grow with each queue's own service,
    serves the queue taking less per unit weight first, at the whole link."""
    config = port(scheduling, buffers=(16, 16), weights=(50.0, 50.0))
    flows = [poisson_flow(0, 1, 10.0, tos=0), poisson_flow(0, 1, 120.0, tos=1)]
    queues = QueueingTheoryTwin().predict_queues(scenario_of(chain([CAPACITY], config=config), flows))
    assert queues["service_capacity_bps"].tolist() == pytest.approx([light_capacity * PKT, 90.0 * PKT], rel=1e-9)
    assert queues["loss"][1] == pytest.approx(explicit_mm1k(120 / 90, 16, 90.0)["blocking"], rel=1e-9)


def test_propagation_delay_is_added_per_hop():
    flows = [poisson_flow(0, 3, 40.0)]
    without = predict(scenario_of(chain([CAPACITY] * 3), flows))
    with_prop = predict(scenario_of(chain([CAPACITY] * 3, prop_delay_s=0.01), flows))
    assert with_prop["delay_s"][0] - without["delay_s"][0] == pytest.approx(0.03, rel=1e-12)
    assert with_prop["delay_var_s2"][0] == without["delay_var_s2"][0]


def random_scenario(seed: int, n_nodes: int = 30) -> Scenario:
    rng = np.random.default_rng(seed)
    configs = [
        port(),
        port(buffers=(16000.0,), unit="bits"),
        port(Scheduling.SP, buffers=(8000.0,) * 3, unit="bits"),
        port(Scheduling.WFQ, buffers=(32,) * 3, weights=(60.0, 30.0, 10.0)),
        port(Scheduling.DRR, buffers=(32,) * 3, weights=(33.3, 33.3, 33.4)),
    ]
    edges = {(i, (i + 1) % n_nodes) for i in range(n_nodes)}
    edges |= {tuple(int(v) for v in rng.choice(n_nodes, 2, replace=False)) for _ in range(n_nodes)}
    links = []
    for u, v in sorted(edges):
        capacity = float(rng.choice([10e3, 40e3, 100e3]))
        for a, b in ((u, v), (v, u)):
            if (a, b) not in {(lk.src, lk.dst) for lk in links}:
                links.append(Link(a, b, capacity, float(rng.uniform(0, 1e-3)), port=configs[a % len(configs)]))
    sizes = PacketSizeDistribution.discrete([500.0, 1000.0, 1500.0], [0.3, 0.4, 0.3])
    flows = [
        Flow(s, d, float(rng.uniform(50, 1500)), int(rng.integers(3)), size=sizes)
        for s in range(n_nodes)
        for d in range(n_nodes)
        if s != d
    ]
    topology = Topology(tuple(str(i) for i in range(n_nodes)), tuple(links))
    return Scenario(topology, Routing.shortest_paths(topology, [(f.src, f.dst) for f in flows]), Traffic(tuple(flows)))


def test_random_network_has_one_clean_row_per_flow():
    scenario = random_scenario(7)
    got = predict(scenario)
    assert list(got.columns) == list(PREDICTED_COLUMNS)
    assert len(got) == scenario.n_flows
    assert np.isfinite(got.to_numpy()).all()
    assert ((got["loss"] >= 0) & (got["loss"] <= 1)).all()
    assert (got["loss"] > 1e-3).any(), "the scenario should exercise congestion"
    hops, topology = scenario.hops, scenario.topology
    transmission = np.bincount(hops.flow, scenario.traffic.mean_size_bits[hops.flow] / topology.capacity_bps[hops.link])
    assert (got["delay_s"].to_numpy() >= transmission * (1 - 1e-12)).all()
    assert QueueingTheoryTwin().solve(scenario).converged


def test_queue_frame_conserves_packets():
    scenario = random_scenario(3)
    twin = QueueingTheoryTwin()
    queues, flows = twin.predict_queues(scenario), twin.predict(scenario)
    assert len(queues) == len(scenario.queues.link)
    assert np.isfinite(queues.to_numpy()).all()
    dropped_at_queues = np.sum(queues["arrival_pkts_per_s"] * queues["loss"])
    dropped_by_flows = np.sum(scenario.traffic.rate_bps / scenario.traffic.mean_size_bits * flows["loss"])
    assert dropped_at_queues == pytest.approx(dropped_by_flows, rel=1e-6)


@settings(max_examples=200, deadline=None)
@given(rho=st.floats(0.0, 50.0), k=st.integers(1, 60))
def test_mm1k_stats_match_state_sums(rho, k):
    got = mm1k_stats(rho, k)
    want = explicit_mm1k(rho, k, 1.0)
    assert float(got.blocking) == pytest.approx(want["blocking"], rel=1e-8, abs=1e-250)
    assert float(got.seen_mean) + 1 == pytest.approx(want["delay"], rel=1e-8)
    assert float(got.mean_in_system) == pytest.approx(want["in_system"], rel=1e-8, abs=1e-250)


def test_mm1k_stats_are_stable_at_the_edges():
    rho = np.array([0.0, 1e-300, 1e-12, 1 - 1e-12, 1.0, 1 + 1e-12, 1e12, 1e300])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for k in (1.0, 2.5, 1e4, 1e12):
            stats = mm1k_stats(rho, k)
            for values in stats:
                assert np.isfinite(values).all()
            assert (np.diff(stats.blocking) >= 0).all()
            assert stats.seen_var[3] == pytest.approx(stats.seen_var[5], rel=1e-3)  # symmetric about rho = 1
            if k * 1e-12 < 1e-6:  # k |ln rho| ≪ 1: the arrival-seen law is uniform on 0..k-1
                assert stats.seen_var[3:6] == pytest.approx(np.full(3, (k * k - 1) / 12), rel=1e-6)


def test_size_aware_service_gives_pollaczek_khinchine_mean():
    mu, lam = CAPACITY / PKT, 70.0
    rho = lam / mu
    scenario = scenario_of(chain([CAPACITY], config=port(buffers=(1e7,))), [poisson_flow(0, 1, lam)])
    got = QueueingTheoryTwin(service="sizes").predict(scenario).iloc[0]
    md1_wait = rho / (2 * mu * (1 - rho))  # M/D/1: E[W] = λ E[S²] / (2 (1 − ρ)) with S = 1/μ
    assert got["delay_s"] == pytest.approx(md1_wait + 1 / mu, rel=1e-9)


def test_size_aware_variance_is_own_size_variance_at_light_load():
    sizes = PacketSizeDistribution.discrete([500.0, 1500.0], [0.5, 0.5])
    flow = Flow(0, 1, 1e-3, size=sizes)
    got = QueueingTheoryTwin(service="sizes").predict(scenario_of(chain([CAPACITY]), [flow])).iloc[0]
    assert got["delay_var_s2"] == pytest.approx(500.0**2 / CAPACITY**2, rel=1e-6)
    assert got["delay_s"] == pytest.approx(1000.0 / CAPACITY, rel=1e-6)


def test_unknown_service_model_is_rejected():
    with pytest.raises(ValueError, match="service"):
        QueueingTheoryTwin(service="deterministic")


def test_attained_service_capacity_serves_lower_demand_per_weight_first():
    """Demand per unit weight 15.9 < 410 < 670: each queue gets what the ones before it carry leave it."""
    demand, weights, capacity = np.array([[12.7, 41.0, 67.0]]), np.array([[0.8, 0.1, 0.1]]), np.array([100.0])
    carried = np.array([[12.7, 41.0, 46.3]])
    backlogged = weighted_fair_capacity(demand, weights, capacity)
    served = attained_service_capacity(demand, weights, carried, capacity, backlogged)
    np.testing.assert_allclose(served, [[100.0, 87.3, 46.3]])


def test_weighted_fair_capacity_of_an_unsaturated_queue_is_its_backlogged_share():
    # Queue 0 needs little; queues 1 and 2 split the rest equally while backlogged (43.65 each), so queue 1,
    # which offers 41, is served at 43.65 — not at its own demand, which queue 2's overload would leave it.
    capacity = weighted_fair_capacity(np.array([[12.7, 41.0, 67.0]]), np.array([[0.8, 0.1, 0.1]]), np.array([100.0]))
    assert capacity == pytest.approx(np.array([[80.0, 43.65, 46.3]]))


def test_leftover_reading_serves_an_unsaturated_queue_at_its_demand():
    # The reading GNN models saved before the backlogged one were trained on.
    demand, weights = np.array([[12.7, 41.0, 67.0]]), np.array([[0.8, 0.1, 0.1]])
    capacity = leftover_fair_capacity(demand, weights, np.array([100.0]))
    assert capacity == pytest.approx(np.array([[80.0, 41.0, 46.3]]))
