"""How many packets per flow `ndtwin generate` needs, and what they cost.

For a few scenarios drawn as `ndtwin generate` draws them (default spec), simulate each with several simulator
seeds at several ``packets_per_flow`` values. The relative standard deviation of a flow's mean delay across seeds
is the relative standard error of the label one run produces; the table gives its median and p95 over all flows
and over groups of flows (time law, ToS, utilisation of the busiest link of the path), the mean single-core
seconds per sample and the simulator's packet-hops per second (measured packets only).

    .venv/bin/python bench/generate_speed.py --scenarios 4 --seeds 8 --packets 100 200 400 800 1600
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

import numpy as np

from ndtwin.generate import GenerationSpec, draw_run_scenario
from ndtwin.scenario import Scenario
from ndtwin.scenario.generate import link_loads_bps
from ndtwin.sim.simulate import simulate


def one_run(task: tuple[int, int, int, int]) -> tuple[int, int, np.ndarray, float, float]:
    """Simulate scenario ``index`` of run ``seed`` with ``packets`` per flow and simulator seed ``sim_seed``."""
    seed, index, packets, sim_seed = task
    _, drawn, _ = draw_run_scenario(GenerationSpec(), seed, index)
    start = time.perf_counter()
    sample = simulate(drawn.scenario, packets_per_flow=packets, seed=sim_seed)
    seconds = time.perf_counter() - start
    path_hops = np.diff(drawn.scenario.hops.flow_offset)
    packet_hops = float((sample.flow_labels["pkts_per_s"] * sample.meta["sim_time_s"] * path_hops).sum())
    return index, packets, sample.flow_labels["delay_s"].to_numpy(), seconds, packet_hops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--packets", type=int, nargs="+", default=[100, 200, 400, 800, 1600])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=12345, help="generation seed the scenarios are drawn from")
    args = parser.parse_args()

    tasks = [(args.seed, k, p, s) for p in args.packets for k in range(args.scenarios) for s in range(args.seeds)]
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        results = pool.map(one_run, tasks, chunksize=1)
    groups: dict[str, list[np.ndarray]] = {}
    for k in range(args.scenarios):
        name, drawn, _ = draw_run_scenario(GenerationSpec(), args.seed, k)
        print(f"scenario {k}: {name}, {drawn.scenario.n_flows} flows, intensity {drawn.intensity:.2f}")
        for group, mask in flow_groups(drawn.scenario).items():
            groups.setdefault(group, []).append(mask)
    masks = {group: np.concatenate(parts) for group, parts in groups.items()}
    print("\nrelative standard error of per-flow mean delay, median / p95 over flows (%)")
    print(
        f"{'packets/flow':>12} {'all flows':>15} "
        + " ".join(f"{g:>15}" for g in masks)
        + f" {'s/sample (1 core)':>18} {'Mpkt-hops/s':>12}"
    )
    for packets in args.packets:
        runs = [[r for r in results if r[0] == k and r[1] == packets] for k in range(args.scenarios)]
        delays = [np.vstack([r[2] for r in scenario_runs]) for scenario_runs in runs]
        rel = np.concatenate([np.std(d, axis=0, ddof=1) / np.mean(d, axis=0) * 100 for d in delays])
        seconds = np.mean([r[3] for scenario_runs in runs for r in scenario_runs])
        hop_rate = np.median([r[4] / r[3] / 1e6 for scenario_runs in runs for r in scenario_runs])
        columns = [_median_p95(rel)] + [_median_p95(rel[mask]) for mask in masks.values()]
        print(f"{packets:>12} " + " ".join(f"{c:>15}" for c in columns) + f" {seconds:>18.2f} {hop_rate:>12.2f}")
    print("\n" + "; ".join(f"{g}: {int(m.sum())} flows" for g, m in masks.items()))


def flow_groups(scenario: Scenario) -> dict[str, np.ndarray]:
    """Flow masks by time law, by ToS 2 (lowest priority) and by the offered utilisation of the busiest link of
    the path."""
    kinds = np.array([flow.time.kind.value for flow in scenario.traffic.flows])
    utilization = link_loads_bps(scenario) / scenario.topology.capacity_bps
    hops = scenario.hops
    busiest = np.maximum.reduceat(utilization[hops.link], hops.flow_offset[:-1])
    return {
        **{law: kinds == law for law in sorted(set(kinds))},
        "ToS 2": scenario.traffic.tos == 2,
        "ToS 0-1": scenario.traffic.tos < 2,
        "path util<=0.7": busiest <= 0.7,
        "path util>0.7": busiest > 0.7,
    }


def _median_p95(values: np.ndarray) -> str:
    values = values[np.isfinite(values)]
    return f"{np.median(values):.2f} / {np.percentile(values, 95):.2f}"


if __name__ == "__main__":
    main()
