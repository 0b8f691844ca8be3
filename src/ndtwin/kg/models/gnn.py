"""The GNN zoo (GraphSAGE, ChebNet, ResGatedGCN, GraphTransformer) predicting a pair's RTT, jitter and loss.

Architecture: a linear input projection, two graph-convolution layers of the chosen kind (residual, ReLU), then
a pair head, an MLP over [h_probe, h_target, h_probe ⊙ h_target, pair features], with three outputs: standardised
log RTT, log(1 + jitter in ms), and a loss-share logit. With ``residual=True`` (the default) the log-RTT output and
the loss logit are the pair's offset features (its most specific classical estimates, see
``GraphInputs.pair_features``) plus the network's corrections, so the network learns only where the graph knows
better than the anchor.

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

from ndtwin.kg.models.graph import LOSS_OFFSET, OFFSET, PAIR_FEATURES, GraphInputs, graph_inputs

ARCHS = ("sage", "cheb", "resgated", "transformer")
HIDDEN = 64
HIDE_SHARE = 0.3
MAX_EPOCHS = 600
EVAL_EVERY = 20
PATIENCE = 10
MEMBERS = 3  # networks averaged by default (chosen on unseen-pair validation, docs/history/KG-2026-12-07.md)


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

    def __init__(self, arch: str, n_features: int, hidden: int = HIDDEN, *, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.project = nn.Linear(n_features, hidden)
        self.convs = nn.ModuleList([_conv(arch, hidden), _conv(arch, hidden)])
        self.head = nn.Sequential(nn.Linear(3 * hidden + PAIR_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, 3))

    @property
    def n_features(self) -> int:
        """Width of the node features the network reads."""
        return self.project.in_features

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, pairs: torch.Tensor, extra: torch.Tensor):
        """``pairs``: P × 2 node indices (probe, target), ``extra``: P × PAIR_FEATURES pair features → P × 3."""
        h = torch.relu(self.project(x))
        for conv in self.convs:
            h = h + torch.relu(conv(h, edge_index))
        a, b = h[pairs[:, 0]], h[pairs[:, 1]]
        out = self.head(torch.cat([a, b, a * b, extra], dim=1))
        if not self.residual:
            return out
        offsets = torch.stack([extra[:, OFFSET], torch.zeros_like(extra[:, OFFSET]), extra[:, LOSS_OFFSET]], dim=1)
        return out + offsets


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


class PairEnsemble(nn.Module):
    """The mean output of pair GNNs trained alike from different initialisations (mean log RTT, mean log jitter,
    mean loss logit)."""

    def __init__(self, members: list[PairGNN]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    @property
    def n_features(self) -> int:
        """Width of the node features the networks read."""
        return self.members[0].n_features

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, pairs: torch.Tensor, extra: torch.Tensor):
        return torch.stack([member(x, edge_index, pairs, extra) for member in self.members]).mean(dim=0)


@dataclass
class _Inputs:
    """A graph with the node tensors and pair features of a query, ready for a forward pass."""

    graph: GraphInputs
    x: torch.Tensor
    edges: torch.Tensor
    nodes: torch.Tensor
    extra: torch.Tensor

    @classmethod
    def of(cls, graph: GraphInputs, query: pd.DataFrame) -> _Inputs:
        x, edges = graph.tensors()
        return cls(graph, x, edges, query_nodes(graph, query), graph.pair_features(query))

    def run(self, model: nn.Module) -> torch.Tensor:
        model.eval()
        with torch.no_grad():
            return model(self.x, self.edges, self.nodes, self.extra)


def train_gnn(
    arch: str,
    stages: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    tables,
    *,
    unit: str,
    val_score,
    seed: int = 0,
    residual: bool = True,
    members: int = 1,
) -> dict:
    """Train on the ``val`` stage (fit pairs, their paths), stop early on ``val_score`` of the validation query,
    then predict the ``test`` stage's query once.

    ``stages[stage] = (fit_pairs, paths)``; ``val_score(query_predictions: Decoded) -> float`` (lower is better).
    With ``stages["train"]`` (fit pairs and paths before a cut) and ``stages["train_labels"]`` (pair values after
    it), the model trains on the whole earlier graph — each pair's own history included — against the later values
    (the future split); otherwise it trains by hiding pairs. ``members`` > 1 trains that many networks from
    initialisation seeds ``seed``, ``seed + 1000``, … (each stopped early on its own) and averages them.
    Returns the test and validation predictions of the best weights, the model, the RTT scale, the epochs trained
    (the members' mean) and the training time.
    """
    with_history = "train" in stages
    fit, paths = stages["train"] if with_history else stages["val"]
    rtt_scale = _rtt_scale(fit)
    graph = graph_inputs(fit, paths, tables.probes, tables.targets, rtt_scale=rtt_scale)
    val_graph = (
        graph_inputs(*stages["val"], tables.probes, tables.targets, rtt_scale=rtt_scale) if with_history else graph
    )
    val_inputs = _Inputs.of(val_graph, stages["val_query"])
    start = time.perf_counter()
    trained = []
    for member in range(members):
        torch.manual_seed(seed + 1000 * member)
        model = PairGNN(arch, val_inputs.x.shape[1], residual=residual)
        epochs = _fit(model, graph, stages, unit, rtt_scale, val_inputs, val_score, seed + 1000 * member)
        trained.append((model, *epochs))
    seconds = time.perf_counter() - start
    model = trained[0][0] if members == 1 else PairEnsemble([m for m, *_ in trained])
    test_graph = graph_inputs(*stages["test"], tables.probes, tables.targets, rtt_scale=rtt_scale)
    val_predicted = decode(val_inputs.run(model), rtt_scale)
    predicted = decode(_Inputs.of(test_graph, stages["test_query"]).run(model), rtt_scale)
    return {
        "predicted": predicted,
        "val_predicted": val_predicted,
        "model": model,
        "rtt_scale": rtt_scale,
        "epochs": round(float(np.mean([t[1] for t in trained]))),
        "epochs_run": round(float(np.mean([t[2] for t in trained]))),
        "train_seconds": seconds,
        "val": val_score(val_predicted),
    }


def _fit(model, graph, stages, unit, rtt_scale, val_inputs: _Inputs, val_score, seed: int) -> tuple[int, int]:
    """Train ``model`` in place, keep the weights of the best validation score; (best epoch, epochs run). ``seed``
    draws the hidden pairs of each epoch."""
    rng = np.random.default_rng(seed)
    with_history = "train" in stages
    fit = stages["val"][0] if not with_history else stages["train"][0]
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    best = (float("inf"), 0, None)
    stale = 0
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
        loss = _loss(output, _targets(supervised, rtt_scale))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if epoch % EVAL_EVERY == 0:
            score = val_score(decode(val_inputs.run(model), rtt_scale))
            if score < best[0]:
                best, stale = (score, epoch, {k: v.clone() for k, v in model.state_dict().items()}), 0
            else:
                stale += 1
                if stale >= PATIENCE:
                    break
    model.load_state_dict(best[2])
    return best[1], epoch


def _rtt_scale(fit: pd.DataFrame) -> tuple[float, float]:
    logs = np.log(fit["rtt_ms"].dropna().to_numpy(float))
    return float(logs.mean()), float(logs.std() or 1.0)


def _hidden(fit: pd.DataFrame, unit: str, rng: np.random.Generator) -> np.ndarray:
    if unit == "probe":
        probes = fit["prb_id"].unique()
        chosen = rng.choice(probes, size=max(1, round(HIDE_SHARE * len(probes))), replace=False)
        return fit["prb_id"].isin(chosen).to_numpy()
    return rng.random(len(fit)) < HIDE_SHARE
