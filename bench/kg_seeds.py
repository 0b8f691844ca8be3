"""Run-to-run spread of the GNN zoo on the unseen-pair split: same split (seed 0), same settings, only the
initialisation / hidden-pair seed changes; the anchors (deterministic) once, beside the GNNs' mean ± spread.

    nice -n 10 .venv/bin/python bench/kg_seeds.py --out /tmp/kg-bench --seeds 0 1 2 3 4

``--out`` is a folder prepared by ``ndtwin kg build``; predictions go to ``OUT/seeds/<seed>/<arch>/``. Per seed,
the "selected" GNN is the one with the lowest validation MAE (as ``ndtwin kg eval`` selects), scored once; its
MAE difference to the country-pair median gets a 95 % interval by resampling test pairs (the test set's own
sampling spread, beside the seeds').
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
from ndtwin.kg.models.gnn import ARCHS
from ndtwin.kg.models.run import train_arch, trained_predictions

SPLIT = "unseen_pairs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/kg-bench"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--archs", nargs="*", default=list(ARCHS))
    parser.add_argument("--skip-train", action="store_true", help="Score the predictions of an earlier run.")
    args = parser.parse_args()
    tables = load_tables(args.out)
    data = prepare_split(tables, SPLIT, seed=0)
    test_rows = data.rows(tables, "test")
    anchors = {name: m["mae_ms"] for name, m in evaluate_anchors(tables, data).items()}
    print("anchors, test MAE ms:", json.dumps(anchors), flush=True)
    runs: dict[str, list[dict]] = {arch: [] for arch in args.archs}
    for seed in args.seeds:
        folder = args.out / "seeds" / str(seed)
        for arch in args.archs:
            if not args.skip_train:
                train_arch(args.out, arch, seed=0, init_seed=seed, splits=(SPLIT,), models_dir=folder)
            predicted, meta = trained_predictions(args.out, arch, SPLIT, models_dir=folder)
            test = score_rows(test_rows, predicted)["mae_ms"]
            runs[arch].append(
                {"seed": seed, "val": meta["val"], "test": test, "epochs": meta["epochs"], "predicted": predicted}
            )
            print(
                json.dumps({k: v for k, v in runs[arch][-1].items() if k != "predicted"} | {"arch": arch}), flush=True
            )
    chosen = [min((runs[a][i] for a in args.archs), key=lambda r: r["val"]) for i in range(len(args.seeds))]
    selected = [run["test"] for run in chosen]
    fit, _ = data.stages["test"]
    query = data.stages["test_query"]
    reference = pd.concat([query[PAIR], anchors_module.country_pair(fit, query)], axis=1)
    for seed, run in zip(args.seeds, chosen):
        low, high = mae_difference_interval(test_rows, run["predicted"], reference)
        print(
            f"seed {seed}: selected GNN minus country_pair, test MAE, 95 % pair-bootstrap interval "
            f"[{low:.2f}, {high:.2f}] ms"
        )
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
