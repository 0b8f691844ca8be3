"""Packet simulator against queueing theory, plus its bookkeeping guarantees.

Tolerances are about three standard errors of the estimate at the run length used; each such test says how
large the standard error is (measured over independent seeds at that length).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ndtwin.data.sample import FLOW_LABELS, LINK_LABELS, QUEUE_LABELS
from ndtwin.errors import ScenarioError
from ndtwin.scenario import (
    Flow,
    Link,
    PacketSizeDistribution,
    PortConfig,
    Scenario,
    Scheduling,
    TimeDistribution,
    TimeKind,
    Topology,
    Traffic,
)
from ndtwin.sim import kernel, simulate
from ndtwin.sim.labels import group_percentiles
from ndtwin.sim.plan import build_plan

C = 100_000.0  # bit/s
PKT = 1000.0  # bits: a mean transmission time of 10 ms
UNBOUNDED = PortConfig(buffers=(1e9,))


def exponential_sizes(mean_bits: float, atoms: int = 1000) -> PacketSizeDistribution:
    """An exponential size law as ``atoms`` equiprobable sizes, each the mean of its quantile slice.

    The mean is exact; the second moment is 2·mean² to within 0.1 %, so M/M/1 formulas apply to that accuracy.
    """
    edges = -np.log1p(-np.arange(atoms) / atoms)  # lower quantiles of Exp(1) slices; the last slice is unbounded
    mass_times_mean = (edges + 1) * np.exp(-edges)  # ∫ x e^-x dx from each edge to +inf
    partial = mass_times_mean - np.append(mass_times_mean[1:], 0.0)
    return PacketSizeDistribution.discrete(tuple(mean_bits * atoms * partial), (1 / atoms,) * atoms)


EXP_SIZES = exponential_sizes(PKT)


def chain(n_links: int, port: PortConfig = UNBOUNDED, prop_delay_s=0.0) -> Topology:
    """Nodes 0..n in a line with links i → i+1 of capacity C."""
    delays = np.broadcast_to(prop_delay_s, n_links)
    links = tuple(Link(i, i + 1, C, float(delays[i]), port=port) for i in range(n_links))
    return Topology(tuple(str(i) for i in range(n_links + 1)), links)


def scenario(topology: Topology, *flows: Flow) -> Scenario:
    return Scenario.with_shortest_paths(topology, Traffic(flows))


def flow(src: int, dst: int, load: float, size=EXP_SIZES, tos: int = 0, time=None) -> Flow:
    """A flow offering ``load`` × C bit/s (Poisson unless ``time`` says otherwise)."""
    return Flow(src, dst, load * C, tos, time or TimeDistribution.poisson(), size)


def relative_error(measured: float, expected: float) -> float:
    return abs(measured / expected - 1.0)


# ------------------------------------------------------------------------------------------- single queues
def test_mm1k_delay_and_loss_match_closed_form():
    """M/M/1/K with K = buffer (the buffer holds the waiting packets and the one in transmission).

    With ρ = λ/μ the stationary law is p_n = ρⁿ(1−ρ)/(1−ρ^(K+1)), n = 0..K. By PASTA an arrival is lost
    with probability p_K, and by Little's law an accepted packet stays L / (λ(1−p_K)) with L = Σ n p_n.
    """
    rho, k = 0.8, 5
    p = rho ** np.arange(k + 1)
    p /= p.sum()
    loss = p[k]
    lam = rho * C / PKT
    delay = np.dot(np.arange(k + 1), p) / (lam * (1 - loss))

    port = PortConfig(buffers=(float(k),))
    sample = simulate(scenario(chain(1, port), flow(0, 1, rho)), packets_per_flow=1_000_000, seed=1)
    labels = sample.flow_labels.iloc[0]
    # Standard errors at this length: 0.3 % (delay) and 0.65 % (loss).
    assert relative_error(labels.delay_s, delay) < 0.02
    assert relative_error(labels.loss, loss) < 0.02
    assert relative_error(sample.queue_labels.loss[0], loss) < 0.02
    assert sample.queue_labels.max_occupancy_pkts[0] == k


def test_md1_waiting_time_matches_pollaczek_khinchine():
    """M/D/1: mean wait W = ρ S / (2 (1 − ρ)) for service time S; the delay is W + S."""
    rho, service = 0.5, PKT / C
    sample = simulate(scenario(chain(1), flow(0, 1, rho, PacketSizeDistribution.fixed(PKT))), packets_per_flow=400_000)
    labels = sample.flow_labels.iloc[0]
    # Standard error of the mean wait at this length: 0.55 %.
    assert relative_error(labels.delay_s - service, rho * service / (2 * (1 - rho))) < 0.02
    assert labels.delay_p10_s == pytest.approx(service)  # half of the packets find the port idle
    assert sample.queue_labels.avg_occupancy_bits[0] == pytest.approx(labels.delay_s * C)


def test_tandem_delays_add_up_like_a_jackson_network():
    """Two M/M/1 queues in series. Cross traffic supplies 95 % of each queue's load, so the through flow's
    own packet sizes barely correlate with its waits (Kleinrock independence) and each queue is M/M/1 with
    sojourn 1/(μ − λ); the through flow's mean delay is the sum."""
    rho, through = 0.5, 0.05
    flows = (flow(0, 2, through * rho), flow(0, 1, (1 - through) * rho), flow(1, 2, (1 - through) * rho))
    sample = simulate(scenario(chain(2), *flows), packets_per_flow=50_000, seed=3)
    sojourn = PKT / C / (1 - rho)
    # Standard errors at this length: 0.2 % (through flow, plus a bias of about 0.4 % from its own sizes),
    # 0.35 % (each queue).
    assert relative_error(sample.flow_labels.delay_s[0], 2 * sojourn) < 0.02
    np.testing.assert_allclose(sample.queue_labels.avg_occupancy_bits / C, sojourn, rtol=0.02)
    np.testing.assert_allclose(sample.link_labels.utilization, rho, rtol=0.01)


# ------------------------------------------------------------------------------------------- schedulers
def test_strict_priority_matches_nonpreemptive_priority_formula():
    """Cobham's M/G/1 non-preemptive priority law: W_k = W0 / ((1 − σ_{k−1})(1 − σ_k)), W0 = Σ λ_i E[S_i²] / 2,
    σ_k = load of classes 0..k. The high class waits for at most the residual of one low packet."""
    port = PortConfig(Scheduling.SP, (1e9, 1e9), tos_to_queue=(0, 1))
    sizes = (PacketSizeDistribution.fixed(500.0), PacketSizeDistribution.fixed(1500.0))
    loads = (0.2, 0.5)
    flows = [flow(0, 1, load, size, tos) for tos, (load, size) in enumerate(zip(loads, sizes))]
    sample = simulate(scenario(chain(1, port), *flows), packets_per_flow=250_000, seed=4)

    service = np.array([s.mean_bits for s in sizes]) / C
    lam = np.array(loads) / service
    w0 = np.sum(lam * service**2) / 2
    sigma = np.cumsum(loads)
    waits = w0 / ((1 - np.concatenate([[0.0], sigma[:-1]])) * (1 - sigma))
    # Standard errors at this length: 0.16 % (high), 0.6 % (low).
    np.testing.assert_allclose(sample.flow_labels.delay_s, waits + service, rtol=0.02)


@pytest.mark.parametrize("scheduling", [Scheduling.WFQ, Scheduling.DRR])
def test_weighted_schedulers_share_a_saturated_port_by_weight(scheduling):
    """Every queue offered the full capacity: each gets its weight's share of the bits sent. The buffers
    outlast a DRR quantum (6 × 7.9 kbit for queue 0), so no queue runs dry during its turn."""
    weights = (60.0, 30.0, 10.0)
    port = PortConfig(scheduling, (64.0, 64.0, 64.0), weights=weights, tos_to_queue=(0, 1, 2))
    sizes = (PacketSizeDistribution.fixed(1500.0), PacketSizeDistribution.uniform(200.0, 1800.0), EXP_SIZES)
    flows = [flow(0, 1, 1.0, size, tos) for tos, size in enumerate(sizes)]
    sample = simulate(scenario(chain(1, port), *flows), duration_s=500.0, seed=5)
    utilization = sample.queue_labels.utilization.to_numpy()
    assert utilization.sum() == pytest.approx(1.0, abs=1e-3)
    # Shares are exact up to a few packets over ~50 000 packets sent.
    np.testing.assert_allclose(utilization / utilization.sum(), np.array(weights) / 100, rtol=0.02)


def test_wfq_keeps_a_light_queue_fast_under_heavy_load():
    """A lightly loaded queue with a large weight waits little although another queue is saturated."""
    port = PortConfig(Scheduling.WFQ, (16.0, 16.0), weights=(50.0, 50.0), tos_to_queue=(0, 1))
    sizes = PacketSizeDistribution.fixed(PKT)
    sample = simulate(scenario(chain(1, port), flow(0, 1, 0.1, sizes, 0), flow(0, 1, 2.0, sizes, 1)), duration_s=300.0)
    delay = sample.flow_labels.delay_s.to_numpy()
    assert delay[0] < 2.5 * PKT / C  # own transmission plus at most about one packet ahead
    assert delay[1] > 10 * PKT / C
    assert sample.flow_labels.loss[0] == 0.0


def test_wfq_serves_a_queue_below_its_share_like_a_priority_queue():
    """Equal weights, queue 0 offered 0.45 of the link, queue 1 saturating it. Tags grow with the service a queue has
    had (no system virtual time), so queue 0, taking less than queue 1, is always behind and served first: its
    packets wait as in a non-preemptive priority queue, W = R / (1 − ρ₀) with R = S / 2 (the link always busy)."""
    port = PortConfig(Scheduling.WFQ, (16.0, 16.0), weights=(50.0, 50.0), tos_to_queue=(0, 1))
    sizes = PacketSizeDistribution.fixed(PKT)
    sample = simulate(scenario(chain(1, port), flow(0, 1, 0.45, sizes, 0), flow(0, 1, 2.0, sizes, 1)), duration_s=300.0)
    service = PKT / C
    assert sample.flow_labels.loss[0] == 0.0
    assert sample.flow_labels.delay_s[0] == pytest.approx(service * (1 + 0.5 / (1 - 0.45)), rel=0.05)


# ------------------------------------------------------------------------------------------- bookkeeping
def overloaded_mesh() -> Scenario:
    """Three links in a line with small buffers and more traffic than they carry, several schedulers."""
    ports = (
        PortConfig(buffers=(3.0,)),
        PortConfig(Scheduling.DRR, (2.0, 2.0, 2.0), weights=(50.0, 30.0, 20.0), tos_to_queue=(0, 1, 2)),
        PortConfig(Scheduling.WFQ, (4000.0, 3000.0), "bits", weights=(1.0, 3.0), tos_to_queue=(0, 1)),
    )
    links = tuple(Link(i, i + 1, C, 0.001 * i, port=port) for i, port in enumerate(ports))
    topo = Topology(("0", "1", "2", "3"), links)
    sizes = PacketSizeDistribution.discrete((300.0, 1500.0), (0.5, 0.5))
    return scenario(
        topo,
        flow(0, 3, 0.5, sizes, 0),
        flow(0, 2, 0.6, EXP_SIZES, 1),
        flow(1, 3, 0.4, sizes, 2, TimeDistribution.on_off(0.05, 0.05)),
        flow(2, 3, 0.3, sizes, 1, TimeDistribution.cbr()),
    )


def test_conservation_every_packet_is_delivered_or_dropped():
    plan = build_plan(overloaded_mesh())
    flow_stats, queue_stats, rec_flow, _, rec_delay, packet_hops = kernel.run(*plan, 1.0, 20.0, 7, 16)
    generated = flow_stats[:, kernel.F_GEN]
    assert generated.min() > 500
    np.testing.assert_array_equal(generated, flow_stats[:, kernel.F_DELIVERED] + flow_stats[:, kernel.F_DROPS])
    arrivals = queue_stats[:, kernel.Q_ARRIVALS]
    np.testing.assert_array_equal(arrivals, queue_stats[:, kernel.Q_DROPS] + queue_stats[:, kernel.Q_TX_PKTS])
    assert queue_stats[:, kernel.Q_DROPS].sum() == flow_stats[:, kernel.F_DROPS].sum() > 0
    np.testing.assert_array_equal(np.bincount(rec_flow, minlength=4), flow_stats[:, kernel.F_DELIVERED])
    assert packet_hops >= queue_stats[:, kernel.Q_TX_PKTS].sum()
    assert np.all(rec_delay > 0)


@pytest.mark.parametrize("buffers, unit", [((1e9,), "packets"), ((3.0,), "packets"), ((6000.0,), "bits")])
def test_fifo_ports_give_the_results_of_the_event_driven_port_model(buffers, unit):
    """FIFO ports are served without transmission events (Lindley's recursion). A one-queue strict-priority port
    is the same queue served event by event, so every label must agree, drops included, on a meshed network
    with propagation delays (capacities differ per link so no two events coincide)."""

    def network(scheduling: Scheduling) -> Scenario:
        port = PortConfig(scheduling, buffers, unit)
        pairs = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)]
        links = [Link(u, v, C * (1 + 0.137 * i), 0.0007 * i, port=port) for i, (u, v) in enumerate(pairs)]
        links += [Link(v, u, C * (0.9 + 0.071 * i), 0.0011 * i, port=port) for i, (u, v) in enumerate(pairs)]
        flows = [flow(s, d, 0.25, EXP_SIZES) for s in range(4) for d in range(4) if s != d]
        return scenario(Topology(("0", "1", "2", "3"), tuple(links)), *flows)

    fifo = simulate(network(Scheduling.FIFO), packets_per_flow=2000, seed=5)
    event_driven = simulate(network(Scheduling.SP), packets_per_flow=2000, seed=5)
    assert fifo.flow_labels.delay_s.min() > 0
    pd.testing.assert_frame_equal(fifo.flow_labels, event_driven.flow_labels, rtol=1e-9)
    pd.testing.assert_frame_equal(fifo.queue_labels, event_driven.queue_labels, rtol=1e-9)
    if buffers[0] < 1e9:
        assert fifo.flow_labels.loss.max() > 0.01


def test_buffers_bound_occupancy_and_sample_is_well_formed():
    sample = simulate(overloaded_mesh(), duration_s=20.0, seed=2)
    assert list(sample.flow_labels.columns) == list(FLOW_LABELS)
    assert list(sample.link_labels.columns) == list(LINK_LABELS)
    assert list(sample.queue_labels.columns) == list(QUEUE_LABELS)
    queues = sample.queue_labels
    buffers = [b for link in sample.scenario.topology.links for b in link.port.buffers]
    in_bits = np.array([link.port.buffer_unit == "bits" for link in sample.scenario.topology.links])[
        sample.scenario.queues.link
    ]
    occupancy = np.where(in_bits, queues.max_occupancy_bits, queues.max_occupancy_pkts)
    assert np.all(occupancy <= buffers) and np.any(occupancy == buffers)
    assert queues.max_occupancy_bits[~in_bits].isna().all() and queues.max_occupancy_pkts[in_bits].isna().all()
    labels = sample.flow_labels
    np.testing.assert_allclose(labels.loss, labels.drops_per_s / labels.pkts_per_s)
    assert np.all(
        np.diff(labels[["delay_p10_s", "delay_p20_s", "delay_p50_s", "delay_p80_s", "delay_p90_s"]], axis=1) >= 0
    )
    link_util = np.bincount(sample.scenario.queues.link, queues.utilization)
    np.testing.assert_allclose(sample.link_labels.utilization, link_util)
    assert sample.meta["source"] == "ndtwin-sim" and sample.meta["sim_time_s"] == pytest.approx(18.0)
    assert sample.meta["warmup_s"] == pytest.approx(2.0)


def test_same_seed_same_sample_other_seed_other_sample():
    first, again = (simulate(overloaded_mesh(), duration_s=5.0, seed=11) for _ in range(2))
    other = simulate(overloaded_mesh(), duration_s=5.0, seed=12)
    pd.testing.assert_frame_equal(first.flow_labels, again.flow_labels)
    pd.testing.assert_frame_equal(first.queue_labels, again.queue_labels)
    assert first.meta == again.meta
    assert not first.flow_labels.equals(other.flow_labels)
    assert first.sample_id != other.sample_id


def test_bit_buffer_equals_packet_buffer_for_fixed_size_packets():
    fixed = PacketSizeDistribution.fixed(PKT)
    runs = [
        simulate(
            scenario(chain(2, PortConfig(buffers=(size,), buffer_unit=unit)), flow(0, 2, 0.95, fixed)),
            duration_s=200.0,
            seed=9,
        )  # fmt: skip
        for size, unit in ((5.0, "packets"), (5 * PKT, "bits"))
    ]
    pd.testing.assert_frame_equal(runs[0].flow_labels, runs[1].flow_labels)
    assert runs[0].flow_labels.loss[0] > 0
    np.testing.assert_array_equal(
        runs[0].queue_labels.max_occupancy_pkts * PKT, runs[1].queue_labels.max_occupancy_bits
    )


def test_propagation_delay_is_added_exactly():
    props = np.array([0.001, 0.02, 0.3])
    flows = (flow(0, 3, 0.4), flow(0, 1, 0.3), flow(0, 2, 0.2))
    plain, delayed = (
        simulate(scenario(chain(3, prop_delay_s=p), *flows), duration_s=50.0, seed=6) for p in (0.0, props)
    )
    path_delay = np.array([props.sum(), props[0], props[:2].sum()])
    delay_columns = ["delay_s", "delay_p10_s", "delay_p20_s", "delay_p50_s", "delay_p80_s", "delay_p90_s"]
    for column in delay_columns:
        np.testing.assert_allclose(delayed.flow_labels[column] - plain.flow_labels[column], path_delay, atol=1e-9)
    for column in ("delay_var_s2", "ipdv_s", "pkts_per_s", "loss"):
        np.testing.assert_allclose(delayed.flow_labels[column], plain.flow_labels[column], rtol=1e-6, atol=1e-12)


# ------------------------------------------------------------------------------------------- sources
def test_onoff_long_run_rate_is_the_nominal_rate():
    """The count N(T) of an ON-OFF source with exponential periods (rates α = 1/on, β = 1/off, ON share
    p = β/(α+β), rate λ_on while ON) has Var N ≈ λT + 2 λ_on² p (1−p) T / (α+β) for T ≫ on, off."""
    on, off, pkts_per_s, size = 0.05, 0.15, 200.0, 100.0  # 80 % of the link while ON
    law = TimeDistribution.on_off(on, off)
    sample = simulate(scenario(chain(1), Flow(0, 1, pkts_per_s * size, 0, law, PacketSizeDistribution.fixed(size))),
                      duration_s=2000.0, seed=8)  # fmt: skip
    window = sample.meta["sim_time_s"]
    p = on / (on + off)
    rate_on = pkts_per_s / p
    variance = pkts_per_s * window + 2 * rate_on**2 * p * (1 - p) * window / (1 / on + 1 / off)
    count = sample.flow_labels.pkts_per_s[0] * window
    assert abs(count - pkts_per_s * window) < 3 * np.sqrt(variance)
    assert np.sqrt(variance) < 0.015 * pkts_per_s * window  # the check is not vacuous


def test_cbr_sends_a_constant_packet_rate():
    sizes = PacketSizeDistribution.discrete((500.0, 1500.0), (0.5, 0.5))
    sample = simulate(scenario(chain(1), flow(0, 1, 0.5, sizes, time=TimeDistribution.cbr())), duration_s=100.0)
    labels = sample.flow_labels.iloc[0]
    window = sample.meta["sim_time_s"]
    assert abs(labels.pkts_per_s * window - 0.5 * C / PKT * window) <= 1.0
    assert labels.delay_p10_s == pytest.approx(500.0 / C)  # never queued: gaps of 20 ms, at most 15 ms sending


def test_packet_sizes_follow_the_size_law():
    sizes = PacketSizeDistribution.uniform(200.0, 1800.0)
    sample = simulate(scenario(chain(1), flow(0, 1, 0.3, sizes)), packets_per_flow=40_000)
    # Uniform on [200, 1800]: mean 1000, standard deviation 462; standard error of the mean 2.3 bits.
    assert sample.queue_labels.avg_pkt_bits[0] == pytest.approx(1000.0, abs=10.0)
    assert sample.flow_labels.delay_p10_s[0] >= 200.0 / C


def test_packets_per_flow_sets_the_run_length_from_the_slowest_flow():
    sample = simulate(scenario(chain(1), flow(0, 1, 0.1), flow(0, 1, 0.4)), packets_per_flow=2000, warmup_fraction=0.2)
    assert sample.meta["sim_time_s"] == pytest.approx(2000 / (0.1 * C / PKT))
    assert sample.meta["warmup_s"] == pytest.approx(0.25 * sample.meta["sim_time_s"])
    assert sample.flow_labels.pkts_per_s[0] * sample.meta["sim_time_s"] == pytest.approx(2000, rel=0.1)


# ------------------------------------------------------------------------------------------- statistics
def test_group_percentiles_match_numpy():
    rng = np.random.default_rng(0)
    counts = np.array([1, 2, 0, 7, 50, 3])
    groups = [rng.exponential(size=n) for n in counts]  # unsorted, as the simulator delivers them
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    quantiles = (0.0, 0.1, 0.5, 0.9, 0.99, 1.0)
    got = group_percentiles(np.concatenate(groups), start, counts, quantiles)
    expected = [[np.percentile(g, 100 * q) if len(g) else np.nan for g in groups] for q in quantiles]
    np.testing.assert_allclose(got, expected)


def test_delay_statistics_are_those_of_the_delivered_packets():
    plan = build_plan(overloaded_mesh())
    _, _, rec_flow, rec_gen, rec_delay, _ = kernel.run(*plan, 1.0, 10.0, 3, 16)
    sample = simulate(overloaded_mesh(), duration_s=10.0, warmup_fraction=0.1, seed=3)
    for f in range(4):
        delays = rec_delay[rec_flow == f]
        assert np.all(np.diff(rec_gen[rec_flow == f]) > 0)  # a flow's packets arrive in the order they left
        labels = sample.flow_labels.iloc[f]
        assert labels.delay_s == pytest.approx(delays.mean())
        assert labels.log_delay_mean == pytest.approx(np.log(delays).mean())
        assert labels.delay_var_s2 == pytest.approx(delays.var())
        assert labels.delay_p80_s == pytest.approx(np.percentile(delays, 80))
        assert labels.ipdv_s == pytest.approx(np.abs(np.diff(delays)).mean())


# ------------------------------------------------------------------------------------------- bad input
def test_unsupported_time_law_names_the_flow():
    law = TimeDistribution(TimeKind.PPBP)
    with pytest.raises(ScenarioError, match=r"traffic\.flows\[1\]\.time\.kind"):
        simulate(scenario(chain(1), flow(0, 1, 0.1), flow(0, 1, 0.1, time=law)), duration_s=1.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"duration_s": 1.0, "packets_per_flow": 10}, "duration_s"),
        ({"duration_s": -1.0}, "duration_s"),
        ({"packets_per_flow": 0}, "packets_per_flow"),
        ({"warmup_fraction": 1.0}, "warmup_fraction"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_run_parameters_are_rejected(kwargs, field):
    with pytest.raises(ScenarioError, match=field):
        simulate(scenario(chain(1), flow(0, 1, 0.1)), **kwargs)


def test_periodic_onoff_sends_one_extra_packet_per_on_period():
    """BNN-UPC-style ON-OFF: a packet at each ON start, then clock ticks while ON. Over n ON periods of mean
    length on the count is n (1 + λ_on·on): here 1.5× the nominal rate (the Poisson variant keeps 1.0×)."""
    on, off, pkts_per_s, size = 1.0, 1.0, 1.0, 100.0  # λ_on = 2 packets/s, 2 per ON period on average
    counts = {}
    for periodic in (False, True):
        law = TimeDistribution.on_off(on, off, periodic=periodic)
        sample = simulate(scenario(chain(1), Flow(0, 1, pkts_per_s * size, 0, law, PacketSizeDistribution.fixed(size))),
                          duration_s=8000.0, seed=3)  # fmt: skip
        counts[periodic] = sample.flow_labels.pkts_per_s[0] / pkts_per_s
    # ~3600 ON periods in the window: the count's relative standard error is about 2.5 %.
    assert counts[True] == pytest.approx(1.5, rel=0.08)
    assert counts[False] == pytest.approx(1.0, rel=0.08)
