import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ndtwin import (
    Flow,
    Link,
    PacketSizeDistribution,
    PortConfig,
    Routing,
    Scenario,
    ScenarioError,
    Scheduling,
    TimeDistribution,
    Topology,
    Traffic,
)
from ndtwin.scenario.similarity import rescaled
from ndtwin.twin.qt import QueueingTheoryTwin

BAD_NUMBERS = st.one_of(st.floats(max_value=0.0), st.just(math.nan), st.just(math.inf), st.just(-math.inf))


def ring(n: int = 4, capacity: float = 1e6) -> Topology:
    return Topology.from_edges(n, [(i, (i + 1) % n, capacity) for i in range(n)])


@given(BAD_NUMBERS)
def test_bad_capacity_names_the_field(capacity):
    with pytest.raises(ScenarioError, match=r"topology\.links\[0\]\.capacity_bps: expected a finite number > 0"):
        Topology(("a", "b"), (Link(0, 1, capacity),))


@given(st.one_of(st.floats(max_value=-1e-12), st.just(math.nan), st.just(math.inf)))
def test_bad_propagation_delay(delay):
    with pytest.raises(ScenarioError, match=r"prop_delay_s: expected a finite number >= 0"):
        Topology(("a", "b"), (Link(0, 1, 1e6, delay),))


@given(st.integers(2, 50), st.integers(0, 60), st.integers(0, 60))
def test_link_endpoints_must_be_nodes(n, u, v):
    links = (Link(u, v, 1e6),)
    if u < n and v < n and u != v:
        assert Topology(tuple(map(str, range(n))), links).link_id(u, v) == 0
    else:
        with pytest.raises(ScenarioError, match=r"topology\.links\[0\]"):
            Topology(tuple(map(str, range(n))), links)


@given(BAD_NUMBERS)
def test_bad_flow_rate(rate):
    with pytest.raises(ScenarioError, match=r"traffic\.flows\[0\]\.rate_bps"):
        Traffic([Flow(0, 1, rate)])


def test_path_must_follow_links():
    topo = ring()
    with pytest.raises(
        ScenarioError, match=r"routing\.paths\[\(0, 2\)\]: expected a path that follows links \(no link 0→2\)"
    ):
        Scenario(topo, Routing.from_paths([(0, 2)]), Traffic([Flow(0, 2, 1e3)]))


def test_path_must_match_its_pair_and_be_loop_free():
    with pytest.raises(ScenarioError, match="from 0 to 2"):
        Routing({(0, 2): (0, 1)})
    with pytest.raises(ScenarioError, match="loop-free"):
        Routing({(0, 2): (0, 1, 0, 1, 2)})


def test_unknown_node_in_flow():
    topo = ring()
    routing = Routing.shortest_paths(topo)
    with pytest.raises(ScenarioError, match=r"traffic\.flows\[0\]\.dst: expected a node index < 4"):
        Scenario(topo, routing, Traffic([Flow(0, 9, 1e3)]))
    with pytest.raises(ScenarioError, match="node"):
        topo.node_index("nowhere")


def test_unrouted_and_unreachable_pairs():
    topo = Topology.from_edges(3, [(0, 1, 1e6)])
    with pytest.raises(ScenarioError, match=r"routing pair \(0, 2\): expected a destination reachable"):
        Routing.shortest_paths(topo, [(0, 2)])
    with pytest.raises(ScenarioError, match=r"traffic\.flows\[0\]: expected a routed pair"):
        Scenario(topo, Routing.from_paths([(0, 1)]), Traffic([Flow(1, 0, 1e3)]))


def test_port_config_validation():
    with pytest.raises(ScenarioError, match="exactly one queue under FIFO"):
        PortConfig(Scheduling.FIFO, buffers=(10, 10))
    with pytest.raises(ScenarioError, match="3 weights for WFQ"):
        PortConfig(Scheduling.WFQ, buffers=(10, 10, 10), tos_to_queue=(0, 1, 2))
    with pytest.raises(ScenarioError, match=r"tos_to_queue\[2\]: expected an integer >= 0 and <= 1"):
        PortConfig(Scheduling.SP, buffers=(10, 10), tos_to_queue=(0, 1, 2))
    with pytest.raises(ScenarioError, match="one of"):
        PortConfig("LIFO")
    with pytest.raises(ScenarioError, match="1 to 3 queue"):
        PortConfig(Scheduling.SP, buffers=(1, 1, 1, 1), tos_to_queue=(0,))
    port = PortConfig(
        "drr", buffers=(8000, 8000, 8000), buffer_unit="bits", weights=(60, 30, 10), tos_to_queue=(0, 1, 2)
    )
    assert port.scheduling is Scheduling.DRR
    assert port.weight_shares() == pytest.approx((0.6, 0.3, 0.1))
    assert port.queue_of(7) == 2


def test_distributions():
    size = PacketSizeDistribution.discrete((500, 1000, 1500), (0.2, 0.3, 0.5))
    assert size.mean_bits == pytest.approx(100 + 300 + 750)
    assert size.second_moment_bits2 == pytest.approx(0.2 * 500**2 + 0.3 * 1000**2 + 0.5 * 1500**2)
    uniform = PacketSizeDistribution.uniform(300, 1700)
    assert uniform.mean_bits == 1000 and uniform.second_moment_bits2 == pytest.approx(
        (300**2 + 300 * 1700 + 1700**2) / 3
    )
    with pytest.raises(ScenarioError, match="summing to 1"):
        PacketSizeDistribution.discrete((1, 2), (0.5, 0.2))
    with pytest.raises(ScenarioError, match=r"time\.params\.off_s: expected a value"):
        TimeDistribution("onoff", {"on_s": 1})
    assert TimeDistribution.on_off(5, 5) == TimeDistribution("onoff", {"off_s": 5, "on_s": 5.0})


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 12), st.integers(0, 2**32 - 1))
def test_shortest_paths_are_shortest_and_follow_links(n, seed):
    rng = np.random.default_rng(seed)
    edges = [(i, (i + 1) % n, 1e6) for i in range(n)]  # a ring keeps the graph connected
    edges += [
        (int(u), int(v), 1e6) for u, v in rng.integers(0, n, (n, 2)) if u != v and abs(u - v) % n not in (1, n - 1)
    ]
    edges = list({(min(u, v), max(u, v)): (u, v, c) for u, v, c in edges}.values())
    topo = Topology.from_edges(n, edges)
    topo = Topology(
        topo.node_names,
        tuple(Link(lk.src, lk.dst, lk.capacity_bps, weight=float(rng.integers(1, 5))) for lk in topo.links),
    )
    routing = Routing.shortest_paths(topo)
    import networkx as nx

    graph = nx.DiGraph([(lk.src, lk.dst, {"w": lk.weight}) for lk in topo.links])
    lengths = dict(nx.all_pairs_dijkstra_path_length(graph, weight="w"))
    for (s, d), path in routing.paths.items():
        cost = sum(topo.links[topo.link_id(u, v)].weight for u, v in zip(path, path[1:]))
        assert cost == pytest.approx(lengths[s][d])
    Scenario(topo, routing, Traffic([Flow(s, d, 1e3) for s, d in routing.paths]))


def test_shortest_paths_of_numpy_pairs_are_plain_ints():
    routing = Routing.shortest_paths(ring(5), [(np.int64(0), np.int64(2))])
    ((key, path),) = routing.paths.items()
    assert key == (0, 2) and all(type(node) is int for node in (*key, *path))


def test_a_link_port_that_is_not_a_port_config_is_named():
    with pytest.raises(ScenarioError, match=r"topology\.links\[0\]\.port: expected a PortConfig"):
        Topology(("a", "b"), (Link(0, 1, 1e6, port="FIFO"),))


def test_shortest_paths_refuse_a_pair_outside_the_topology():
    with pytest.raises(ScenarioError, match=r"routing pair: expected node indices below the topology's 5 nodes"):
        Routing.shortest_paths(ring(5), [(0, 9)])


def test_reroute_after_link_failure_avoids_the_link():
    topo = ring(5)
    scenario = Scenario.with_shortest_paths(topo, Traffic([Flow(0, 1, 1e3), Flow(0, 2, 1e3)]))
    assert scenario.routing.path(0, 1) == (0, 1)
    failed = scenario.rerouted(topo.without_links([(0, 1)]))
    assert failed.routing.path(0, 1) == (0, 4, 3, 2, 1)
    assert failed.routing.path(0, 2) == (0, 4, 3, 2)
    with pytest.raises(ScenarioError, match=r"routing pair \(0, 1\): expected a destination reachable"):
        scenario.rerouted(topo.without_nodes([1]))
    one_flow = Scenario.with_shortest_paths(topo, Traffic([Flow(0, 2, 1e3)]))
    assert one_flow.rerouted(topo.without_nodes([1])).routing.path(0, 2) == (0, 4, 3, 2)


def test_next_hop_routing_and_its_errors():
    next_hop = np.full((3, 3), -1)
    next_hop[0, 2], next_hop[1, 2] = 1, 2
    assert Routing.from_next_hop(next_hop, [(0, 2)]).path(0, 2) == (0, 1, 2)
    with pytest.raises(ScenarioError, match=r"next_hop\[1, 0\]"):
        Routing.from_next_hop(next_hop, [(1, 0)])
    loop = np.array([[-1, 1, 1], [0, -1, 0], [0, 0, -1]])
    with pytest.raises(ScenarioError, match="loop-free"):
        Routing.from_next_hop(loop, [(0, 2)])


def test_hop_table_matches_paths():
    topo = Topology.from_edges(
        4,
        [(0, 1, 1e6), (1, 2, 1e6), (2, 3, 1e6)],
        port=PortConfig(Scheduling.SP, buffers=(5, 5, 5), tos_to_queue=(0, 1, 2)),
    )
    traffic = Traffic([Flow(0, 3, 1e3, tos=2), Flow(2, 1, 1e3, tos=0)])
    scenario = Scenario.with_shortest_paths(topo, traffic)
    hops = scenario.hops
    assert hops.flow.tolist() == [0, 0, 0, 1]
    assert hops.position.tolist() == [0, 1, 2, 0]
    assert [(topo.links[lk].src, topo.links[lk].dst) for lk in hops.link] == [(0, 1), (1, 2), (2, 3), (2, 1)]
    assert scenario.queues.index[hops.queue].tolist() == [2, 2, 2, 0]
    assert scenario.queues.link[hops.queue].tolist() == hops.link.tolist()
    assert hops.flow_offset.tolist() == [0, 3, 4]


def test_similarity_transform_scales_times_and_keeps_loads():
    port = PortConfig(Scheduling.SP, buffers=(8000.0, 8000.0, 16000.0), buffer_unit="bits", tos_to_queue=(0, 1, 2))
    topology = Topology.from_edges(
        4, [(0, 1, 1e5), (1, 2, 2e5), (2, 3, 1e5), (3, 0, 1e5)], prop_delay_s=2e-3, port=port
    )
    sizes = PacketSizeDistribution.discrete((500.0, 1500.0), (0.5, 0.5))
    flows = [
        Flow(0, 2, 4e4, 0, TimeDistribution.on_off(0.5, 1.5), sizes),
        Flow(1, 3, 6e4, 2, TimeDistribution.cbr(), sizes),
    ]
    scenario = Scenario.with_shortest_paths(topology, Traffic(flows))
    fast = rescaled(scenario, size_factor=8.0, speed_factor=1e4)
    assert fast.topology.capacity_bps[0] == pytest.approx(1e5 * 8e4)
    assert fast.topology.prop_delay_s[0] == pytest.approx(2e-7)
    assert fast.topology.links[0].port.buffers == (64000.0, 64000.0, 128000.0)
    assert fast.traffic.flows[0].time.params["on_s"] == pytest.approx(0.5e-4)
    assert fast.traffic.mean_size_bits[0] == pytest.approx(8000.0)
    slow, quick = QueueingTheoryTwin().predict(scenario), QueueingTheoryTwin().predict(fast)
    np.testing.assert_allclose(quick["delay_s"] * 1e4, slow["delay_s"], rtol=1e-9)
    np.testing.assert_allclose(quick["loss"], slow["loss"], rtol=1e-9, atol=1e-15)
