"""The GNN: path, queue and link hidden states refined by message passing, with physically shaped readouts.

Each iteration: every path runs a GRU over the (queue, link) states of its hops; every queue aggregates the
per-hop path states crossing it (sum, or attention-weighted) and updates by GRU; every link runs a GRU over its
queues in priority order. Readouts work per hop on (path state after the hop, queue state):

* delay  = Σ_hops  min(exp(r_d) · queue packet time, W) + flow packet time + propagation  (r_d: queue occupancy)
* jitter = Σ_hops  min(exp(r_j) · queue packet time², V)                                (per-hop delay variance)
* loss   = 1 − Π_hops (1 − sigmoid(r_l))                                               (per-hop drop ratio; loss in [0, 1])

W is the physical bound of the hop's mean wait (its buffer drained at the capacity the port can give it) and V the
hop's share of its flow's delay-variance bound (``ndtwin.scenario.bounds``), so that a flow's predicted delay and
variance never exceed what its path's buffers allow. ``ModelConfig.bounded = False`` leaves them out (for
scenarios whose buffers are not known, e.g. the GNNet 2023 testbed, where the reader fills in a default port).

The per-hop scores r come from per-metric MLPs, or from a top-k gated mixture of experts shared by the metrics
with one linear head per metric (``moe``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ndtwin.errors import ScenarioError
from ndtwin.gnn.features import (
    FLOW_FEATURES,
    LINK_FEATURES,
    QUEUE_FEATURES,
    GraphTensors,
)
from ndtwin.twin.qt import FAIR_SHARES, FairShare, QueueReading

METRICS: tuple[str, ...] = ("delay", "jitter", "loss")
LOG_CLAMP = (-20.0, 12.0)  # range of the per-hop log-occupancy scores


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyper-parameters (stored in a model directory's config.json)."""

    hidden: int = 32
    iterations: int = 8
    attention: bool = False
    moe: bool = False
    experts: int = 4
    top_k: int = 2
    bounded: bool = True
    fair_share: FairShare = QueueReading.fair_share  # how its inputs read the ports (ndtwin.twin.qt.QueueReading)
    transmission_in_buffer: bool = QueueReading.transmission_in_buffer

    def __post_init__(self) -> None:
        for name in ("hidden", "iterations", "experts", "top_k"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ScenarioError(f"model.{name}", "an integer >= 1", getattr(self, name))
        if self.top_k > self.experts:
            raise ScenarioError("model.top_k", f"at most the number of experts ({self.experts})", self.top_k)
        if self.fair_share not in FAIR_SHARES:
            raise ScenarioError("model.fair_share", f"one of {', '.join(FAIR_SHARES)}", self.fair_share)
        if not isinstance(self.transmission_in_buffer, bool):
            raise ScenarioError("model.transmission_in_buffer", "true or false", self.transmission_in_buffer)

    @property
    def queue_reading(self) -> QueueReading:
        return QueueReading(self.fair_share, self.transmission_in_buffer)

    def to_json(self) -> dict:
        return asdict(self)


def scatter_softmax(scores: torch.Tensor, index: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Softmax of ``scores`` within each group of equal ``index``."""
    peak = scores.new_full((n_groups,), float("-inf")).scatter_reduce(0, index, scores, "amax")
    weights = torch.exp(scores - peak[index])
    return weights / weights.new_zeros(n_groups).index_add(0, index, weights)[index]


def mlp(n_in: int, n_hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_out))


class GruStep(nn.Module):
    """A GRU cell whose input projection (3·hidden columns, bias included) is computed by the caller."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.recurrent = nn.Linear(hidden, 3 * hidden)

    def forward(self, projected_input: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        sizes = [2 * self.hidden, self.hidden]
        input_gates, input_candidate = projected_input.split(sizes, dim=-1)
        recurrent_gates, recurrent_candidate = self.recurrent(state).split(sizes, dim=-1)
        reset, update = torch.sigmoid(input_gates + recurrent_gates).chunk(2, dim=-1)
        # tanh(z) = 2σ(2z) − 1: the CPU build's sigmoid is several times faster than its tanh.
        candidate = torch.sigmoid(torch.addcmul(input_candidate, reset, recurrent_candidate).mul_(2)).mul(2).sub_(1)
        return torch.lerp(candidate, state, update)


class SparseMoE(nn.Module):
    """Experts shared by all metrics; each metric's gate keeps its top-k experts (softmax over those)."""

    def __init__(self, n_in: int, hidden: int, n_experts: int, top_k: int, n_metrics: int) -> None:
        super().__init__()
        self.experts = nn.ModuleList(mlp(n_in, hidden, hidden) for _ in range(n_experts))
        self.gate = nn.Linear(n_in, n_metrics * n_experts)
        self.heads = nn.Parameter(torch.randn(n_metrics, hidden) / hidden**0.5)
        self.head_bias = nn.Parameter(torch.zeros(n_metrics))
        self.n_experts, self.top_k, self.n_metrics = n_experts, top_k, n_metrics

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        """(N, metrics, experts) weights, zero outside each row's top-k."""
        logits = self.gate(x).view(-1, self.n_metrics, self.n_experts)
        top, index = logits.topk(self.top_k, dim=-1)
        return torch.zeros_like(logits).scatter(-1, index, torch.softmax(top, dim=-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Σ_e gate[m, e] · (head_m · expert_e(x)), computed as two matrix products: the experts' first layers
        side by side, then their second layers already projected onto the metric heads (block-diagonal)."""
        first = [expert[0] for expert in self.experts]
        second = [expert[2] for expert in self.experts]
        hidden = torch.relu(
            nn.functional.linear(
                x, torch.cat([layer.weight for layer in first]), torch.cat([layer.bias for layer in first])
            )
        )
        projected = torch.block_diag(*(layer.weight.T @ self.heads.T for layer in second))  # (E·hidden, E·metrics)
        bias = torch.cat([layer.bias @ self.heads.T for layer in second])  # (E·metrics,)
        per_expert = torch.addmm(bias, hidden, projected).view(-1, self.n_experts, self.n_metrics)
        return (self.gates(x) * per_expert.transpose(1, 2)).sum(-1) + self.head_bias  # (N, metrics)


class PerMetricReadout(nn.Module):
    """One MLP per metric."""

    def __init__(self, n_in: int, hidden: int, n_metrics: int) -> None:
        super().__init__()
        self.heads = nn.ModuleList(mlp(n_in, hidden, 1) for _ in range(n_metrics))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(x) for head in self.heads], dim=-1)


class RouteNetLike(nn.Module):
    """Predicts per-flow delay (s), delay variance (s²) and loss ratio from ``GraphTensors``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        h = config.hidden
        self.config = config
        self.flow_embed = mlp(len(FLOW_FEATURES), h, h)
        self.queue_embed = mlp(len(QUEUE_FEATURES), h, h)
        self.link_embed = mlp(len(LINK_FEATURES), h, h)
        self.path_from_queue = nn.Linear(h, 3 * h)
        self.path_from_link = nn.Linear(h, 3 * h, bias=False)
        self.path_gru = GruStep(h)
        self.queue_input = nn.Linear(h, 3 * h)
        self.queue_gru = GruStep(h)
        self.link_input = nn.Linear(h, 3 * h)
        self.link_gru = GruStep(h)
        if config.attention:
            self.attend_path = nn.Linear(h, h, bias=False)
            self.attend_queue = nn.Linear(h, h, bias=False)
        if config.moe:
            self.readout: nn.Module = SparseMoE(2 * h, h, config.experts, config.top_k, len(METRICS))
        else:
            self.readout = PerMetricReadout(2 * h, h, len(METRICS))
        self._init_loss_bias()

    def _init_loss_bias(self) -> None:
        """Start with small per-hop drop ratios (sigmoid(−7) ≈ 1e-3)."""
        loss = METRICS.index("loss")
        with torch.no_grad():
            if isinstance(self.readout, SparseMoE):
                self.readout.head_bias[loss] = -7.0
            else:
                self.readout.heads[loss][-1].bias.fill_(-7.0)

    def forward(self, g: GraphTensors) -> dict[str, torch.Tensor]:
        """Per-flow ``delay``, ``jitter``, ``loss`` and the per-hop terms they are sums of (``hop_*``)."""
        path = self.flow_embed(g.flow_x.index_select(0, g.path_order))  # path states in path_order (see features)
        queue = self.queue_embed(g.queue_x)
        link = self.link_embed(g.link_x)
        positions = g.position_slices()
        priority_order, priorities = g.priority_slices()
        for _ in range(self.config.iterations):
            per_queue = self.path_from_queue(queue) + self.path_from_link(link).index_select(0, g.queue_link)
            path, hop_states = self._run_paths(path, per_queue, g.hop_queue, positions)
            queue = self.queue_gru(self.queue_input(self._aggregate(hop_states, queue, g.hop_queue)), queue)
            link = self._run_links(link, queue, g.queue_link, priority_order, priorities)
        return self._readout(g, torch.cat([hop_states, queue.index_select(0, g.hop_queue)], dim=1))

    def _run_paths(
        self, path: torch.Tensor, per_queue: torch.Tensor, hop_queue: torch.Tensor, positions: list[slice]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One GRU step per hop position over the paths still active, a prefix of path_order (packed sequences).

        ``per_queue`` is the GRU input projection of each queue's (queue, link) state. Returns the final path
        states and the state after every hop (hop order).
        """
        outputs, state = [], path
        for hops in positions:
            state = self.path_gru(per_queue.index_select(0, hop_queue[hops]), state[: hops.stop - hops.start])
            outputs.append(state)
        # Paths ending at position k are the ranks between the active counts of positions k+1 and k.
        ends = [out[len(after) :] for out, after in zip(outputs, outputs[1:] + [path[:0]])]
        return torch.cat(ends[::-1]), torch.cat(outputs)

    def _aggregate(self, hop_states: torch.Tensor, queue: torch.Tensor, hop_queue: torch.Tensor) -> torch.Tensor:
        """Sum of the path states crossing each queue; with attention, softmax-weighted and rescaled by the count
        (so that uniform attention gives the plain sum)."""
        messages = hop_states
        if self.config.attention:
            n_queues = queue.shape[0]
            # attend_path(h) · attend_queue(q) = h · (attend_pathᵀ attend_queue(q)): one product per queue, not per hop.
            keys = self.attend_queue(queue) @ self.attend_path.weight
            scores = (hop_states * keys.index_select(0, hop_queue)).sum(-1)
            weights = scatter_softmax(scores / hop_states.shape[1] ** 0.5, hop_queue, n_queues)
            degree = torch.bincount(hop_queue, minlength=n_queues).to(weights.dtype)
            messages = hop_states * (weights * degree[hop_queue]).unsqueeze(1)
        return queue.new_zeros(queue.shape).index_add(0, hop_queue, messages)

    def _run_links(
        self,
        link: torch.Tensor,
        queue: torch.Tensor,
        queue_link: torch.Tensor,
        order: torch.Tensor,
        groups: list[slice],
    ) -> torch.Tensor:
        projected = self.link_input(queue)
        for group in groups:
            queues = order[group]
            links = queue_link[queues]
            link = link.index_copy(0, links, self.link_gru(projected[queues], link[links]))
        return link

    def _readout(self, g: GraphTensors, hop_input: torch.Tensor) -> dict[str, torch.Tensor]:
        scores = self.readout(hop_input)
        r_delay, r_jitter, r_loss = (scores[:, METRICS.index(m)] for m in METRICS)
        hop_wait = torch.exp(r_delay.clamp(*LOG_CLAMP)) * g.hop_pkt_s
        hop_jitter = torch.exp(r_jitter.clamp(*LOG_CLAMP)) * g.hop_pkt_s**2
        if self.config.bounded:
            hop_wait = torch.minimum(hop_wait, g.hop_wait_max_s)
            hop_jitter = torch.minimum(hop_jitter, g.hop_var_max_s2)
        hop_delay = hop_wait + g.hop_tx_s + g.hop_prop_s
        hop_log_keep = nn.functional.logsigmoid(-r_loss)

        def per_flow(values):
            return values.new_zeros(g.n_flows).index_add(0, g.hop_flow, values)

        return {
            "delay": per_flow(hop_delay),
            "jitter": per_flow(hop_jitter),
            "loss": -torch.expm1(per_flow(hop_log_keep)),
            "hop_delay": hop_delay,
            "hop_jitter": hop_jitter,
            "hop_log_keep": hop_log_keep,
        }
