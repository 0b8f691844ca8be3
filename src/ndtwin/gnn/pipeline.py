"""From datasets to a model directory: read, split, normalise, (warm-)start, fit, save with provenance."""

from __future__ import annotations

import platform
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

import ndtwin
from ndtwin.data.datanet import ReadReport
from ndtwin.data.load import open_samples
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.gnn.model import ModelConfig, RouteNetLike
from ndtwin.gnn.modeldir import SavedModel, is_model_dir, load_model, save_model
from ndtwin.gnn.normalize import Normalizer
from ndtwin.gnn.train import (
    EpochLog,
    Example,
    FitResult,
    TrainConfig,
    example_of,
    fit,
    split,
)
from ndtwin.gnn.twin import RESCALE_BEYOND_STD, needs_rescaling
from ndtwin.twin.qt import QueueReading


def read_examples(
    paths: Sequence[Path], report: ReadReport, on_sample: Callable[[str], None] | None = None
) -> list[Example]:
    """Featurised labelled samples of every dataset in ``paths``."""
    examples = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in paths:
            for sample in open_samples(path, report):
                examples.append(example_of(sample))
                if on_sample is not None:
                    on_sample(sample.sample_id)
    return examples


def check_output_dir(
    out: Path, accepts: Callable[[Path], bool] = is_model_dir, kind: str = "a model directory"
) -> None:
    """``out`` must be new, empty, or an existing directory of ``kind`` (``accepts(out)``; its files are replaced)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not accepts(out))):
        raise DatasetError(out, f"exists and is not an empty folder or {kind}; choose another --out")


def start_model(
    architecture: dict[str, Any], warm_start: Path | None, seed: int
) -> tuple[RouteNetLike, Normalizer | None]:
    """A fresh model from ``architecture`` (overrides of ModelConfig), or the warm-start directory's model and
    normalisation; in that case every given architecture option must match the saved one."""
    if warm_start is None:
        torch.manual_seed(seed)
        return RouteNetLike(ModelConfig(**architecture)), None
    saved = load_model(warm_start)
    current = saved.model.config
    for name, value in architecture.items():
        if getattr(current, name) != value:
            raise ScenarioError(f"--{name}", f"the warm-start model's value {getattr(current, name)!r}", value)
    saved.model.config = replace(current, **asdict(QueueReading()))  # training examples read the ports so
    return saved.model, saved.normalizer


def check_warm_start_scale(normalizer: Normalizer, train: Sequence[Example], warm_start: Path | None) -> None:
    """A warm start keeps the model's input statistics: training samples that the twin would rescale before
    predicting (packet sizes or capacities far outside that model's training data) would be trained on as they are
    but predicted rescaled, so they are refused."""
    off = sum(needs_rescaling(normalizer, e.graph) for e in train)
    if off:
        raise ScenarioError(
            "--warm-start",
            "a model whose training data covers the packet sizes and capacities of "
            f"the new data ({off} of {len(train)} training samples lie more than {RESCALE_BEYOND_STD:g} "
            "standard deviations outside them; train from scratch instead)",
            str(warm_start),
        )


def train_to_directory(
    examples: Sequence[Example],
    out: Path,
    config: TrainConfig,
    *,
    data: Sequence[Path],
    report: ReadReport,
    architecture: dict[str, Any] | None = None,
    warm_start: Path | None = None,
    command: str = "",
    threads: int = 1,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> FitResult:
    """Train on ``examples`` read from ``data`` (a validation split is held out from them); save directory ``out``.

    ``threads`` is torch's intra-op thread count for the run.
    """
    check_output_dir(out)
    torch.set_num_threads(threads)
    model, normalizer = start_model(architecture or {}, warm_start, config.seed)
    train, val = split(examples, config.val_fraction, config.seed)
    if normalizer is not None:
        check_warm_start_scale(normalizer, train, warm_start)
    normalizer = normalizer or Normalizer.fit([e.graph for e in train])
    result = fit(model, train, val, normalizer, config, on_epoch)
    metrics = {
        "note": "validation = a random split of the training inputs (not a test set)",
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "stopped": result.stopped,
        "seconds": result.seconds,
        "val_objective": result.best_val_objective,
        "val_mape_percent": result.best_val_mape,
        "history": [vars(log) for log in result.history],
    }
    provenance = {
        "data": [str(Path(p).resolve()) for p in data],
        "n_train_samples": len(train),
        "n_val_samples": len(val),
        "n_train_flows": sum(e.graph.n_flows for e in train),
        "n_val_flows": sum(e.graph.n_flows for e in val),
        "skipped_unstable": report.skipped_unstable,
        "command": command,
        "seed": config.seed,
        "threads": threads,
        "warm_start_from": str(Path(warm_start).resolve()) if warm_start else None,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "ndtwin_version": ndtwin.__version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
    }
    save_model(out, SavedModel(model, normalizer, config.to_json(), metrics, provenance))
    return result
