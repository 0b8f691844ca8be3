"""How far a data set's GNN inputs lie from a model's training data, in standard deviations of its normalisation.

    python bench/input_ranges.py DATA [--model attention] [--limit 3]

Prints, for every input feature whose normalised value leaves ±``--limit`` in some sample, the lowest and highest
normalised value over the data set and the share of samples where it leaves the range.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from ndtwin.data.load import open_samples
from ndtwin.gnn.features import featurize
from ndtwin.gnn.normalize import BLOCKS
from ndtwin.gnn.twin import GnnTwin
from ndtwin.twin.catalog import load_twin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--model", default="attention")
    parser.add_argument("--limit", type=float, default=3.0)
    args = parser.parse_args()
    twin = load_twin(args.model)
    if not isinstance(twin, GnnTwin):
        parser.error(f"--model {args.model}: a GNN model (shipped name or directory) is needed, not {twin.name}")
    low, high = defaultdict(lambda: np.inf), defaultdict(lambda: -np.inf)
    outside: defaultdict[str, int] = defaultdict(int)
    n_samples = 0
    for sample in open_samples(args.data):
        n_samples += 1
        graph = twin.normalizer.apply(featurize(sample.scenario))
        for block, names in BLOCKS.items():
            values = getattr(graph, block)
            for j, feature in enumerate(names):
                name = f"{block.removesuffix('_x')}.{feature}"  # queue and link blocks share some feature names
                lo, hi = float(values[:, j].min()), float(values[:, j].max())
                low[name], high[name] = min(low[name], lo), max(high[name], hi)
                outside[name] += max(-lo, hi) > args.limit
    print(f"{args.data}: {n_samples} samples, inputs normalised by {twin.name}")
    for name in sorted(outside, key=lambda n: -outside[n]):
        if outside[name]:
            print(
                f"{name:28s} [{low[name]:+.1f}, {high[name]:+.1f}]  outside ±{args.limit:g} in "
                f"{outside[name] / n_samples:.0%} of samples"
            )


if __name__ == "__main__":
    main()
