"""Testbed twins on the validation split that ``ndtwin train`` holds out of GNNet 2023 folds: each model's delay
MAPE, and that of the mean of their predictions, overall and by the offered load of each flow's busiest link.

    python bench/testbed_valsplit.py MODEL [MODEL ...] [--folds F0 F1 F2] [--seed 0] [--val-fraction 0.1]

The split is the one ``ndtwin train F0 F1 F2 --seed S --val-fraction F`` draws (same folds in the same order), so
models trained or warm-started that way have never seen these samples, and choices made here leave other folds
untouched.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ndtwin.data.load import open_samples
from ndtwin.data.metrics import mape
from ndtwin.gnn.train import split
from ndtwin.twin.catalog import load_twin
from testbed_breakdown import breakdown, flow_table

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gnnet2023" / "cbr_mb"
FOLDS = [DATA / f"fold{i}" for i in range(3)]


def held_out(folds: list[Path], seed: int, val_fraction: float) -> list:
    """The samples ``ndtwin train`` keeps for validation, in its order."""
    samples = [sample for fold in folds for sample in open_samples(fold)]
    return split(samples, val_fraction, seed)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--folds", type=Path, nargs="+", default=FOLDS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--breakdown", action="store_true", help="Also print the per-load table of each.")
    args = parser.parse_args()
    samples = held_out(args.folds, args.seed, args.val_fraction)
    tables = {model: flow_table(samples, load_twin(model).predict) for model in args.models}
    first = next(iter(tables.values()))
    if len(tables) > 1:
        tables["mean of all"] = first.assign(pred=sum(t.pred for t in tables.values()) / len(tables))
    print(f"validation split: {len(samples)} samples, {len(first)} flows")
    for name, flows in tables.items():
        print(f"{name}: delay MAPE {mape(flows.label, flows.pred):.2f} %")
        if args.breakdown:
            print(breakdown(flows).to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
