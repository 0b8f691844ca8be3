"""Training: Adam, ReduceLROnPlateau, early stopping on a validation split of the training inputs, clipping, seeds."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ndtwin.data.metrics import mape
from ndtwin.data.sample import EVAL_TARGETS, Sample, flow_targets
from ndtwin.errors import ScenarioError
from ndtwin.gnn.features import GraphTensors, collate, featurize
from ndtwin.gnn.model import METRICS, RouteNetLike
from ndtwin.gnn.normalize import Normalizer

LossKind = Literal["mape", "logmse"]
LOSS_WEIGHT = (
    10.0  # weight of the loss-ratio cross-entropy against the relative delay and jitter errors (set, not tuned)
)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (stored in config.json next to the architecture)."""

    epochs: int = 200
    loss: LossKind = "mape"
    metrics: tuple[str, ...] = METRICS
    lr: float = 1e-3
    batch_size: int = 4
    patience: int = 20
    clip: float = 1.0
    val_fraction: float = 0.1
    seed: int = 0
    max_minutes: float | None = None

    def __post_init__(self) -> None:
        if self.loss not in ("mape", "logmse"):
            raise ScenarioError("--loss", "'mape' or 'logmse'", self.loss)
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics:
            raise ScenarioError("--metrics", f"a non-empty subset of {list(METRICS)}", list(self.metrics))
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ScenarioError(f"--{name.replace('_', '-')}", "an integer >= 1", getattr(self, name))
        if not 0 < self.val_fraction < 1:
            raise ScenarioError("--val-fraction", "a fraction between 0 and 1 (exclusive)", self.val_fraction)

    def to_json(self) -> dict:
        return {**asdict(self), "metrics": list(self.metrics)}


@dataclass
class Example:
    """A featurised sample and its targets: (F, 3) delay_s, delay_var_s2, loss (NaN where unknown)."""

    graph: GraphTensors
    targets: torch.Tensor


@dataclass
class EpochLog:
    epoch: int
    train_objective: float
    val_objective: float
    val_mape: dict[str, float]
    lr: float


@dataclass
class FitResult:
    best_epoch: int
    best_val_objective: float
    best_val_mape: dict[str, float]
    stopped: str  # "epochs", "early_stopping" or "max_minutes"
    seconds: float
    history: list[EpochLog] = field(default_factory=list)


def example_of(sample: Sample) -> Example:
    """Features and targets of a labelled sample."""
    columns = [EVAL_TARGETS[m] for m in METRICS]
    labels = flow_targets(sample.flow_labels)[columns].to_numpy(dtype=np.float32)
    return Example(featurize(sample.scenario), torch.tensor(labels))


def split(items: Sequence, val_fraction: float, seed: int) -> tuple[list, list]:
    """Seeded random split by sample; at least one sample on each side."""
    if len(items) < 2:
        raise ScenarioError("training data", "at least 2 samples (one is held out for validation)", len(items))
    order = np.random.default_rng(seed).permutation(len(items))
    n_val = min(max(1, round(val_fraction * len(items))), len(items) - 1)
    return [items[i] for i in order[n_val:]], [items[i] for i in order[:n_val]]


def objective(
    pred: dict[str, torch.Tensor], targets: torch.Tensor, kind: LossKind, metrics: Iterable[str]
) -> torch.Tensor:
    """Sum over ``metrics`` of the mean per-flow error: relative error (``mape``) or squared log error (``logmse``)
    for delay and jitter, over flows with a finite positive label. The loss ratio, exactly 0 for most flows,
    where relative errors are undefined, is scored by binary cross-entropy against the measured ratio."""
    total = targets.new_zeros(())
    for metric in metrics:
        true, guess = targets[:, METRICS.index(metric)], pred[metric]
        if metric == "loss":
            keep = torch.isfinite(true)
            if keep.any():
                total = total + LOSS_WEIGHT * F.binary_cross_entropy(guess[keep].clamp(1e-7, 1 - 1e-7), true[keep])
            continue
        keep = torch.isfinite(true) & (true > 0)
        if not keep.any():
            continue
        true, guess = true[keep], guess[keep]
        if kind == "mape":
            total = total + ((guess - true).abs() / true).mean()
        else:
            total = total + (torch.log(guess.clamp_min(1e-30)) - torch.log(true)).square().mean()
    return total


def batches(examples: Sequence[Example], size: int, rng: np.random.Generator | None = None) -> list[Example]:
    """Disjoint unions of ``size`` examples (shuffled when ``rng`` is given)."""
    order = rng.permutation(len(examples)) if rng is not None else np.arange(len(examples))
    groups = [order[i : i + size] for i in range(0, len(order), size)]
    return [
        Example(collate([examples[i].graph for i in g]), torch.cat([examples[i].targets for i in g])) for g in groups
    ]


def validate(model: RouteNetLike, examples: Sequence[Example], config: TrainConfig) -> tuple[float, dict[str, float]]:
    """Flow-weighted objective and per-metric MAPE (percent, flows with a non-zero label) on ``examples``."""
    model.eval()
    total, flows = 0.0, 0
    preds: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    with torch.inference_mode():
        for batch in examples:
            pred = model(batch.graph)
            total += float(objective(pred, batch.targets, config.loss, config.metrics)) * batch.graph.n_flows
            flows += batch.graph.n_flows
            for m in METRICS:
                preds[m].append(pred[m].numpy())
    true = torch.cat([b.targets for b in examples]).numpy()
    scores = {m: mape(true[:, METRICS.index(m)], np.concatenate(preds[m])) for m in config.metrics}
    return total / max(flows, 1), scores


def fit(
    model: RouteNetLike,
    train: Sequence[Example],
    val: Sequence[Example],
    normalizer: Normalizer,
    config: TrainConfig,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> FitResult:
    """Train ``model`` in place and leave it with the weights of its best validation epoch."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)

    def norm(items):
        return [Example(normalizer.apply(e.graph), e.targets) for e in items]

    train, val_batches = norm(train), batches(norm(val), config.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=max(2, config.patience // 4))
    start = time.perf_counter()
    deadline = start + 60 * config.max_minutes if config.max_minutes else float("inf")
    best_state, best_log, stopped, history = copy.deepcopy(model.state_dict()), None, "epochs", []
    for epoch in range(1, config.epochs + 1):
        model.train()
        losses = []
        for batch in batches(train, config.batch_size, rng):
            optimizer.zero_grad()
            loss = objective(model(batch.graph), batch.targets, config.loss, config.metrics)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimizer.step()
            losses.append(loss.item())
            if time.perf_counter() > deadline:
                break
        val_objective, val_mape = validate(model, val_batches, config)
        scheduler.step(val_objective)
        log = EpochLog(epoch, float(np.mean(losses)), val_objective, val_mape, optimizer.param_groups[0]["lr"])
        history.append(log)
        if best_log is None or val_objective < best_log.val_objective:
            best_log, best_state = log, copy.deepcopy(model.state_dict())
        if on_epoch is not None:
            on_epoch(log)
        if time.perf_counter() > deadline:
            stopped = "max_minutes"
            break
        if epoch - best_log.epoch >= config.patience:
            stopped = "early_stopping"
            break
    model.load_state_dict(best_state)
    return FitResult(
        best_epoch=best_log.epoch,
        best_val_objective=best_log.val_objective,
        best_val_mape=best_log.val_mape,
        stopped=stopped,
        seconds=round(time.perf_counter() - start, 1),
        history=history,
    )
