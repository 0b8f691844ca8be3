"""ndtwin's packet simulator against ns-3 on the same scenario: speed and per-flow mean delay.

All-pairs Poisson traffic on Abilene (11 nodes, 28 directed links of 10 Mbit/s, propagation delays from the
node coordinates, FIFO ports of 64 packets), busiest link at 80 % load. Both backends are warmed up first
(numba compilation, ns-3 start-up and first run), so the timings cover simulation only: a whole
``simulate`` call each, in wall time and in CPU time (for ns-3, this process's plus the worker's; CPU time is
the steadier figure on a shared machine). The noise floor is the same comparison between two seeds of
ndtwin's simulator.

    .venv/bin/python bench/sim_vs_ns3.py [--packets-per-flow N]
"""

from __future__ import annotations

import argparse
import time
import warnings
from importlib import resources

import numpy as np

from ndtwin.data.topology_io import TopologyWarning, read_topology
from ndtwin.scenario import PortConfig, Scenario
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.sim import kernel, simulate
from ndtwin.sim.ns3_backend import Ns3Worker
from ndtwin.sim.plan import build_plan
from ndtwin.sim.simulate import run_window

CAPACITY_BPS = 10e6
MAX_UTILIZATION = 0.8


def abilene_scenario() -> Scenario:
    path = resources.files("ndtwin") / "resources" / "Abilene.graphml"
    with resources.as_file(path) as file, warnings.catch_warnings():
        warnings.simplefilter("ignore", TopologyWarning)  # no speeds in the file: CAPACITY_BPS on purpose
        topology = read_topology(file, default_capacity_bps=CAPACITY_BPS, port=PortConfig(buffers=(64,)))
    return all_pairs_scenario(topology, max_utilization=MAX_UTILIZATION, seed=1)


def ndtwin_packet_hops(scenario: Scenario, packets_per_flow: int, seed: int) -> int:
    """Transmissions in ndtwin's run (the same deterministic run as ``simulate`` with this seed)."""
    window = run_window(scenario, packets_per_flow, None, 0.1)
    return int(kernel.run(*build_plan(scenario), window.warmup_s, window.end_s, seed, 0)[5])


def relative_differences(reference: np.ndarray, other: np.ndarray) -> str:
    diff = np.abs(other - reference) / reference
    quantiles = np.quantile(diff, [0.5, 0.95, 1.0])
    return f"mean {diff.mean():.2%}, median {quantiles[0]:.2%}, p95 {quantiles[1]:.2%}, max {quantiles[2]:.2%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets-per-flow", type=int, default=5000, help="measured packets of the slowest flow")
    args = parser.parse_args()
    scenario = abilene_scenario()
    n = args.packets_per_flow
    topo = scenario.topology
    print(f"Abilene: {topo.n_nodes} nodes, {topo.n_links} links, {scenario.n_flows} flows, "
          f"busiest link at {MAX_UTILIZATION:.0%}, {n} measured packets for the slowest flow")  # fmt: skip
    small = all_pairs_scenario(topo, max_utilization=0.5, seed=2)
    with Ns3Worker() as worker:
        simulate(small, packets_per_flow=50)  # numba compilation
        worker.simulate(small, packets_per_flow=50)  # ns-3's first run
        wall, cpu = time.perf_counter(), time.process_time()
        ours = simulate(scenario, packets_per_flow=n, seed=0)
        ours_s, ours_cpu = time.perf_counter() - wall, time.process_time() - cpu
        wall, cpu = time.perf_counter(), time.process_time()
        theirs = worker.simulate(scenario, packets_per_flow=n, seed=0)
        theirs_s, theirs_cpu = time.perf_counter() - wall, time.process_time() - cpu + theirs.meta["ns3_worker_cpu_s"]
    ours_hops, theirs_hops = ndtwin_packet_hops(scenario, n, 0), theirs.meta["packet_hops"]
    print(f"ndtwin: {ours_hops:,} packet-hops in {ours_s:.2f} s wall, {ours_cpu:.2f} s CPU: "
          f"{ours_hops / ours_s:,.0f} packet-hops/s wall, {ours_hops / ours_cpu:,.0f} per CPU-s")  # fmt: skip
    print(f"ns-3:   {theirs_hops:,} packet-hops in {theirs_s:.2f} s wall, {theirs_cpu:.2f} s CPU: "
          f"{theirs_hops / theirs_s:,.0f} packet-hops/s wall, {theirs_hops / theirs_cpu:,.0f} per CPU-s "
          f"(Simulator::Run alone {theirs.meta['ns3_run_s']:.2f} s wall)")  # fmt: skip
    wall_ratio = (ours_hops / ours_s) / (theirs_hops / theirs_s)
    cpu_ratio = (ours_hops / ours_cpu) / (theirs_hops / theirs_cpu)
    print(f"speed ratio ndtwin / ns-3: {wall_ratio:.1f}x in wall time, {cpu_ratio:.1f}x in CPU time")
    propagation = np.bincount(scenario.hops.flow, topo.prop_delay_s[scenario.hops.link], minlength=scenario.n_flows)
    other_seed = simulate(scenario, packets_per_flow=n, seed=1).flow_labels["delay_s"].to_numpy()
    ours_delay = ours.flow_labels["delay_s"].to_numpy()
    theirs_delay = theirs.flow_labels["delay_s"].to_numpy()
    print(f"per-flow mean delay, |ns-3 - ndtwin| / ndtwin:       {relative_differences(ours_delay, theirs_delay)}")
    print(f"  noise floor, ndtwin seed 1 vs seed 0:             {relative_differences(ours_delay, other_seed)}")
    print("same, delay beyond propagation (queueing + transmission):")
    queueing = ours_delay - propagation
    theirs_queueing, other_queueing = theirs_delay - propagation, other_seed - propagation
    print(f"  |ns-3 - ndtwin| / ndtwin:                         {relative_differences(queueing, theirs_queueing)}")
    print(f"  noise floor, ndtwin seed 1 vs seed 0:             {relative_differences(queueing, other_queueing)}")
    loss = ours.flow_labels["loss"].mean(), theirs.flow_labels["loss"].mean()
    print(f"mean per-flow loss: ndtwin {loss[0]:.2e}, ns-3 {loss[1]:.2e}")


if __name__ == "__main__":
    main()
