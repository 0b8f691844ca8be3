"""The self-adaptive twin on a live emulated network whose traffic changes pattern twice (needs root).

    nice -n 10 .venv/bin/python bench/operate_live.py [--topology FILE] [--seconds 60] [--capacity 2e6] [--seed 0] [--json OUT]

Emulates the topology (default Abilene, all-pairs flows) through three phases of ``--seconds`` each: Poisson at
busiest-link load 0.5 (its first 30 s train the initial model), ON-OFF at 0.5, Poisson at 0.85; ``ndtwin operate``'s
loop runs on 2-s per-flow windows of measured one-way delay meanwhile. Prints the detection delay after each pattern
change (target: within 30 s), the drifts and promotions, and SLA alarm precision / recall / F1 / PR-AUC of the twin
next to the plain "predicted delay > budget" rule and a never-alarm rule. A run flagged ``cpu_saturated`` does not
measure the emulator's fidelity: report it as such.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from ndtwin.data.topology_io import read_topology
from ndtwin.ops.live_run import DEFAULT_PHASES, Phase, operate_live

ABILENE = Path(__file__).resolve().parents[1] / "src" / "ndtwin" / "resources" / "Abilene.graphml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topology", type=Path, default=ABILENE)
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds per phase")
    parser.add_argument("--capacity", type=float, default=2e6, help="emulated bit/s of the fastest link")
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0, help="seed of the flows' rates and of the sources")
    parser.add_argument("--json", type=Path, help="also write the whole result here")
    args = parser.parse_args()
    phases = [Phase(p.law, p.load, args.seconds) for p in DEFAULT_PHASES]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as state:
        result = operate_live(
            read_topology(args.topology), args.topology.stem, phases, state, window_s=args.window,
            capacity_bps=args.capacity, seed=args.seed,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    if args.json:
        args.json.write_text(json.dumps(result, default=float))
    cpu = result["cpu"]
    print(
        f"{args.topology.stem}: {result['steps']} steps of {args.window:g} s, phases "
        f"{' → '.join(p['pattern'] for p in result['phases'])} ({args.seconds:g} s each), {seconds:.0f} s wall; "
        f"cpu busy {cpu['busy_mean']:.2f}, sources late p99 {1e3 * cpu['source_late_p99_s']:.1f} ms, "
        f"saturated: {cpu['saturated']} {cpu['saturated_because']}"
    )
    print(f"pattern changes at steps {result['change_steps']}; detection delay (s): {result['detection_delay_s']}")
    print(f"drifts: {[(d['step'], d['detectors']) for d in result['drifts_detected']]}")
    print(
        f"retrains {result['retrains']}, outcomes {result['retrain_outcomes']}, promoted at {result['promotion_steps']}"
    )
    print(
        f"mean delay per pattern (ms): { {k: round(1e3 * v, 2) for k, v in result['mean_delay_s_per_pattern'].items()} }"
    )
    print(
        f"NMSE dB with / without sync: {result['nmse_db']['with_sync']:.2f} / {result['nmse_db']['without_sync']:.2f}"
    )
    alarms = result["sla_alarms"]
    rules = {
        "twin (with sync)": alarms["twin"]["with_sync"],
        "twin (without sync)": alarms["twin"]["without_sync"],
        "predicted > budget": alarms["plain_rule"]["with_sync"],
        "never alarm": alarms["never_alarm"],
    }
    print(f"SLA alarms, violation rate {result['sla']['with_sync']['measured_violation_rate']:.3f}:")
    for name, s in rules.items():
        print(f"  {name:<20} precision {s['precision']:.3f} recall {s['recall']:.3f} f1 {s['f1']:.3f} "
              f"pr_auc {s['pr_auc']:.3f} alarm rate {s['alarm_rate']:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
