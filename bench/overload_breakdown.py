"""Where a twin's error on overloaded flows comes from: the flows whose busiest link is offered ≥ its capacity,
broken down by ToS, traffic law, the schedulers on the path, path length, label over physical bound and loss.

    python bench/overload_breakdown.py DATA [--model default | --resimulated SIM]

Prints, per breakdown, the flows, their delay MAPE and the share the twin over-predicts. ``--resimulated SIM``
scores the simulator instead: SIM is ``ndtwin simulate DATA --out SIM`` (samples matched by ``resimulated_from``).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ndtwin.data.load import open_samples
from ndtwin.twin.catalog import load_twin
from ndtwin.twin.evaluate import LOAD_CLASSES, load_class

OVERLOADED = LOAD_CLASSES.index(">=1")


def resimulated_delays(simulated: Path) -> dict[str, np.ndarray]:
    """Per original sample id: the flows' mean delays of its re-simulation (NaN where nothing was delivered)."""
    return {s.meta["resimulated_from"]: s.flow_labels["delay_s"].to_numpy() for s in open_samples(simulated)}


def overloaded_flows(data: Path, model: str, simulated: Path | None = None) -> pd.DataFrame:
    """One row per overloaded flow of every sample in ``data``: label, prediction (the simulator's delay with
    ``simulated``) and what describes the flow."""
    twin = None if simulated else load_twin(model)
    resimulated = resimulated_delays(simulated) if simulated else {}
    rows = []
    for sample in open_samples(data):
        scenario, labels = sample.scenario, sample.flow_labels
        if twin is None:
            predicted = resimulated[str(sample.sample_id)]
        else:
            predicted = twin.predict(scenario)["delay_s"].to_numpy()
        bound = scenario.bounds.delay_s
        hops = scenario.hops
        for flow in np.flatnonzero(load_class(scenario) == OVERLOADED):
            links = hops.link[hops.flow_offset[flow] : hops.flow_offset[flow + 1]]
            spec = scenario.traffic.flows[flow]
            rows.append(
                {
                    "true": labels["delay_s"].iloc[flow],
                    "pred": predicted[flow],
                    "bound": bound[flow],
                    "loss": labels["loss"].iloc[flow],
                    "tos": spec.tos,
                    "law": spec.time.kind.value,
                    "schedulers": "/".join(
                        sorted({scenario.topology.links[link].port.scheduling.value for link in links})
                    ),
                    "hops": len(links),
                }
            )
    frame = pd.DataFrame(rows).dropna(subset=["pred"])
    frame["ape"] = (frame["pred"] - frame["true"]).abs() / frame["true"] * 100
    frame["over_predicted"] = frame["pred"] > frame["true"]
    frame["label/bound"] = pd.cut(frame["true"] / frame["bound"], [0, 0.1, 0.2, 0.4, 0.6, 0.8, 1.01])
    frame["loss band"] = pd.cut(frame["loss"], [-1e-9, 0.001, 0.01, 0.05, 0.2, 1.0])
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="a labelled dataset (native or datanetAPI tree)")
    parser.add_argument("--model", default="default", help="qt, a shipped model or a model directory")
    parser.add_argument("--resimulated", type=Path, help="score this re-simulation of DATA instead of a model")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = overloaded_flows(args.data, args.model, args.resimulated)
    print(f"{args.resimulated or args.model} on {args.data}: {len(frame)} overloaded flows, delay MAPE {frame['ape'].mean():.2f} %, "
          f"over-predicted {frame['over_predicted'].mean():.3f}")  # fmt: skip
    for column in ("tos", "law", "schedulers", "hops", "label/bound", "loss band"):
        table = frame.groupby(column, observed=True).agg(
            flows=("ape", "size"), mape=("ape", "mean"), over_predicted=("over_predicted", "mean")
        )
        print(table.round(3).to_string(), end="\n\n")


if __name__ == "__main__":
    main()
