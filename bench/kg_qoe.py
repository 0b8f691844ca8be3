"""QoE class agreement on the unseen-pair split: how far a per-pair prediction can go, and which per-pair class
prediction to use, chosen on the validation rows and scored once on the test rows — against each measured day, and
against each pair's class over the whole evaluated window (its median RTT, mean jitter and mean loss there, the
quantities the models predict and the ASKG layer stores).

    nice -n 10 .venv/bin/python bench/kg_qoe.py --out /tmp/kg-bench --arch transformer --members 3

Prints, per application, (1) the ceilings of daily agreement on the validation and test rows: the best agreement any
one-class-per-pair prediction can reach (each pair's most frequent measured class) and the agreement of a pair's
measured class with its own class on the next day (the per-window ceiling is 1: one measured class per pair);
(2) per granularity (``day``, ``window``), the validation agreement of five per-pair class predictors — classes from
the GNN's predicted metrics (``--arch``/``--members``, retrained on this split into ``OUT/qoe-models`` unless
``--models-dir`` holds it), from the GNN's RTT with the typical (median) loss and jitter of the pair's country
combination, from the GNN's RTT and jitter with the larger of its probe's and target's median loss, the most frequent
class of the pair's country combination, and the most frequent class overall (on fit days for ``day``, on fit pairs'
whole fit windows for ``window``); (3) the test agreement of the predictor chosen on
validation (per application and granularity). Then, on the future split, where a pair's own history is an input: its
most frequent class over all its earlier windows or over its last 7, chosen on validation likewise.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ndtwin.kg.models import anchors
from ndtwin.kg.models.dataset import PAIR, load_tables
from ndtwin.kg.models.evaluate import prepare_split
from ndtwin.kg.models.gnn import MEMBERS
from ndtwin.kg.models.run import train_arch, trained_predictions
from ndtwin.qoe.agreement import (
    by_country_pair,
    class_agreement,
    class_ceiling,
    country_pair_classes,
    measured_classes,
    qoe_agreement,
)
from ndtwin.qoe.scores import PROFILES, mos, qoe_class

SPLIT = "unseen_pairs"
PER_WINDOW = {"day": False, "window": True}


def gnn_classes(predicted: pd.DataFrame, app: str) -> pd.DataFrame:
    """One class per pair from the GNN's predicted metrics."""
    score = mos(app, predicted["rtt_ms"] / 1e3, predicted["jitter_ms"] / 1e3, predicted["loss_share"])
    return predicted[PAIR].assign(qoe_class=qoe_class(score))


def majority_classes(fit_rows: pd.DataFrame, query: pd.DataFrame, app: str) -> pd.DataFrame:
    """The most frequent class of all fit windows, for every pair."""
    fit_rows = fit_rows[fit_rows["loss_share"].notna()]
    return query[PAIR].assign(qoe_class=pd.Series(measured_classes(fit_rows, app)).value_counts().index[0])


def candidates(args: argparse.Namespace, data, tables, stage: str, app: str, per_window: bool) -> dict:
    """The five per-pair class predictions for the query pairs of a stage; the typical and modal classes from the
    fit days, or with ``per_window`` from the fit pairs' values over their fit windows."""
    query = data.stages[f"{stage}_query"]
    fit_rows = data.stages[stage][0] if per_window else data.fit_rows(tables, stage)
    predicted, _ = trained_predictions(args.out, args.arch, SPLIT, models_dir=args.models_dir, stage=stage)
    return {
        f"{args.arch}_metrics": gnn_classes(predicted, app),
        "country_pair_class": query[PAIR].assign(qoe_class=country_pair_classes(fit_rows, query, app)),
        "majority_class": majority_classes(fit_rows, query, app),
        f"{args.arch}_rtt_typical_window": gnn_classes(typical_window(predicted, fit_rows, query), app),
        f"{args.arch}_rtt_end_loss": gnn_classes(with_end_loss(predicted, fit_rows, query), app),
    }


def with_end_loss(predicted: pd.DataFrame, fit_rows: pd.DataFrame, query: pd.DataFrame) -> pd.DataFrame:
    """The GNN's RTT and jitter with the larger of the probe's and the target's median loss share over the fit
    rows (``anchors.end_loss``; the GNN's own loss where neither end has one)."""
    aligned = query[PAIR].merge(predicted, on=PAIR, how="left")
    loss = anchors.end_loss(fit_rows, query)
    return aligned.assign(loss_share=np.where(np.isfinite(loss), loss, aligned["loss_share"]))


def typical_window(predicted: pd.DataFrame, fit_rows: pd.DataFrame, query: pd.DataFrame) -> pd.DataFrame:
    """The GNN's RTT with the median per-window loss share and jitter of the pair's country combination (a typical
    day rather than the mean, which a few lossy days dominate)."""
    typical = {
        column: by_country_pair(fit_rows, query, fit_rows[column], "median") for column in ("loss_share", "jitter_ms")
    }
    aligned = query[PAIR].merge(predicted, on=PAIR, how="left")
    return aligned.assign(**{column: values.to_numpy() for column, values in typical.items()})


def own_history_classes(fit_rows: pd.DataFrame, query: pd.DataFrame, app: str, last: int | None) -> pd.DataFrame:
    """Future split: each pair's most frequent class over its own fit windows (all, or its ``last`` ones); the
    overall modal class for a pair without any."""
    fit_rows = fit_rows[fit_rows["loss_share"].notna()].sort_values("window")
    fit_rows = fit_rows.assign(qoe_class=measured_classes(fit_rows, app))
    if last is not None:
        fit_rows = fit_rows.groupby(PAIR).tail(last)
    modal = fit_rows.groupby(PAIR)["qoe_class"].agg(lambda s: s.value_counts().index[0]).reset_index()
    found = query[PAIR].merge(modal, on=PAIR, how="left")
    return found.fillna({"qoe_class": fit_rows["qoe_class"].value_counts().index[0]})


def future_from_history(tables) -> None:
    """The class of a pair's future days from its own history, where the split allows (future windows)."""
    data = prepare_split(tables, "future", seed=0)
    rows = {stage: data.rows(tables, stage) for stage in ("val", "test")}
    print("future split, ceilings on the test rows:", json.dumps(class_ceiling(rows["test"])), flush=True)
    candidates = {"own_modal_class": None, "own_modal_class_last_7": 7}
    for app in PROFILES:
        val_fit, val_query = data.fit_rows(tables, "val"), data.stages["val_query"]
        val = {
            name: class_agreement(rows["val"], own_history_classes(val_fit, val_query, app, last), app)
            for name, last in candidates.items()
        }
        chosen = max(val, key=val.get)
        predicted = own_history_classes(
            data.fit_rows(tables, "test"), data.stages["test_query"], app, candidates[chosen]
        )
        test = class_agreement(rows["test"], predicted, app)
        print("future", app, json.dumps({"val": val, "chosen": chosen, "test": test}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/kg-bench"))
    parser.add_argument("--arch", default="transformer", help="The GNN with the lowest validation MAE.")
    parser.add_argument("--members", type=int, default=MEMBERS, help="Networks averaged in that GNN.")
    parser.add_argument("--models-dir", type=Path, help="Where that GNN's predictions are (default: train it).")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tables = load_tables(args.out)
    data = prepare_split(tables, SPLIT, seed=0)
    rows = {stage: data.rows(tables, stage) for stage in ("val", "test")}
    for stage, stage_rows in rows.items():
        print(f"daily ceilings on the {stage} rows:", json.dumps(class_ceiling(stage_rows), indent=1), flush=True)
    if args.models_dir is None:
        args.models_dir = args.out / "qoe-models"
        train_arch(args.out, args.arch, splits=(SPLIT,), models_dir=args.models_dir, members=args.members)
    for granularity, per_window in PER_WINDOW.items():
        for app in PROFILES:
            val = {
                name: class_agreement(rows["val"], classes, app, per_window=per_window)
                for name, classes in candidates(args, data, tables, "val", app, per_window).items()
            }
            chosen = max(val, key=val.get)
            test_classes = candidates(args, data, tables, "test", app, per_window)[chosen]
            test = class_agreement(rows["test"], test_classes, app, per_window=per_window)
            print(granularity, app, json.dumps({"val": val, "chosen": chosen, "test": test}), flush=True)
    predicted, _ = trained_predictions(args.out, args.arch, SPLIT, models_dir=args.models_dir)
    print("MOS from the GNN's metrics on the test rows:", json.dumps(qoe_agreement(rows["test"], predicted)))
    future_from_history(tables)


if __name__ == "__main__":
    main()
