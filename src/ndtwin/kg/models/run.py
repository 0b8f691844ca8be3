"""``ndtwin kg train`` / ``ndtwin kg eval``: train a GNN on every split, score all models side by side.

Trained predictions live in ``OUT/models/<arch>/<split>.parquet`` (per test pair; ``<split>.val.parquet`` per
validation pair) with ``<split>.json`` (epochs, training seconds, validation MAE), the model itself in the model
directory ``OUT/models/<arch>/<split>/``; ``eval`` recomputes the anchors and reads the prediction files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ndtwin.errors import DatasetError
from ndtwin.kg.models.dataset import PAIR, load_tables
from ndtwin.kg.models.evaluate import evaluate_anchors, prepare_split, save_predictions, score_rows
from ndtwin.kg.models.gnn import ARCHS, MEMBERS, train_gnn
from ndtwin.kg.models.modeldir import SavedPairGNN, save_pair_gnn
from ndtwin.kg.models.splits import SPLITS, history_label_roles

MODELS_DIR = "models"


def train_arch(
    out: Path,
    arch: str,
    *,
    seed: int = 0,
    init_seed: int | None = None,
    splits: tuple[str, ...] = SPLITS,
    models_dir: Path | None = None,
    residual: bool = True,
    members: int = MEMBERS,
) -> dict[str, dict]:
    """Train ``arch`` on each split (single-threaded); the training facts per split (``{"skipped": why}`` for a
    split the data is too small for; an error if that is every split).

    ``seed`` draws the splits and, unless ``init_seed`` is given, the initialisation and the hidden pairs of each
    epoch; ``init_seed`` varies only the latter (repeated runs on the same split). ``residual`` and ``members``:
    see :func:`ndtwin.kg.models.gnn.train_gnn`. Predictions go to ``models_dir`` (default ``OUT/models``)."""
    if arch not in ARCHS:
        raise ValueError(f"--arch: expected one of {', '.join(ARCHS)}, got {arch!r}")
    torch.set_num_threads(1)
    tables = load_tables(out)
    facts = {}
    for split in splits:
        data = prepare_split(tables, split, seed)
        if (why := data.too_small(tables)) is not None:
            facts[split] = {"skipped": why}
            continue
        val_rows = data.rows(tables, "val")
        val_query = data.stages["val_query"]

        def val_score(decoded, val_rows=val_rows, val_query=val_query) -> float:
            predicted = val_query[PAIR].assign(rtt_ms=decoded.rtt_ms, loss_share=decoded.loss_share)
            return score_rows(val_rows, predicted)["mae_ms"]

        unit = "probe" if split == "unseen_probes" else "pair"
        if split == "future":
            inner = history_label_roles(tables.state, data.roles)
            early = tables.fit_pairs(inner, "val")
            data.stages["train"] = (early, tables.fit_paths(early, split, "label"))
            data.stages["train_labels"] = tables.fit_pairs(np.where(inner == "label", "train", "unused"), "val")
        init = seed if init_seed is None else init_seed
        result = train_gnn(
            arch, data.stages, tables, unit=unit, val_score=val_score, seed=init, residual=residual, members=members
        )
        meta = {k: result[k] for k in ("epochs", "epochs_run", "train_seconds", "val")}
        meta |= {"arch": arch, "seed": seed, "init_seed": init, "residual": residual, "members": members}
        base = (models_dir or Path(out) / MODELS_DIR) / arch / split
        model = result["model"]
        provenance = {"source": str(Path(out).resolve()), "split": split, "seed": seed, "init_seed": init}
        saved = SavedPairGNN(model, arch, model.n_features, result["rtt_scale"], meta, provenance, residual, members)
        save_pair_gnn(base, saved)
        save_predictions(
            base,
            data.stages["test_query"],
            result["predicted"],
            meta,
            val=(val_query, result["val_predicted"]),
        )
        facts[split] = meta
    if all("skipped" in meta for meta in facts.values()):
        raise DatasetError(out, "; ".join(meta["skipped"] for meta in facts.values()))
    return facts


def trained_predictions(
    out: Path, arch: str, split: str, *, models_dir: Path | None = None, stage: str = "test"
) -> tuple[pd.DataFrame, dict] | None:
    """A trained GNN's predictions (``stage`` ``test`` or ``val``) and facts for a split, if ``kg train`` produced
    them."""
    base = (models_dir or Path(out) / MODELS_DIR) / arch / split
    table = base.with_name(split + (".val.parquet" if stage == "val" else ".parquet"))
    if not table.is_file():
        return None
    return pd.read_parquet(table), json.loads(base.with_suffix(".json").read_text())


def evaluate_all(out: Path, *, seed: int = 0) -> dict[str, dict[str, dict]]:
    """``{split: {model: metrics}}`` for the anchors and every trained GNN (no models for a split the data is too
    small for)."""
    tables = load_tables(out)
    report = {}
    for split in SPLITS:
        data = prepare_split(tables, split, seed)
        if data.too_small(tables) is not None:
            report[split] = {}
            continue
        results = evaluate_anchors(tables, data)
        test_rows = data.rows(tables, "test")
        for arch in ARCHS:
            found = trained_predictions(out, arch, split)
            if found is not None:
                predicted, meta = found
                results[arch] = score_rows(test_rows, predicted) | {
                    "train_seconds": meta["train_seconds"],
                    "epochs": meta["epochs"],
                    "val_mae_ms": meta["val"],
                }
        report[split] = results
    return report


def split_test_rows(out: Path, split: str, *, seed: int = 0) -> pd.DataFrame:
    """The measured test rows of a split (``rtt_ms``, ``jitter_ms``, ``loss_share`` per pair and window)."""
    tables = load_tables(out)
    return prepare_split(tables, split, seed).rows(tables, "test")


def best_trained(report: dict[str, dict[str, dict]], split: str) -> str | None:
    """The trained GNN with the lowest validation MAE on a split (chosen without looking at the test rows)."""
    trained = {name: m["val_mae_ms"] for name, m in report.get(split, {}).items() if "val_mae_ms" in m}
    return min(trained, key=trained.get) if trained else None
