"""Evaluation of the anchors and the GNN zoo on the three splits, in milliseconds, with QoE agreement.

Test rows are pair × window (RTT = the window's median RTT, loss = the window's loss share); a model predicts one
value per pair from the fit rows only. Anchors' hyper-parameters (Vivaldi dimensions, completion rank and ridge)
are chosen on the validation rows with models fitted on the training rows, then refitted on training +
validation rows and scored once on the test rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ndtwin.data.metrics import huber, mae, mape, r2, rmse
from ndtwin.kg.models import anchors
from ndtwin.kg.models.dataset import PAIR, MeasurementTables
from ndtwin.kg.models.splits import SPLITS, assign_roles, fit_mask

HUBER_DELTA_MS = 10.0
LOSSY = 0.5  # a window with at least half its packets lost counts as lossy for the loss AUC
ANCHOR_GRID = {
    "vivaldi": [{"dims": d} for d in (2, 3, 5)],
    "matrix_completion": [{"rank": r, "reg": g} for r in (1, 2, 4, 8) for g in (0.3, 3.0)],
}
APPLIES = {
    "history": {"future"},
    "country_pair": set(SPLITS),
    "vivaldi": {"unseen_pairs", "future"},
    "matrix_completion": {"unseen_pairs", "future"},
}


@dataclass
class SplitData:
    """One split: roles of the state rows, fit pairs and paths per stage, and the query rows per stage."""

    name: str
    roles: np.ndarray
    stages: dict

    def rows(self, tables: MeasurementTables, stage: str) -> pd.DataFrame:
        """The state rows scored at a stage (``val`` or ``test``), with ``rtt_ms``."""
        return _window_rows(tables, self.roles == stage)

    def too_small(self, tables: MeasurementTables) -> str | None:
        """Why the split cannot be trained and scored (a stage without a pair that has an RTT), else None."""
        measured = tables.state["rtt_median_s"].notna().to_numpy()
        stages = {
            "training": fit_mask(self.roles, "val"),
            "validation": self.roles == "val",
            "test": self.roles == "test",
        }
        counts = {name: len(tables.state.loc[mask & measured, PAIR].drop_duplicates()) for name, mask in stages.items()}
        if min(counts.values()) > 0:
            return None
        found = ", ".join(f"{n} {name}" for name, n in counts.items())
        return f"{self.name}: {found} pairs with an RTT; too few probes, targets or days to form this split"

    def fit_rows(self, tables: MeasurementTables, stage: str) -> pd.DataFrame:
        """The state rows a model may learn from when predicting a stage, with ``rtt_ms``."""
        return _window_rows(tables, fit_mask(self.roles, stage))


def _window_rows(tables: MeasurementTables, mask: np.ndarray) -> pd.DataFrame:
    rows = tables.state[mask].copy()
    rows["rtt_ms"] = rows["rtt_median_s"] * 1e3
    rows["jitter_ms"] = rows["jitter_s"] * 1e3
    return tables.with_locations(rows)


def prepare_split(tables: MeasurementTables, split: str, seed: int = 0) -> SplitData:
    """Roles, fit pairs, fit paths and unique query pairs of a split."""
    roles = assign_roles(tables.state, split, seed)
    data = SplitData(split, roles, {})
    for stage in ("val", "test"):
        fit = tables.fit_pairs(roles, stage)
        data.stages[stage] = (fit, tables.fit_paths(fit, split, stage))
        data.stages[f"{stage}_query"] = tables.with_locations(
            tables.state.loc[roles == stage, PAIR].drop_duplicates().reset_index(drop=True)
        )
    return data


def loss_auc(loss_true, loss_score) -> float | None:
    """Area under the ROC curve of the predicted loss share for lossy windows (≥ 50 % lost)."""
    true = np.asarray(loss_true, float)
    score = np.asarray(loss_score, float)
    keep = np.isfinite(true) & np.isfinite(score)
    label = true[keep] >= LOSSY
    if label.all() or not label.any():
        return None
    ranks = rankdata(score[keep])
    positives = label.sum()
    return float((ranks[label].sum() - positives * (positives + 1) / 2) / (positives * (len(label) - positives)))


def score_rows(rows: pd.DataFrame, predicted: pd.DataFrame) -> dict:
    """Metrics (ms) of per-pair predictions (``prb_id``, ``dst_addr``, ``rtt_ms``, ``loss_share``) on rows."""
    merged = rows[PAIR + ["rtt_ms", "loss_share"]].merge(predicted, on=PAIR, how="left", suffixes=("", "_pred"))
    true, pred = merged["rtt_ms"].to_numpy(float), merged["rtt_ms_pred"].to_numpy(float)
    return {
        "mae_ms": mae(true, pred),
        "rmse_ms": rmse(true, pred),
        "mape": mape(true, pred),
        "r2": r2(true, pred),
        "huber_ms": huber(true, pred, delta=HUBER_DELTA_MS),
        "loss_auc": loss_auc(merged["loss_share"], merged["loss_share_pred"]),
        "n_rows": int(np.isfinite(true).sum()),
    }


def _anchor(name: str, fit: pd.DataFrame, query: pd.DataFrame, **params) -> pd.DataFrame:
    predicted = getattr(anchors, name)(fit, query, **params)
    fallback = anchors.country_pair(fit, query)
    predicted["rtt_ms"] = predicted["rtt_ms"].fillna(fallback["rtt_ms"])
    if name != "vivaldi":
        predicted["loss_share"] = predicted["loss_share"].fillna(fallback["loss_share"])
    return pd.concat([query[PAIR].reset_index(drop=True), predicted.reset_index(drop=True)], axis=1)


def evaluate_anchors(tables: MeasurementTables, data: SplitData) -> dict[str, dict]:
    """Test metrics of every anchor that applies to the split (hyper-parameters chosen on validation)."""
    val_rows, test_rows = data.rows(tables, "val"), data.rows(tables, "test")
    results = {}
    for name, applies in APPLIES.items():
        if data.name not in applies:
            continue
        grid = ANCHOR_GRID.get(name, [{}])
        fit_val, _ = data.stages["val"]
        chosen = min(
            grid,
            key=lambda p: score_rows(val_rows, _anchor(name, fit_val, data.stages["val_query"], **p))["mae_ms"],
        )
        fit_test, _ = data.stages["test"]
        results[name] = score_rows(test_rows, _anchor(name, fit_test, data.stages["test_query"], **chosen))
        results[name]["params"] = chosen
    return results


def save_predictions(path: Path, query: pd.DataFrame, predicted, meta: dict, *, val: tuple | None = None) -> None:
    """Store a GNN's per-pair test predictions (``<path>.parquet``), its training facts (``<path>.json``) and,
    with ``val = (query, predicted)``, its validation predictions (``<path>.val.parquet``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = {".parquet": (query, predicted)} | ({".val.parquet": val} if val is not None else {})
    for suffix, (rows, values) in parts.items():
        frame = rows[PAIR].assign(rtt_ms=values.rtt_ms, jitter_ms=values.jitter_ms, loss_share=values.loss_share)
        frame.to_parquet(path.with_name(path.name + suffix), index=False)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1))
