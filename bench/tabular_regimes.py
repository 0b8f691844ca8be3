"""Tabular twins (XGBoost, MLP) trained on a low-load regime, evaluated on held-out low-load scenarios and on an
unseen high-load regime, side by side with qt and the default GNN; then their sign agreement on a what-if suite.

    python bench/tabular_regimes.py [--train 160] [--test 30] [--cache /tmp/ndtwin-bench/tabular]

Data: ``ndtwin generate``'s default spec (power-law graphs of 10–25 nodes, FIFO/SP/WFQ/DRR, Poisson/CBR/ON-OFF)
with the busiest link's utilisation drawn in [0.3, 0.6] (low) or [0.85, 1.0] (high); --packets packets for each
sample's slowest flow. Datasets are cached under --cache (a rerun resumes them).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ndtwin.data.metrics import mae, mape
from ndtwin.data.native import read_dataset
from ndtwin.data.sample import Sample
from ndtwin.generate import GenerationSpec, draw_topology, pending_indices, resolve_sources, run_generation
from ndtwin.tabular import fit_tabular
from ndtwin.twin.base import Twin
from ndtwin.twin.catalog import load_twin
from ndtwin.whatif.suite import build_suite
from ndtwin.whatif.validate import score_twin

REGIMES = {"low": (0.3, 0.6), "high": (0.85, 1.0)}


def dataset(
    cache: Path, name: str, intensity: tuple[float, float], seed: int, samples: int, packets: int
) -> list[Sample]:
    """Generate (or resume) and read one regime's dataset, one process."""
    spec = GenerationSpec(topologies=("powerlaw:10-25",), intensity=intensity, packets_per_flow=packets)
    out = cache / name
    todo = pending_indices(out, spec, seed, samples)
    if todo:
        start = time.perf_counter()
        run_generation(out, spec, seed, todo, workers=1)
        print(f"generated {len(todo)} samples of {name} in {time.perf_counter() - start:.0f} s")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(read_dataset(out))[:samples]


def errors(twin: Twin, samples: list[Sample]) -> dict[str, float]:
    """Per-flow delay and jitter MAPE (%) and loss MAE over all flows of ``samples``."""
    truth, pred = [], []
    for sample in samples:
        truth.append(sample.flow_labels[["delay_s", "delay_var_s2", "loss"]].to_numpy())
        pred.append(twin.predict(sample.scenario)[["delay_s", "delay_var_s2", "loss"]].to_numpy())
    t, p = np.concatenate(truth), np.concatenate(pred)
    return {"delay": mape(t[:, 0], p[:, 0]), "jitter": mape(t[:, 1], p[:, 1]), "loss": mae(t[:, 2], p[:, 2])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=160)
    parser.add_argument("--test", type=int, default=30)
    parser.add_argument("--packets", type=int, default=200)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ndtwin-bench/tabular"))
    parser.add_argument("--suite-nodes", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train = dataset(args.cache, "train-low", REGIMES["low"], 0, args.train, args.packets)
    tests = {
        name: dataset(args.cache, f"test-{name}", bounds, 1, args.test, args.packets)
        for name, bounds in REGIMES.items()
    }
    print(
        f"train: {len(train)} low-load samples, {sum(s.scenario.n_flows for s in train)} flows; "
        + ", ".join(f"test {n}: {len(s)} samples" for n, s in tests.items())
    )

    twins: dict[str, Twin] = {}
    for kind in ("xgboost", "dnn"):
        start = time.perf_counter()
        twins[kind] = fit_tabular(train, kind, seed=0)
        print(f"fit {kind}: {time.perf_counter() - start:.0f} s")
    twins["qt"] = load_twin("qt")
    twins["gnn default"] = load_twin("default")

    print("\nper-flow errors (delay / jitter MAPE %, loss MAE), trained on the low regime only:")
    print(f"{'model':<13}" + "".join(f"{'delay ' + n:>12}{'jitter ' + n:>13}{'loss ' + n:>11}" for n in tests))
    for name, twin in twins.items():
        row = []
        for samples in tests.values():
            e = errors(twin, samples)
            row.append(f"{e['delay']:>12.1f}{e['jitter']:>13.1f}{e['loss']:>11.4f}")
        print(f"{name:<13}" + "".join(row))

    _, topology = draw_topology(resolve_sources((f"powerlaw:{args.suite_nodes}",)), np.random.default_rng(5))
    start = time.perf_counter()
    suite = build_suite(topology, per_type=2, seed=5, packets_per_flow=400, name=f"powerlaw-{args.suite_nodes}")
    print(
        f"\nwhat-if suite on a {args.suite_nodes}-node power-law graph: {len(suite.cases)} perturbations at loads "
        f"0.5 and 0.8, simulated in {time.perf_counter() - start:.0f} s; sign agreement of predicted delay changes:"
    )
    kinds = sorted({case.kind for case in suite.cases})
    print(f"{'model':<13}{'overall':>9}" + "".join(f"{k:>17}" for k in kinds) + f"{'flows':>8}")
    for name, twin in twins.items():
        report = score_twin(twin, suite)
        row = "".join(f"{report.by_perturbation[k].sign_agreement:>17.3f}" for k in kinds)
        print(
            f"{name:<13}{report.overall.sign_agreement:>9.3f}{row}"
            f"{report.overall.n_flows - report.overall.n_below_noise:>8}"
        )


if __name__ == "__main__":
    main()
