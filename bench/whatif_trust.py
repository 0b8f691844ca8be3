"""Trust of what-if answers on topologies the twin did not train on: sign agreement, delta correlation and 90 %
interval coverage per model, side by side; with anchored intervals, also the coverage of answers anchored on a
measured baseline (``coverage90_anchored``, perturbed cases only; ``coverage90_cases``: the model's own intervals on
the same cases).

    python bench/whatif_trust.py [--models default qt] [--packets 400] [--reference-packets 1600] [--per-type 2]
                                 [--loads 0.5,0.8] [--suite TOPOLOGY@SEED ...] [--compare-intervals FILE ...]
                                 [--suite-cache DIR]

Suites: Abilene and GEANT (2012) from the Topology Zoo, and a 20-node power-law graph drawn with seed 12345 (the
default model trained on power-law graphs drawn from `ndtwin generate` seed 0). Targets: sign agreement ≥ 0.95,
delta correlation ≥ 0.9, delay interval coverage within 0.85–0.95 (jitter and loss coverage printed alongside),
judged against reference runs of ``--reference-packets`` packets per flow (0: against the ``--packets`` runs the
changes are measured on). ``--compare-intervals``: also score the first model's predictions with other
``intervals.json`` files on the same runs, and print their coverage next to that of the model's own intervals.
``--suite-cache DIR``: keep each simulated suite in DIR (``ndtwin.whatif.suite_cache``) and reuse it on a later run
with the same settings, so that suites can be simulated ahead and scored later.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ndtwin.generate.topologies import resolve_sources
from ndtwin.twin.catalog import load_twin
from ndtwin.whatif.grade import grade
from ndtwin.whatif.intervals import Intervals
from ndtwin.whatif.suite import REFERENCE_PACKETS
from ndtwin.whatif.suite_cache import cached_suite
from ndtwin.whatif.validate import merge_reports, score_twin

ZOO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "topologies" / "topology-zoo"
SUITES = (f"{ZOO / 'Abilene.graphml'}@0", f"{ZOO / 'Geant2012.graphml'}@0", "powerlaw:20@12345")
COLUMNS = ["sign_agreement", "n_below_noise", "n_flows", "delta_corr", "delta_slope", "delta_mae_rel", "delta_r2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["default", "qt"])
    parser.add_argument("--packets", type=int, default=400)
    parser.add_argument("--reference-packets", type=int, default=REFERENCE_PACKETS)
    parser.add_argument("--per-type", type=int, default=2)
    parser.add_argument("--loads", default="0.5,0.8")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--suite", nargs="+", default=list(SUITES), help="topology file, powerlaw:N or backbone:N, @ seed"
    )
    parser.add_argument("--compare-intervals", nargs="+", type=Path, default=[], metavar="FILE")
    parser.add_argument("--suite-cache", type=Path, metavar="DIR")
    args = parser.parse_args()
    loads = tuple(float(v) for v in args.loads.split(","))
    twins = [load_twin(m) for m in args.models]
    other_intervals = {str(path): Intervals.load(path) for path in args.compare_intervals}
    reports, summary, coverages = [], [], []
    for suite_arg in args.suite:
        entry, seed = suite_arg.rsplit("@", 1)
        seed = int(seed)
        name, topology = resolve_sources((entry,))[0].draw(np.random.default_rng(seed))
        row = f"{name}@{seed}"  # one row per suite, even when a topology appears with several seeds
        start = time.perf_counter()
        suite, cached = cached_suite(
            args.suite_cache,
            topology,
            per_type=args.per_type,
            loads=loads,
            seed=seed,
            packets_per_flow=args.packets,
            workers=args.workers,
            name=name,
            reference_packets=args.reference_packets or None,
        )
        how = f"read from {args.suite_cache}" if cached else "simulated"
        built = time.perf_counter() - start
        print(
            f"{name}: {topology.n_nodes} nodes, {len(suite.baselines)} baselines, {len(suite.cases)} perturbed "
            f"scenarios {how} in {built:.0f} s "
            f"(reference runs: {suite.reference_packets or 'none'})"
        )
        for twin in twins:
            report = score_twin(twin, suite)
            reports.append(report)
            summary.append(
                {
                    "suite": row,
                    "model": twin.name,
                    "grade": grade(report),
                    "sign_agreement": report.overall.sign_agreement,
                    "delta_corr": report.overall.delta_corr,
                    "delta_mae_rel": report.overall.delta_mae_rel,
                    "delta_r2": report.overall.delta_r2,
                    "coverage90": report.coverage90,
                    "coverage90_range": ""
                    if report.coverage90_range is None
                    else "{:.3f}-{:.3f}".format(*report.coverage90_range),
                    "coverage90_jitter": report.coverage_by_metric.get("delay_var_s2"),
                    "coverage90_loss": report.coverage_by_metric.get("loss"),
                    "coverage90_cases": report.coverage90_cases,
                    "coverage90_anchored": report.coverage90_anchored,
                    "anchored_range": ""
                    if report.coverage90_anchored_range is None
                    else "{:.3f}-{:.3f}".format(*report.coverage90_anchored_range),
                    "noise_scale": report.noise_scale,
                }
            )
        for source, intervals in {"model's own": None, **other_intervals}.items() if other_intervals else ():
            report = score_twin(twins[0], suite, intervals=intervals)
            coverages.append(
                {
                    "suite": row,
                    "intervals": source,
                    **{
                        f"coverage90_{short}": report.coverage_by_metric.get(m)
                        for short, m in (("delay", "delay_s"), ("jitter", "delay_var_s2"), ("loss", "loss"))
                    },
                }
            )
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    table = merge_reports(reports)
    print("\nper perturbation kind")
    print(table[["suite", "model", "scope", *COLUMNS]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    frame = pd.DataFrame(summary)
    print("\noverall (targets: sign agreement >= 0.95, delta corr >= 0.9, coverage90 in [0.85, 0.95])")
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if len(twins) > 1:
        first, other = twins[0].name, twins[1].name
        wide = frame.pivot(index="suite", columns="model", values=["delta_mae_rel", "delta_corr"])
        ratio = wide["delta_mae_rel"][other] / wide["delta_mae_rel"][first]
        print(f"\nrelative delta MAE of {other} / {first}, per suite:")
        print(ratio.to_string(float_format=lambda v: f"{v:.2f}×"))
    if coverages:
        compared = pd.DataFrame(coverages)
        own = compared[compared["intervals"] == "model's own"].set_index("suite")["coverage90_delay"]
        compared["delay_ratio_to_own"] = compared["coverage90_delay"] / compared["suite"].map(own)
        print(f"\n90 % interval coverage of {twins[0].name}'s predictions with other intervals files (same runs)")
        print(compared.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
