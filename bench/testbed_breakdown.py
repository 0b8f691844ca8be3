"""Where a twin errs on a GNNet 2023 testbed fold: delay MAPE by the offered load of each flow's busiest link.

    python bench/testbed_breakdown.py [--model testbed] [--fold ../shared/data/gnnet2023/cbr_mb/fold3]

Prints, per load band: flows, delay MAPE, the median and 10–90 % range of prediction / label, the 10–90 % range
of the labels (ms), and the rank
correlation (Spearman) of predictions and labels inside the band — how well the twin orders flows of similar load.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ndtwin.data.load import open_samples
from ndtwin.data.metrics import mape
from ndtwin.data.sample import Sample
from ndtwin.scenario import Scenario
from ndtwin.twin.catalog import load_twin
from ndtwin.whatif.intervals import path_utilization

FOLD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gnnet2023" / "cbr_mb" / "fold3"
BANDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, np.inf)


def per_flow(model: str, fold: Path) -> pd.DataFrame:
    """One row per flow of the fold: busiest-link load, label and prediction."""
    return flow_table(open_samples(fold), load_twin(model).predict)


def flow_table(samples: Iterable[Sample], predict: Callable[[Scenario], pd.DataFrame]) -> pd.DataFrame:
    """One row per flow of ``samples``: busiest-link load, label and the delay ``predict`` gives."""
    parts = []
    for sample in samples:
        parts.append(
            pd.DataFrame(
                {
                    "load": path_utilization(sample.scenario),
                    "label": sample.flow_labels.delay_s.to_numpy(),
                    "pred": predict(sample.scenario).delay_s.to_numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def breakdown(flows: pd.DataFrame) -> pd.DataFrame:
    """The per-band table described in the module docstring."""
    flows = flows.assign(
        ape=(flows.pred - flows.label).abs() / flows.label,
        ratio=flows.pred / flows.label,
        band=pd.cut(flows.load, BANDS),
    )
    return flows.groupby("band", observed=True).apply(
        lambda g: pd.Series(
            {
                "flows": len(g),
                "delay_mape_%": 100 * g.ape.mean(),
                "ratio_median": g.ratio.median(),
                "ratio_p10": g.ratio.quantile(0.1),
                "ratio_p90": g.ratio.quantile(0.9),
                "label_p10_ms": 1e3 * g.label.quantile(0.1),
                "label_p90_ms": 1e3 * g.label.quantile(0.9),
                "spearman": g[["pred", "label"]].corr("spearman").iloc[0, 1],
            }
        ),
        include_groups=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="testbed")
    parser.add_argument("--fold", type=Path, default=FOLD)
    args = parser.parse_args()
    flows = per_flow(args.model, args.fold)
    print(f"{args.model} on {args.fold}: {len(flows)} flows, delay MAPE {mape(flows.label, flows.pred):.2f} %")
    print(breakdown(flows).to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
