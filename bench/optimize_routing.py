"""Routing optimization on Abilene at high load: the twin-guided evolution strategy against shortest paths,
confirmed by simulation, and the same search with the simulator as oracle for the speed ratio.

    python bench/optimize_routing.py [--model default] [--generations 40] [--sim-generations 3]

Scenario: the Topology Zoo Abilene graph (11 nodes, 14 links), every link 100 kbit/s both ways (the file has no
speeds) without propagation delay (a queueing-dominated regime), FIFO ports with 32-packet buffers; one Poisson
flow per ordered pair with a gravity traffic matrix (rate ∝ m_s × m_d, node masses log-normal(0, 1)), packet
sizes 500–1500 bit (GenerationSpec's second size profile, as in the GNN's training data), scaled so the busiest
link is at --load under hop-count shortest paths.

Speed: each oracle runs the same --sim-generations search; the twins' searches take a fraction of a second, so
they are repeated --repeats times and their median CPU and wall times are reported (every repeat is printed);
the simulator's search runs once.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ndtwin.data.topology_io import TopologyWarning, read_topology
from ndtwin.generate import GenerationSpec
from ndtwin.optimize import evolve, greedy, simulation_oracle, summary
from ndtwin.scenario import PacketSizeDistribution, Scenario, Traffic
from ndtwin.scenario.generate import all_pairs_scenario, link_loads_bps
from ndtwin.twin.catalog import load_twin

ABILENE = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "topologies" / "topology-zoo" / "Abilene.graphml"
)
CAPACITY_BPS = 100e3


def gravity_scenario(load: float, seed: int) -> Scenario:
    """Abilene with a gravity traffic matrix scaled so the busiest link is at ``load`` (see the module doc)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TopologyWarning)
        topology = read_topology(ABILENE, default_capacity_bps=CAPACITY_BPS)
    topology = replace(topology, links=tuple(replace(link, prop_delay_s=0.0) for link in topology.links))
    spec = GenerationSpec()
    size = PacketSizeDistribution.discrete(spec.packet_sizes_bits, spec.size_profiles[1])
    uniform = all_pairs_scenario(topology, max_utilization=load, seed=seed, size=size)
    mass = np.random.default_rng(seed).lognormal(0.0, 1.0, topology.n_nodes)
    gravity = replace(
        uniform,
        traffic=Traffic(tuple(replace(f, rate_bps=float(mass[f.src] * mass[f.dst])) for f in uniform.traffic.flows)),
    )
    busiest = float(np.max(link_loads_bps(gravity) / topology.capacity_bps))
    return replace(gravity, traffic=gravity.traffic.scaled(load / busiest))


def simulated_mean_delay(scenario: Scenario, packets: int, seeds: list[int]) -> dict[str, float]:
    """Simulated figures averaged over seeds."""
    runs = [summary(simulation_oracle(packets, seed)(scenario)) for seed in seeds]
    return {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--load", type=float, default=0.95)
    parser.add_argument("--traffic-seed", type=int, default=1)
    parser.add_argument("--generations", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--confirm-packets", type=int, default=2000, help="simulation length of the confirmation")
    parser.add_argument("--sim-generations", type=int, default=3, help="generations of the speed comparison")
    parser.add_argument("--sim-packets", type=int, default=1000, help="simulation length of the simulator oracle")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the twins' speed searches (median)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    scenario = gravity_scenario(args.load, args.traffic_seed)
    utilization = np.sort(link_loads_bps(scenario) / scenario.topology.capacity_bps)[::-1]
    print(
        f"Abilene: {scenario.topology.n_nodes} nodes, {scenario.topology.n_links} links, {scenario.n_flows} flows; "
        f"busiest links' utilisation under shortest paths: {np.round(utilization[:4], 3).tolist()}"
    )
    twin = load_twin(args.model)
    twin.predict(scenario)  # warm-up
    es = dict(parents=4, offspring=12, seed=args.seed)

    start = time.perf_counter()
    found = evolve(scenario, twin.predict, "mean", generations=args.generations, **es)
    es_s = time.perf_counter() - start
    start = time.perf_counter()
    base = greedy(scenario, twin.predict, "mean")
    greedy_s = time.perf_counter() - start
    print(
        f"\nES ({twin.name}, objective mean effective delay, {args.generations} generations, μ=4, λ=12, seed "
        f"{args.seed}): {found.evaluations} evaluations in {es_s:.1f} s; predicted {found.start_score * 1e3:.1f} → "
        f"{found.score * 1e3:.1f} ms"
    )
    print(
        f"greedy ({twin.name}): {base.evaluations} evaluations in {greedy_s:.1f} s; predicted "
        f"{base.start_score * 1e3:.1f} → {base.score * 1e3:.1f} ms"
    )

    seeds = [11, 12]
    print(f"\nsimulated ({args.confirm_packets} packets for the slowest flow, mean of seeds {seeds}):")
    print(f"{'routing':<16}{'mean delay ms':>14}{'p95 delay ms':>14}{'mean loss':>11}{'vs shortest':>13}")
    reference = None
    for name, candidate in (("shortest paths", scenario), ("ES", found.scenario), ("greedy", base.scenario)):
        figures = simulated_mean_delay(candidate, args.confirm_packets, seeds)
        reference = reference or figures["mean_delay_s"]
        change = 100.0 * (figures["mean_delay_s"] / reference - 1.0)
        print(
            f"{name:<16}{figures['mean_delay_s'] * 1e3:>14.1f}{figures['p95_delay_s'] * 1e3:>14.1f}"
            f"{figures['mean_loss']:>11.5f}{change:>+12.1f}%"
        )

    print(f"\nsame search, {args.sim_generations} generations (μ=4, λ=12, seed {args.seed}), oracle by oracle:")
    oracles = {
        twin.name: twin.predict,
        "qt": load_twin("qt").predict,
        f"simulator ({args.sim_packets} pkts)": simulation_oracle(args.sim_packets, 0),
    }
    timing = {}
    for name, oracle in oracles.items():
        runs = []
        for _ in range(1 if name.startswith("simulator") else args.repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            run = evolve(scenario, oracle, "mean", generations=args.sim_generations, **es)
            runs.append((time.perf_counter() - wall, time.process_time() - cpu))
        if len(runs) > 1:
            print(f"{name}: CPU s per repeat {[round(cpu, 3) for _, cpu in runs]}")
        timing[name] = (float(np.median([w for w, _ in runs])), float(np.median([c for _, c in runs])), run.evaluations)
    sim_wall, sim_cpu, sim_evals = timing[list(oracles)[-1]]
    print(
        f"{'oracle':<28}{'evaluations':>12}{'wall s':>9}{'CPU s':>9}{'CPU ms/eval':>13}"
        f"{'simulator / this (wall, CPU)':>32}"
    )
    for name, (wall, cpu, evaluations) in timing.items():
        print(
            f"{name:<28}{evaluations:>12}{wall:>9.2f}{cpu:>9.2f}{cpu / evaluations * 1e3:>13.1f}"
            f"{sim_wall / wall:>23.1f}×{sim_cpu / cpu:>8.1f}×"
        )


if __name__ == "__main__":
    main()
