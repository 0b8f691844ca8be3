"""Prediction speed of a twin on the largest GNNet 2022 validation sample, against simulating the same scenario.

    python bench/twin_speed.py [--model default] [--packets-per-flow 200] [--repeats 5]
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
    parser.add_argument("--model", default="default")
    parser.add_argument("--packets-per-flow", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sample = next(iter(open_samples(DATA)))
    scenario = sample.scenario
    twin = load_twin(args.model)
    twin.predict(scenario)  # warm-up: imports, caches
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        twin.predict(scenario)
        times.append(time.perf_counter() - start)
    best, median = min(times), statistics.median(times)
    print(f"{sample.sample_id}: {scenario.topology.n_nodes} nodes, {scenario.n_flows} flows")
    print(f"{twin.name}: predict median {median:.3f} s, best {best:.3f} s over {args.repeats} runs "
          f"({scenario.n_flows / median:,.0f} flows/s)")
    start = time.perf_counter()
    simulate(scenario, packets_per_flow=args.packets_per_flow, seed=0)
    sim_s = time.perf_counter() - start
    print(f"simulator ({args.packets_per_flow} packets for the slowest flow): {sim_s:.1f} s → twin {sim_s / median:,.0f}× faster")


if __name__ == "__main__":
    main()
