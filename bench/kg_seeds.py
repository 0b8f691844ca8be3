"""Run-to-run spread of the GNN zoo on one split (default unseen pairs): same split (seed 0), same settings, only
the initialisation / hidden-pair seed changes; the anchors (deterministic) once, beside the GNNs' mean ± spread.

    nice -n 10 .venv/bin/python bench/kg_seeds.py --out /tmp/kg-bench --seeds 0 1 2 3 4
    nice -n 10 .venv/bin/python bench/kg_seeds.py --out /tmp/kg-bench --archs transformer --members 3 --validation-only

``--out`` is a folder prepared by ``ndtwin kg build``; predictions go to ``OUT/seeds/<tag>/<seed>/<arch>/``. Per
seed, the "selected" GNN is the one with the lowest validation MAE (as ``ndtwin kg eval`` selects), scored once;
its MAE difference to each of the country-pair and the AS-pair median gets a 95 % interval by resampling test
pairs (the test set's own sampling spread, beside the seeds'). ``--validation-only`` trains and prints validation
figures only (for choosing a configuration without looking at the test rows).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ndtwin.kg.models import anchors as anchors_module
from ndtwin.kg.models.dataset import PAIR, load_tables
from ndtwin.kg.models.evaluate import evaluate_anchors, prepare_split, score_rows
from ndtwin.kg.models.gnn import ARCHS, MEMBERS
from ndtwin.kg.models.run import train_arch, trained_predictions

REFERENCES = ("country_pair", "as_pair")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/kg-bench"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--archs", nargs="*", default=list(ARCHS))
    parser.add_argument("--skip-train", action="store_true", help="Score the predictions of an earlier run.")
    parser.add_argument("--split", default="unseen_pairs", choices=["unseen_pairs", "unseen_probes"])
    parser.add_argument("--members", type=int, default=MEMBERS, help="Networks averaged per trained model.")
    parser.add_argument("--no-residual", action="store_true", help="Log-RTT output not offset by the anchor.")
    parser.add_argument("--validation-only", action="store_true", help="Train and print validation figures only.")
    args = parser.parse_args()
    tables = load_tables(args.out)
    data = prepare_split(tables, args.split, seed=0)
    val_rows = data.rows(tables, "val")
    val_anchors = {name: score_rows(val_rows, table)["mae_ms"] for name, table in references(data, "val").items()}
    print("anchors, validation MAE ms:", json.dumps(val_anchors), flush=True)
    tag = f"{'plain' if args.no_residual else 'residual'}-x{args.members}"
    runs: dict[str, list[dict]] = {arch: [] for arch in args.archs}
    for seed in args.seeds:
        folder = args.out / "seeds" / tag / str(seed)
        for arch in args.archs:
            if not args.skip_train:
                train_arch(
                    args.out,
                    arch,
                    seed=0,
                    init_seed=seed,
                    splits=(args.split,),
                    models_dir=folder,
                    residual=not args.no_residual,
                    members=args.members,
                )
            predicted, meta = trained_predictions(args.out, arch, args.split, models_dir=folder)
            runs[arch].append({"seed": seed, "val": meta["val"], "epochs": meta["epochs"], "predicted": predicted})
            print(
                json.dumps({k: v for k, v in runs[arch][-1].items() if k != "predicted"} | {"arch": arch}), flush=True
            )
    if args.validation_only:
        for arch, rows in runs.items():
            stats = _spread([r["val"] for r in rows])
            print(f"{tag} {arch}: validation MAE {stats['mean']:.2f} ± {stats['std']:.2f} ms {stats['values']}")
        return
    report_test(args, tables, data, runs)


def references(data, stage: str) -> dict[str, pd.DataFrame]:
    """The reference anchors' per-pair predictions for a stage's query pairs, fitted on that stage's fit pairs."""
    fit, _ = data.stages[stage]
    query = data.stages[f"{stage}_query"]
    return {
        name: pd.concat([query[PAIR], getattr(anchors_module, name)(fit, query).reset_index(drop=True)], axis=1)
        for name in REFERENCES
    }


def report_test(args: argparse.Namespace, tables, data, runs: dict[str, list[dict]]) -> None:
    """Score every run once on the test rows, beside the anchors; the gap of the selected GNN to each reference."""
    test_rows = data.rows(tables, "test")
    anchors = {name: m["mae_ms"] for name, m in evaluate_anchors(tables, data).items()}
    reference_tables = references(data, "test")
    anchors |= {name: score_rows(test_rows, table)["mae_ms"] for name, table in reference_tables.items()}
    print("anchors, test MAE ms:", json.dumps(anchors), flush=True)
    for run in (run for rows in runs.values() for run in rows):
        run["test"] = score_rows(test_rows, run["predicted"])["mae_ms"]
    chosen = [min((runs[a][i] for a in args.archs), key=lambda r: r["val"]) for i in range(len(args.seeds))]
    selected = [run["test"] for run in chosen]
    for seed, run in zip(args.seeds, chosen):
        for name, reference in reference_tables.items():
            low, high = mae_difference_interval(test_rows, run["predicted"], reference)
            print(
                f"seed {seed}: selected GNN ({run['test']:.2f}) minus {name} ({anchors[name]:.2f}), test MAE, "
                f"95 % pair-bootstrap interval [{low:.2f}, {high:.2f}] ms"
            )
    mean_prediction = _mean_prediction([run["predicted"] for run in chosen])
    for name, reference in reference_tables.items():
        low, high = mae_difference_interval(test_rows, mean_prediction, reference)
        gap = score_rows(test_rows, mean_prediction)["mae_ms"] - anchors[name]
        print(f"mean of the selected runs minus {name}: {gap:+.2f} ms, 95 % interval [{low:.2f}, {high:.2f}]")
    best_anchor = min(anchors.values())
    summary = {arch: _spread([r["test"] for r in rows]) for arch, rows in runs.items()}
    summary["selected_by_val"] = _spread(selected)
    for name, stats in summary.items():
        wins = sum(value < best_anchor for value in stats["values"])
        print(
            f"{name}: test MAE {stats['mean']:.2f} ± {stats['std']:.2f} ms (min {stats['min']:.2f}, max "
            f"{stats['max']:.2f}); below the best anchor ({best_anchor:.2f}) in {wins} of {len(stats['values'])}"
        )
    print(json.dumps({"anchors": anchors, "gnn": summary}, indent=1))


def _mean_prediction(predictions: list[pd.DataFrame]) -> pd.DataFrame:
    """The geometric-mean RTT and the mean loss share of several runs' per-pair predictions."""
    logs = np.mean([np.log(p["rtt_ms"].to_numpy(float)) for p in predictions], axis=0)
    loss = np.mean([p["loss_share"].to_numpy(float) for p in predictions], axis=0)
    return predictions[0][PAIR].assign(rtt_ms=np.exp(logs), loss_share=loss)


def mae_difference_interval(
    rows: pd.DataFrame, predicted: pd.DataFrame, reference: pd.DataFrame, draws: int = 1000
) -> tuple[float, float]:
    """95 % interval of MAE(predicted) − MAE(reference) on ``rows``, resampling whole pairs (a pair's days are not
    independent)."""
    merged = rows[PAIR + ["rtt_ms"]].dropna().merge(predicted[PAIR + ["rtt_ms"]], on=PAIR, suffixes=("", "_a"))
    merged = merged.merge(reference[PAIR + ["rtt_ms"]].rename(columns={"rtt_ms": "rtt_ms_b"}), on=PAIR)
    merged["gap"] = (merged.rtt_ms - merged.rtt_ms_a).abs() - (merged.rtt_ms - merged.rtt_ms_b).abs()
    per_pair = merged.groupby(PAIR)["gap"].agg(["sum", "count"])
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(per_pair), size=(draws, len(per_pair)))
    sums, counts = per_pair["sum"].to_numpy()[picks].sum(1), per_pair["count"].to_numpy()[picks].sum(1)
    low, high = np.percentile(sums / counts, [2.5, 97.5])
    return float(low), float(high)


def _spread(values: list[float]) -> dict:
    array = np.asarray(values, float)
    return {
        "mean": float(array.mean()),
        "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
        "min": float(array.min()),
        "max": float(array.max()),
        "values": [round(v, 3) for v in values],
    }


if __name__ == "__main__":
    main()
