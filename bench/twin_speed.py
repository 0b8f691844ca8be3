"""Prediction speed of twins on the largest GNNet 2022 validation sample, against simulating the same scenario.

    python bench/twin_speed.py [--model default [--model attention ...]] [--packets-per-flow 200] [--repeats 5]

Several ``--model``s are timed side by side (one prediction of each in turn per repeat); the speed-up over the
simulator is quoted for the first. ``--packets-per-flow 0`` skips the simulation.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

from ndtwin.data.load import open_samples
from ndtwin.sim import simulate
from ndtwin.twin.catalog import load_twin

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gnnet" / "2022" / "validation" / "170"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="model to time (repeatable; default: default)")
    parser.add_argument("--packets-per-flow", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sample = next(iter(open_samples(DATA)))
    scenario = sample.scenario
    twins = [load_twin(model) for model in args.model or ["default"]]
    times: list[list[float]] = [[] for _ in twins]
    for twin in twins:
        twin.predict(scenario)  # warm-up: imports, caches
    for _ in range(args.repeats):
        for twin, spent in zip(twins, times):
            start = time.perf_counter()
            twin.predict(scenario)
            spent.append(time.perf_counter() - start)
    print(f"{sample.sample_id}: {scenario.topology.n_nodes} nodes, {scenario.n_flows} flows")
    for twin, spent in zip(twins, times):
        median = statistics.median(spent)
        print(
            f"{twin.name}: predict median {median:.3f} s, best {min(spent):.3f} s over {args.repeats} runs "
            f"({scenario.n_flows / median:,.0f} flows/s)"
        )
    if args.packets_per_flow > 0:
        start = time.perf_counter()
        simulate(scenario, packets_per_flow=args.packets_per_flow, seed=0)
        sim_s = time.perf_counter() - start
        print(
            f"simulator ({args.packets_per_flow} packets for the slowest flow): {sim_s:.1f} s → "
            f"{twins[0].name} {sim_s / statistics.median(times[0]):,.0f}× faster"
        )


if __name__ == "__main__":
    main()
