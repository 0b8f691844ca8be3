"""Live check that the HTB approximation of a strict-priority port serves the high-priority queue first."""

from ndtwin.emulate import EmulationSettings, emulate
from ndtwin.scenario import Flow, PacketSizeDistribution, PortConfig, Scenario, Scheduling, Topology, Traffic
from test_emulate import live  # noqa: F401


def test_strict_priority_serves_tos_0_before_tos_2(live):  # noqa: F811
    port = PortConfig(Scheduling.SP, buffers=(64, 64, 64), tos_to_queue=(0, 1, 2))
    topology = Topology.from_edges(2, [(0, 1, 2e6)], port=port)
    size = PacketSizeDistribution.fixed(8000.0)
    flows = (Flow(0, 1, 0.45 * 2e6, tos=0, size=size), Flow(0, 1, 0.45 * 2e6, tos=2, size=size))
    run = emulate(Scenario.with_shortest_paths(topology, Traffic(flows)), EmulationSettings(duration_s=3.0, seed=2))
    waits = run.sample.meta["measured_delay_s"]
    # at 90 % load the low-priority queue waits behind every high-priority packet: several times longer
    assert waits[1] > 2 * waits[0]
