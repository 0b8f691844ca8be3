"""Drift experiment of the self-adaptive twin on the robust-ndt measurements, side by side with the paper.

    .venv/bin/python bench/operate_drift.py [5g_crosshaul passion] [--sim]

Prints, per topology, the mean per-step delay NMSE (dB) and the SLA scores with and without synchronisation (for the
loop's residual rule and for the plain "predicted delay > budget" rule, next to a predictor that never flags),
next to the figures published for the original method (Modesto et al., arXiv:2507.20971), and the run time.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from ndtwin.data.robust_ndt import read_replay
from ndtwin.ops.loop import LoopSettings, OperatingLoop

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "robust_ndt" / "delay_app_database"
PAPER = {  # mean per-step NMSE (dB) with / without synchronisation, SLA accuracy with synchronisation
    "5g_crosshaul": {"with_sync": -12.4, "without_sync": -6.5, "sla_accuracy": 0.819},
    "passion": {"with_sync": -9.9, "without_sync": 2.9, "sla_accuracy": 0.852},
}


def run(stream, settings: LoopSettings) -> tuple[dict, float]:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as state:
        result = OperatingLoop(stream, state, settings).run()
    return result, time.perf_counter() - start


def report(name: str, result: dict, seconds: float) -> None:
    nmse, sla = result["nmse_db"], result.get("sla_accuracy", {})
    paper = PAPER.get(name)
    print(
        f"\n== {name}: {result['steps']} steps, {seconds:.0f} s, {result['retrains']} retrains "
        f"({result['retrain_outcomes']['promoted']} promoted), retraining {100 * result['retrain_time_share']:.1f} % of loop time"
    )
    print(f"drifts at steps {[d['step'] for d in result['drifts_detected']]}")
    for key in ("with_sync", "without_sync"):
        line = f"NMSE {key:13s} {nmse[key]:7.2f} dB (pooled {result['nmse_db_pooled'][key]:6.2f} dB)"
        if paper:
            line += f"   paper {paper[key]:6.1f} dB   difference {nmse[key] - paper[key]:+.2f} dB"
        print(line)
    for concept, values in result["nmse_db_per_concept"].items():
        pooled = result["nmse_db_pooled_per_concept"][concept]
        print(
            f"  {concept:14s} with {values['with_sync']:7.2f} dB   without {values['without_sync']:7.2f} dB   "
            f"(pooled {pooled['with_sync']:7.2f} / {pooled['without_sync']:7.2f} dB)"
        )
    print(
        f"model swaps {result['model_swaps']} over {result['concept_changes']} concept changes "
        f"({result['swaps_per_concept_change']:.2f} per change; target <= 3)"
    )
    if sla:
        for rule, scores in (("residual rule", result["sla"]), ("pred > budget", result["sla_predicted_above_budget"])):
            for key in ("with_sync", "without_sync"):
                print(
                    f"SLA {rule:13s} {key:13s} accuracy {scores[key]['accuracy']:.3f}  precision "
                    f"{scores[key]['precision']:.3f}  recall {scores[key]['recall']:.3f}  f1 {scores[key]['f1']:.3f}  "
                    f"flagged {scores[key]['predicted_violation_rate']:.3f}"
                )
        alarms = result["sla_alarms"]
        for rule, key in [
            ("twin", "with_sync"),
            ("twin", "without_sync"),
            ("plain_rule", "with_sync"),
            ("plain_rule", "without_sync"),
            ("never_alarm", None),
        ]:
            scores = alarms[rule][key] if key else alarms[rule]
            figures = "  ".join(f"{name} {_figure(scores[name])}" for name in ("precision", "recall", "f1", "pr_auc"))
            print(f"alarms {rule:11s} {key or '':13s} {figures}  alarm rate {_figure(scores['alarm_rate'])}")
        rate = result["sla"]["with_sync"]["measured_violation_rate"]
        print(f"measured violation rate {rate:.3f}: never flagging scores accuracy {1 - rate:.3f}")
        if paper:
            print(
                f"SLA accuracy with sync: {sla['with_sync']:.3f} vs paper {paper['sla_accuracy']:.3f} "
                f"(ratio {sla['with_sync'] / paper['sla_accuracy']:.3f}); target >= 0.90 "
                f"{'met' if sla['with_sync'] >= 0.90 else 'missed'}"
            )
        print(
            f"target NMSE with sync below the paper's: {'met' if paper and nmse['with_sync'] < paper['with_sync'] else 'missed'}"
        )
    print(json.dumps({k: v for k, v in result.items() if k != "per_step_nmse_db"})[:400], "...")


def _figure(value: float | None) -> str:
    """A score to three decimals, "–" when undefined (NaN, or None from JSON)."""
    return "–" if value is None or value != value else f"{value:.3f}"


def main(argv: list[str]) -> None:
    names = [a for a in argv if not a.startswith("--")] or list(PAPER)
    for name in names:
        result, seconds = run(read_replay(DATA / name), LoopSettings())
        report(name, result, seconds)
    if "--sim" in argv:
        from ndtwin.ops.sim_stream import LOOP_SETTINGS, simulated_stream

        start = time.perf_counter()
        stream = simulated_stream()
        result, _ = run(stream, LoopSettings(**LOOP_SETTINGS))
        report("simulated (Poisson -> ON-OFF -> CBR)", result, time.perf_counter() - start)


if __name__ == "__main__":
    main(sys.argv[1:])
