import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from ndtwin.emulate import EmulationSettings, emulate, prepare
from ndtwin.emulate.host import HostError, check_host, existing_namespaces
from ndtwin.emulate.layout import Layout
from ndtwin.emulate.measure import inverse_capacity_sum
from ndtwin.emulate.routes import route_commands
from ndtwin.emulate.scaled import emulated_scenario
from ndtwin.emulate.shaping import port_commands
from ndtwin.emulate.state import STATE_DIR, sweep_stale
from ndtwin.errors import ScenarioError
from ndtwin.scenario import Flow, PacketSizeDistribution, PortConfig, Routing, Scenario, Scheduling, Topology, Traffic
from ndtwin.sim import simulate

CAPACITY_BPS = 4e6
PACKET_BITS = 8000.0


def line(load: float = 0.8) -> Scenario:
    """0 - 1 - 2, one Poisson flow 0 → 2 of 1000-byte packets loading both links at ``load``."""
    topology = Topology.from_edges(3, [(0, 1, CAPACITY_BPS), (1, 2, CAPACITY_BPS)])
    flow = Flow(0, 2, load * CAPACITY_BPS, size=PacketSizeDistribution.fixed(PACKET_BITS))
    return Scenario.with_shortest_paths(topology, Traffic((flow,)))


def _probe() -> str | None:
    """Why live emulation cannot run here (None if it can): root, iproute2, namespaces, veth, htb, fifos, u32."""
    try:
        check_host()
    except HostError as error:
        return str(error)
    name = f"ndt-probe{uuid.uuid4().hex[:6]}"
    steps = [
        ["ip", "netns", "add", name],
        ["ip", "-n", name, "link", "add", "name", "p0", "type", "veth", "peer", "name", "p1"],
        ["tc", "-n", name, "qdisc", "add", "dev", "p0", "root", "handle", "1:", "htb", "default", "10"],
        ["tc", "-n", name, "class", "add", "dev", "p0", "parent", "1:", "classid", "1:10", "htb", "rate", "1mbit"],
        ["tc", "-n", name, "qdisc", "add", "dev", "p0", "parent", "1:10", "handle", "10:", "pfifo", "limit", "5"],
        ["tc", "-n", name, "qdisc", "add", "dev", "p1", "root", "bfifo", "limit", "5000"],
        ["tc", "-n", name, "filter", "add", "dev", "p0", "parent", "1:", "protocol", "ip", "u32", "match", "ip",
         "tos", "0x04", "0xfc", "flowid", "1:10"],
    ]  # fmt: skip
    try:
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                return f"'{' '.join(step)}' failed: {done.stderr.strip()}"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


@pytest.fixture(scope="module")
def live() -> None:
    reason = _probe()
    if reason:
        pytest.skip(f"live emulation unavailable: {reason}")


def test_scaling_keeps_utilisation_and_drops_propagation():
    scenario = line()
    emulated, scale = emulated_scenario(scenario, 1e6)
    assert scale == pytest.approx(0.25)
    assert emulated.topology.capacity_bps.max() == pytest.approx(1e6)
    assert emulated.traffic.rate_bps[0] / emulated.topology.capacity_bps[0] == pytest.approx(0.8)
    assert not emulated.topology.prop_delay_s.any()


def test_packets_outside_the_ip_limits_and_excess_rates_are_refused():
    tiny = Flow(0, 2, 1e5, size=PacketSizeDistribution.fixed(100.0))
    scenario = Scenario.with_shortest_paths(line().topology, Traffic((tiny,)))
    with pytest.raises(ScenarioError, match="sizes_bits"):
        emulated_scenario(scenario, 1e6)
    with pytest.raises(ScenarioError, match="packets/s"):
        prepare(line(), EmulationSettings(capacity_bps=1e9))


def test_priority_and_weighted_ports_become_htb_classes_chosen_by_tos():
    sp = port_commands("to1", PortConfig(Scheduling.SP, (10, 20, 30), tos_to_queue=(0, 1, 2)), 1e6, 1500)
    assert [line for line in sp if " prio 2 " in line and "classid 1:12" in line]
    assert sum("u32 match ip tos 0x08 0xfc flowid 1:12" in line for line in sp) == 1
    assert sum("pfifo limit 30" in line for line in sp) == 1
    wfq = port_commands(
        "to1", PortConfig(Scheduling.WFQ, (8000, 8000), "bits", weights=(75, 25), tos_to_queue=(0, 1)), 1e6, 1500
    )
    assert any("classid 1:10 htb rate 750000bit ceil 1000000bit" in line for line in wfq)
    assert sum("bfifo limit 1000" in line for line in wfq) == 2


def test_paths_that_differ_from_destination_routes_get_policy_rules():
    topology = Topology.from_edges(5, [(0, 1, 1e6), (1, 3, 1e6), (0, 2, 1e6), (2, 3, 1e6), (4, 0, 1e6)])
    # towards node 3, node 0 forwards two pairs via 1 and the pair (1, 3) via 2
    routing = Routing({(0, 3): (0, 1, 3), (4, 3): (4, 0, 1, 3), (1, 3): (1, 0, 2, 3)})
    node0 = route_commands(Layout.of(topology, "t"), routing)[0]
    assert "route add 198.19.0.4 via 198.18.0.1 dev to1" in node0  # the majority: main table via node 1
    rules = [line for line in node0 if line.startswith("rule")]
    assert rules == ["rule add priority 1000 from 198.19.0.2 to 198.19.0.4 lookup 1002"]
    assert "route add 198.18.0.0/15 via 198.18.0.3 dev to2 table 1002" in node0


def _our_namespaces(prefix: str) -> set[str]:
    return {name for name in existing_namespaces() if name.startswith(prefix)}


def test_one_flow_on_a_line_queues_like_the_simulator_and_leaves_nothing(live):
    run = emulate(line(), EmulationSettings(duration_s=3.0, capacity_bps=CAPACITY_BPS, seed=3))
    assert not _our_namespaces(f"ndt-{run.sample.meta['run_id']}-")
    labels = run.sample.flow_labels
    transmission = PACKET_BITS / CAPACITY_BPS
    measured = run.sample.meta["measured_delay_s"][0]
    # HTB releases a packet at the start of its slot: what is measured is the wait behind other packets, which at
    # 80 % load (M/D/1: 2 transmission times) exceeds a packet's own transmission time.
    assert measured > transmission
    assert labels["delay_s"][0] == pytest.approx(measured + 2 * transmission)
    assert labels["pkts_per_s"][0] == pytest.approx(400, rel=0.15)
    simulated = simulate(run.sample.scenario, packets_per_flow=4000, seed=1).flow_labels
    # a loose bound: on a busy host the sources send late and in bursts (the run is then flagged cpu_saturated)
    assert 0.5 < labels["delay_s"][0] / simulated["delay_s"][0] < 2.5
    assert labels["loss"][0] < 0.01
    assert np.isfinite(run.sample.link_labels["utilization"]).all()
    assert run.sample.link_labels["utilization"][0] == pytest.approx(0.8, rel=0.2)
    assert inverse_capacity_sum(run.sample.scenario)[0] == pytest.approx(2 / CAPACITY_BPS)


def _network_in_a_child(run_id: str) -> subprocess.Popen:
    """A process that builds the line as ``run_id`` and waits inside it; returns once the network is up."""
    script = (
        "import sys, time\n"
        "from ndtwin.emulate.network import LiveNetwork\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_emulate import line\n"
        f"with LiveNetwork(line(), run_id={run_id!r}):\n"
        "    print('up', flush=True)\n"
        "    time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, os.path.dirname(__file__)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "up"
    assert len(_our_namespaces(f"ndt-{run_id}-")) == 3
    return child


def test_a_killed_run_is_cleaned_up_by_the_next(live):
    run_id = f"k{uuid.uuid4().hex[:6]}"
    child = _network_in_a_child(run_id)
    child.send_signal(signal.SIGKILL)
    child.wait()
    sweep_stale()  # what the next run does first (a concurrent run may have swept already: same code)
    assert not _our_namespaces(f"ndt-{run_id}-")
    assert not (STATE_DIR / f"{run_id}.json").exists()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_terminated_or_interrupted_run_tears_its_network_down(live, stop):
    run_id = f"t{uuid.uuid4().hex[:6]}"
    child = _network_in_a_child(run_id)
    child.send_signal(stop)
    child.wait(timeout=20)
    assert not _our_namespaces(f"ndt-{run_id}-")
    assert not (STATE_DIR / f"{run_id}.json").exists()


def test_per_pair_paths_are_followed_by_policy_routing(live):
    ring = Topology.from_edges(4, [(0, 1, 1e6), (1, 2, 1e6), (2, 3, 1e6), (3, 0, 1e6)])
    size = PacketSizeDistribution.fixed(4000.0)
    flows = (Flow(0, 2, 1e5, size=size), Flow(1, 2, 1e5, size=size))
    routing = Routing({(0, 2): (0, 1, 2), (1, 2): (1, 0, 3, 2)})  # not one next hop per destination at 0 and 1
    scenario = Scenario(ring, routing, Traffic(flows))
    run = emulate(scenario, EmulationSettings(duration_s=1.5, capacity_bps=1e6, seed=1))
    assert (run.sample.flow_labels["loss"] == 0).all()
    used = run.sample.link_labels["utilization"].to_numpy()
    on_a_path = {ring.link_id(u, v) for path in routing.paths.values() for u, v in zip(path, path[1:])}
    for link in range(ring.n_links):
        assert (used[link] > 0.05) == (link in on_a_path), (ring.links[link], used[link])


def test_the_cli_contract_prints_one_json_object_with_the_simulators_errors(live, tmp_path):
    from ndtwin.data.native import read_dataset
    from ndtwin.data.topology_io import write_gml

    gml = tmp_path / "line.gml"
    write_gml(line().topology, gml)
    command = [sys.executable, "-m", "ndtwin", "emulate", str(gml), "--duration", "1.5", "--load", "0.5"]
    done = subprocess.run(
        [*command, "--capacity", "1e6", "--compare", "--json", "--out", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["n_flows"] == 6
    assert isinstance(result["cpu_saturated"], bool)
    assert result["delay"]["mape"] >= 0 and result["delay"]["median_ape"] >= 0 and result["loss"]["mae"] >= 0
    (stored,) = read_dataset(tmp_path / "runs")
    assert stored.meta["source"] == "ndtwin-emulate"
    assert stored.scenario.topology.capacity_bps.max() == pytest.approx(1e6)
    assert not _our_namespaces(f"ndt-{stored.meta['run_id']}-")


@pytest.mark.parametrize(("option", "value"), [("--duration", "0"), ("--load", "-1"), ("--capacity", "0")])
def test_cli_options_are_checked_by_their_own_names_before_anything_is_built(option, value):
    from typer.testing import CliRunner

    from ndtwin.cli.main import app

    abilene = str(Path(__file__).resolve().parents[1] / "src/ndtwin/resources/Abilene.graphml")
    result = CliRunner().invoke(app, ["emulate", abilene, option, value])
    assert result.exit_code == 2
    assert f"{option}: expected a finite number > 0" in " ".join(result.output.split())
