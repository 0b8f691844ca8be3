"""Emulated Abilene against ndtwin's simulator (and the GNN twin) on the same emulated scenario.

All-pairs traffic on Abilene (11 nodes, 110 flows, FIFO ports of 32 packets — or with ``--scheduling SP`` the
demo's strict-priority ports of 3 × 64 packets, ToS 0-2 — Poisson arrivals, 500/1000/1500-byte packets), busiest
link at ``--load``, emulated with the fastest link at each of ``--capacities`` bit/s (all links equal here). Per capacity: the packet rate the host carried, its CPU use, whether the run is flagged saturated, and
the per-flow mean delay of the emulation against the simulator (median over flows of the relative difference; the
target is ≤ 10 %), on the whole delay and on its measured part alone (the waits: delay minus the serialization
the labels add). The noise floor is the same figure between two simulator runs, one as long as the emulation's
measured window and one long run. The GNN twin ``default`` is scored against both.

    python bench/emulate_abilene.py [--load 0.8] [--duration 60] [--capacities 1e6,2e6,4e6] [--model default]
                                    [--scheduling SP] [--max-packets-per-s N]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from datetime import UTC, datetime
from importlib import resources

import numpy as np

from ndtwin.cli.demo import DEMO_PORT
from ndtwin.cli.emulate_cmd import SIM_PACKETS_PER_FLOW, scores
from ndtwin.data.metrics import median_ape
from ndtwin.data.topology_io import TopologyWarning, read_topology
from ndtwin.emulate import EmulationSettings, emulate
from ndtwin.emulate.measure import inverse_capacity_sum
from ndtwin.emulate.run import MAX_PACKETS_PER_S
from ndtwin.scenario import DEFAULT_PORT, Scenario
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.sim import simulate
from ndtwin.twin.catalog import load_twin

PORTS = {"FIFO": DEFAULT_PORT, "SP": DEMO_PORT}


def abilene(load: float, seed: int, scheduling: str = "FIFO") -> Scenario:
    path = resources.files("ndtwin") / "resources" / "Abilene.graphml"
    with resources.as_file(path) as file, warnings.catch_warnings():
        warnings.simplefilter("ignore", TopologyWarning)  # no speeds in the file: all links equal on purpose
        topology = read_topology(file, port=PORTS[scheduling])
    return all_pairs_scenario(topology, max_utilization=load, seed=seed)


def one_capacity(scenario: Scenario, capacity: float, args: argparse.Namespace) -> dict:
    settings = EmulationSettings(
        duration_s=args.duration, capacity_bps=capacity, seed=args.seed, max_packets_per_s=args.max_packets_per_s
    )
    run = emulate(scenario, settings)
    measured = run.sample
    emulated = measured.scenario
    simulated = simulate(emulated, packets_per_flow=SIM_PACKETS_PER_FLOW, seed=args.seed + 1)
    short = simulate(emulated, duration_s=args.duration, seed=args.seed + 2, warmup_fraction=0.1)
    serialization = emulated.traffic.mean_size_bits * inverse_capacity_sum(emulated)
    waits = np.asarray(measured.meta["measured_delay_s"], dtype=float)
    row = {
        "capacity_bps": capacity,
        "packets_per_s": float(measured.flow_labels["pkts_per_s"].sum()),
        "cpu": run.cpu,
        "delay_median_rel_diff_pct": median_ape(simulated.flow_labels["delay_s"], measured.flow_labels["delay_s"]),
        "delay_mape_pct": scores(measured, simulated.flow_labels, "sim")["delay"]["mape"],
        "waits_median_rel_diff_pct": median_ape(simulated.flow_labels["delay_s"] - serialization, waits),
        "noise_floor_median_rel_diff_pct": median_ape(simulated.flow_labels["delay_s"], short.flow_labels["delay_s"]),
        "loss_mean_emulated": float(measured.flow_labels["loss"].mean()),
        "loss_mean_simulated": float(simulated.flow_labels["loss"].mean()),
        "mean_delay_ms_emulated": float(measured.flow_labels["delay_s"].mean() * 1e3),
        "mean_delay_ms_simulated": float(simulated.flow_labels["delay_s"].mean() * 1e3),
    }
    for name in args.model:
        prediction = load_twin(name).predict(emulated)
        row[name] = {
            against: {k: report["delay"][k] for k in ("mape", "median_ape")}
            for against, report in (
                ("vs_emulation", scores(measured, prediction, name)),
                ("vs_simulator", scores(simulated, prediction, name)),
            )
        }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load", type=float, default=0.8)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--capacities", default="1e6,2e6,4e6")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scheduling", choices=sorted(PORTS), default="FIFO", help="SP: 3 queues of 64 packets")
    parser.add_argument("--model", action="append", default=None)
    parser.add_argument("--max-packets-per-s", type=float, default=MAX_PACKETS_PER_S, help="raise to probe the limit")
    args = parser.parse_args()
    args.model = args.model if args.model is not None else ["default"]
    scenario = abilene(args.load, args.seed, args.scheduling)
    print(
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {scenario.n_flows} flows, load {args.load}, "
        f"{args.scheduling} ports"
    )
    for capacity in (float(c) for c in args.capacities.split(",")):
        start = time.perf_counter()
        row = one_capacity(scenario, capacity, args)
        row["seconds"] = round(time.perf_counter() - start, 1)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
