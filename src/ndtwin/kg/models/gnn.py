"""The GNN zoo (GraphSAGE, ChebNet, ResGatedGCN, GraphTransformer) predicting a pair's RTT, jitter and loss.

Architecture: a linear input projection, two graph-convolution layers of the chosen kind (residual, ReLU), then
a pair head, an MLP over [h_probe, h_target, h_probe ⊙ h_target], with three outputs: standardised log RTT,
log(1 + jitter in ms), and a loss-share logit.

Training hides the supervised pairs from the graph: each epoch a random 30 % of the fit pairs (``unit='pair'``)
or all pairs of a random 30 % of the probes (``unit='probe'``, for the unseen-probe split) are supervised and
their message edges, paths and statistics removed, so the model learns to predict pairs it cannot see — as at
evaluation, where the evaluated pairs are not in the graph at all. Epochs are chosen by early stopping on the
validation rows; the test rows are predicted once, with the best weights.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch_geometric.nn import ChebConv, ResGatedGraphConv, SAGEConv, TransformerConv

from ndtwin.kg.models.graph import GraphInputs, graph_inputs

ARCHS = ("sage", "cheb", "resgated", "transformer")
HIDDEN = 64
HIDE_SHARE = 0.3
MAX_EPOCHS = 600
EVAL_EVERY = 20
PATIENCE = 10
PAIR_FEATURES = 7


def _conv(arch: str, size: int) -> nn.Module:
    if arch == "sage":
        return SAGEConv(size, size)
    if arch == "cheb":
        return ChebConv(size, size, K=2)
    if arch == "resgated":
        return ResGatedGraphConv(size, size)
    if arch == "transformer":
        return TransformerConv(size, size, heads=2, concat=False)
    raise ValueError(f"arch: expected one of {', '.join(ARCHS)}, got {arch!r}")


class PairGNN(nn.Module):
    """Node embeddings by two graph convolutions; a pair head on (probe, target) embeddings."""

    def __init__(self, arch: str, n_features: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.project = nn.Linear(n_features, hidden)
        self.convs = nn.ModuleList([_conv(arch, hidden), _conv(arch, hidden)])
        self.head = nn.Sequential(nn.Linear(3 * hidden + PAIR_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, 3))

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, pairs: torch.Tensor, extra: torch.Tensor):
        """``pairs``: P × 2 node indices (probe, target), ``extra``: P × 7 pair features → P × 3."""
        h = torch.relu(self.project(x))
        for conv in self.convs:
            h = h + torch.relu(conv(h, edge_index))
        a, b = h[pairs[:, 0]], h[pairs[:, 1]]
        return self.head(torch.cat([a, b, a * b, extra], dim=1))


@dataclass
class Decoded:
    """Predictions in natural units."""

    rtt_ms: np.ndarray
    jitter_ms: np.ndarray
    loss_share: np.ndarray


def decode(output: torch.Tensor, rtt_scale: tuple[float, float]) -> Decoded:
    out = output.detach().numpy().astype(float)
    mean, std = rtt_scale
    return Decoded(np.exp(out[:, 0] * std + mean), np.expm1(np.clip(out[:, 1], 0, None)), 1 / (1 + np.exp(-out[:, 2])))


def _targets(fit: pd.DataFrame, rtt_scale: tuple[float, float]) -> torch.Tensor:
    mean, std = rtt_scale
    return torch.tensor(
        np.stack(
            [
                (np.log(fit["rtt_ms"].to_numpy(float)) - mean) / std,
                np.log1p(fit["jitter_ms"].to_numpy(float)),
                fit["loss_share"].to_numpy(float),
            ],
            axis=1,
        ),
        dtype=torch.float32,
    )


def _loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    total = nn.functional.binary_cross_entropy_with_logits(output[:, 2], target[:, 2].nan_to_num(0.0))
    for column in (0, 1):
        known = torch.isfinite(target[:, column])
        if known.any():
            total = total + nn.functional.smooth_l1_loss(output[known, column], target[known, column], beta=0.5)
    return total


def query_nodes(graph: GraphInputs, query: pd.DataFrame) -> torch.Tensor:
    """Node indices (probe, target) of query pairs."""
    return torch.tensor(
        [[graph.node_of[f"p{p}"], graph.node_of[f"t{t}"]] for p, t in zip(query["prb_id"], query["dst_addr"])]
    ).reshape(-1, 2)


def train_gnn(
    arch: str,
    stages: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    tables,
    *,
    unit: str,
    val_score,
    seed: int = 0,
) -> dict:
    """Train on the ``val`` stage (fit pairs, their paths), stop early on ``val_score`` of the validation query,
    then predict the ``test`` stage's query once.

    ``stages[stage] = (fit_pairs, paths)``; ``val_score(query_predictions: Decoded) -> float`` (lower is better).
    With ``stages["train"]`` (fit pairs and paths before a cut) and ``stages["train_labels"]`` (pair values after
    it), the model trains on the whole earlier graph — each pair's own history included — against the later values
    (the future split); otherwise it trains by hiding pairs.
    Returns the test and validation predictions of the best weights, the model, the RTT scale, the epochs trained
    and the training time.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    with_history = "train" in stages
    fit, paths = stages["train"] if with_history else stages["val"]
    rtt_scale = _rtt_scale(fit)
    graph = graph_inputs(fit, paths, tables.probes, tables.targets, rtt_scale=rtt_scale)
    val_graph = (
        graph_inputs(*stages["val"], tables.probes, tables.targets, rtt_scale=rtt_scale) if with_history else graph
    )
    model = PairGNN(arch, graph.tensors()[0].shape[1])
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    val_query = stages["val_query"]
    x_full, edges_full = val_graph.tensors()
    val_nodes = query_nodes(val_graph, val_query)
    val_extra = val_graph.pair_features(val_query)
    best = (float("inf"), 0, None)
    stale = 0
    start = time.perf_counter()
    epoch = 0
    for epoch in range(1, MAX_EPOCHS + 1):
        model.train()
        if with_history:  # every fit pair shown, the labels come from later windows
            hidden, supervised = None, stages["train_labels"]
        else:
            hidden = _hidden(fit, unit, rng)
            supervised = fit[hidden]
        x, edges = graph.tensors(hidden)
        output = model(x, edges, query_nodes(graph, supervised), graph.pair_features(supervised, hidden))
        targets = _targets(supervised, rtt_scale)
        loss = _loss(output, targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if epoch % EVAL_EVERY == 0:
            model.eval()
            with torch.no_grad():
                score = val_score(decode(model(x_full, edges_full, val_nodes, val_extra), rtt_scale))
            if score < best[0]:
                best, stale = (score, epoch, {k: v.clone() for k, v in model.state_dict().items()}), 0
            else:
                stale += 1
                if stale >= PATIENCE:
                    break
    seconds = time.perf_counter() - start
    model.load_state_dict(best[2])
    test_fit, test_paths = stages["test"]
    test_graph = graph_inputs(test_fit, test_paths, tables.probes, tables.targets, rtt_scale=rtt_scale)
    model.eval()
    with torch.no_grad():
        val_predicted = decode(model(x_full, edges_full, val_nodes, val_extra), rtt_scale)
        x, edges = test_graph.tensors()
        query = stages["test_query"]
        extra = test_graph.pair_features(query)
        predicted = decode(model(x, edges, query_nodes(test_graph, query), extra), rtt_scale)
    return {
        "predicted": predicted,
        "val_predicted": val_predicted,
        "model": model,
        "rtt_scale": rtt_scale,
        "epochs": best[1],
        "epochs_run": epoch,
        "train_seconds": seconds,
        "val": best[0],
    }


def _rtt_scale(fit: pd.DataFrame) -> tuple[float, float]:
    logs = np.log(fit["rtt_ms"].dropna().to_numpy(float))
    return float(logs.mean()), float(logs.std() or 1.0)


def _hidden(fit: pd.DataFrame, unit: str, rng: np.random.Generator) -> np.ndarray:
    if unit == "probe":
        probes = fit["prb_id"].unique()
        chosen = rng.choice(probes, size=max(1, round(HIDE_SHARE * len(probes))), replace=False)
        return fit["prb_id"].isin(chosen).to_numpy()
    return rng.random(len(fit)) < HIDE_SHARE
