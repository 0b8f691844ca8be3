"""Run-to-run spread of the GNN zoo on the unseen-pair split: same split (seed 0), same settings, only the
initialisation / hidden-pair seed changes; the anchors (deterministic) once, beside the GNNs' mean ± spread.

    nice -n 10 .venv/bin/python bench/kg_seeds.py --out /tmp/kg-bench --seeds 0 1 2 3 4

``--out`` is a folder prepared by ``ndtwin kg build``; predictions go to ``OUT/seeds/<seed>/<arch>/``. Per seed,
the "selected" GNN is the one with the lowest validation MAE (as ``ndtwin kg eval`` selects), scored once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ndtwin.kg.models.dataset import load_tables
from ndtwin.kg.models.evaluate import evaluate_anchors, prepare_split, score_rows
from ndtwin.kg.models.gnn import ARCHS
from ndtwin.kg.models.run import train_arch, trained_predictions

SPLIT = "unseen_pairs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/kg-bench"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--archs", nargs="*", default=list(ARCHS))
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
            train_arch(args.out, arch, seed=0, init_seed=seed, splits=(SPLIT,), models_dir=folder)
            predicted, meta = trained_predictions(args.out, arch, SPLIT, models_dir=folder)
            test = score_rows(test_rows, predicted)["mae_ms"]
            runs[arch].append({"seed": seed, "val": meta["val"], "test": test, "epochs": meta["epochs"]})
            print(json.dumps(runs[arch][-1] | {"arch": arch}), flush=True)
    selected = [min((runs[a][i] for a in args.archs), key=lambda r: r["val"])["test"] for i in range(len(args.seeds))]
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
