"""The graph a GNN sees, built only from what a model may learn from (the fit rows of a split).

Nodes: every probe and target of the data set (an unseen probe is a node with nothing but its country), the IP
hops of the fit pairs' traceroute paths, and the countries. Edges (undirected): probe/target – country, the fit
pairs' paths (probe → first hop → … → last hop → target), and "message" edges probe – target for fit pairs with
an RTT. Node features: kind, private flag, degree, country one-hot, and the mean log RTT / loss of the node's
message pairs (with a flag when it has none).

Leakage-free by construction: :func:`graph_inputs` receives only pair-level values of fit rows and the paths of
fit pairs, and :meth:`GraphInputs.tensors` can additionally hide a set of pairs (their message edges, their paths
and their share of the node statistics), which is how training supervises pairs the graph does not show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ndtwin.kg.models.anchors import PAIR, end_medians
from ndtwin.kg.models.siblings import LEVELS, SIBLING_COLUMNS, sibling_median

KINDS = ("probe", "target", "hop", "country")
PAIR_FEATURES = 12 + len(LEVELS)
OFFSET, LOSS_OFFSET = PAIR_FEATURES - 2, PAIR_FEATURES - 1  # pair_features a residual model adds to its outputs


@dataclass
class GraphInputs:
    """Node table, pair table and per-pair path edges of one split at one stage."""

    node_of: dict[str, int]
    kind: np.ndarray  # per node: index into KINDS
    private: np.ndarray  # per node: 1.0 for a private hop address
    country: np.ndarray  # per node: index into countries, -1 if unknown
    n_countries: int
    static_edges: np.ndarray  # 2 × E: probe/target – country
    pair_nodes: np.ndarray  # P × 2: (probe node, target node) of each fit pair
    pair_log_rtt: np.ndarray  # P: standardised log RTT (NaN when every packet was lost)
    pair_loss: np.ndarray  # P: mean loss share
    path_edges: np.ndarray  # 2 × E: hop-path edges
    path_pair: np.ndarray  # E: the fit pair each path edge comes from
    pair_combo: np.ndarray  # P: index of the pair's (probe country, target country) combination
    combo_of: dict[tuple, int]
    pair_index: dict[tuple, int]
    pair_keys: pd.DataFrame  # per fit pair: prb_id, dst_addr and the sibling columns of ndtwin.kg.models.siblings

    def pair_features(self, query: pd.DataFrame, hidden_pairs: np.ndarray | None = None) -> torch.Tensor:
        """Per query pair (``prb_id``, ``dst_addr``, ``src_cc``, ``dst_cc`` and the sibling columns): median
        standardised log RTT and mean loss of the shown fit pairs of its country combination, the pair's own fit
        values if it is a shown fit pair (its history), each with a flag when there is none; the median
        standardised log RTT of its shown siblings (prefixes, then ASes) with a one-hot of their level; the median
        loss share of the shown pairs of its probe and of its target; and last the offsets a residual model adds to
        its outputs: (column :data:`OFFSET`) the most specific RTT estimate — own history, siblings, country pair,
        else 0 (the training mean) — and (column :data:`LOSS_OFFSET`) the logit of its own loss share if shown, else
        of the larger of its probe's and its target's median (loss is mostly a property of one end: a filtering
        target, a probe behind a lossy link), else of the median over all shown pairs."""
        combos = np.array([self.combo_of.get((a, b), -1) for a, b in zip(query["src_cc"], query["dst_cc"])])
        own = np.array([self.pair_index.get(key, -1) for key in zip(query["prb_id"], query["dst_addr"])])
        shown = np.ones(len(self.pair_nodes), bool) if hidden_pairs is None else ~hidden_pairs
        frame = pd.DataFrame(
            {"combo": self.pair_combo[shown], "rtt": self.pair_log_rtt[shown], "loss": self.pair_loss[shown]}
        )
        table = frame.groupby("combo").agg(rtt=("rtt", "median"), loss=("loss", "mean"))
        rtt = table["rtt"].reindex(combos).to_numpy()
        loss = table["loss"].reindex(combos).to_numpy()
        has = np.isfinite(rtt)
        own_shown = (own >= 0) & shown[np.maximum(own, 0)]
        own_rtt = np.where(own_shown, self.pair_log_rtt[np.maximum(own, 0)], np.nan)
        own_loss = np.where(own_shown, self.pair_loss[np.maximum(own, 0)], 0.0)
        sibling, level = sibling_median(self.pair_keys[shown], self.pair_log_rtt[shown], query)
        offset = np.where(np.isfinite(own_rtt), own_rtt, np.where(np.isfinite(sibling), sibling, np.nan_to_num(rtt)))
        probe_loss, target_loss = end_medians(self.pair_keys[shown].assign(loss_share=self.pair_loss[shown]), query)
        typical = np.fmax(probe_loss, target_loss)
        typical = np.where(np.isfinite(typical), typical, np.median(self.pair_loss[shown]) if shown.any() else 0.0)
        loss_offset = _logit(np.where(own_shown, own_loss, typical))
        features = np.column_stack(
            [
                np.nan_to_num(rtt),
                has,
                np.nan_to_num(loss),
                np.isfinite(loss),
                np.nan_to_num(own_rtt),
                np.isfinite(own_rtt),
                own_loss,
                np.nan_to_num(sibling),
                level[:, None] == np.arange(len(LEVELS)),
                np.nan_to_num(probe_loss),
                np.nan_to_num(target_loss),
                offset,
                loss_offset,
            ]
        )
        return torch.tensor(features, dtype=torch.float32)

    @property
    def n_nodes(self) -> int:
        return len(self.kind)

    def tensors(self, hidden_pairs: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Node features and undirected edge index, with the pairs flagged in ``hidden_pairs`` left out."""
        shown = np.ones(len(self.pair_nodes), bool) if hidden_pairs is None else ~hidden_pairs
        message = shown & np.isfinite(self.pair_log_rtt)
        edges = [
            self.static_edges,
            self.pair_nodes[message].T,
            self.path_edges[:, shown[self.path_pair]] if self.path_edges.size else self.path_edges,
        ]
        edge_index = np.concatenate([e.reshape(2, -1) for e in edges], axis=1)
        edge_index = np.unique(np.concatenate([edge_index, edge_index[::-1]], axis=1), axis=1)
        degree = np.bincount(edge_index[0], minlength=self.n_nodes)
        rtt_sum = np.zeros(self.n_nodes)
        count = np.zeros(self.n_nodes)
        loss_sum = np.zeros(self.n_nodes)
        loss_count = np.zeros(self.n_nodes)
        for side in (0, 1):
            np.add.at(rtt_sum, self.pair_nodes[message, side], self.pair_log_rtt[message])
            np.add.at(count, self.pair_nodes[message, side], 1)
            np.add.at(loss_sum, self.pair_nodes[shown, side], self.pair_loss[shown])
            np.add.at(loss_count, self.pair_nodes[shown, side], 1)
        has = count > 0
        features = np.zeros((self.n_nodes, len(KINDS) + 6 + self.n_countries), np.float32)
        features[np.arange(self.n_nodes), self.kind] = 1
        features[:, 4] = self.private
        features[:, 5] = np.log1p(degree) / 5
        features[:, 6] = np.where(has, rtt_sum / np.maximum(count, 1), 0)
        features[:, 7] = has
        features[:, 8] = np.where(loss_count > 0, loss_sum / np.maximum(loss_count, 1), 0)
        features[:, 9] = loss_count > 0
        known = self.country >= 0
        features[np.flatnonzero(known), 10 + self.country[known]] = 1
        return torch.from_numpy(features), torch.from_numpy(edge_index.astype(np.int64))


def graph_inputs(
    fit_pairs: pd.DataFrame,
    paths: pd.DataFrame,
    probes: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    rtt_scale: tuple[float, float],
) -> GraphInputs:
    """Assemble the graph from pair-level fit values (``prb_id``, ``dst_addr``, ``rtt_ms``, ``loss_share``), the
    fit pairs' paths, and the node universe ``probes`` (``prb_id``, ``country``) and ``targets`` (``dst_addr``,
    ``country``). ``rtt_scale`` = (mean, std) of log RTT used to standardise."""
    countries = sorted(set(probes["country"].dropna()) | set(targets["country"].dropna()))
    country_index = {c: i for i, c in enumerate(countries)}
    names = [f"p{p}" for p in probes["prb_id"]] + [f"t{t}" for t in targets["dst_addr"]]
    kind = [0] * len(probes) + [1] * len(targets)
    node_country = [country_index.get(c, -1) for c in probes["country"]] + [
        country_index.get(c, -1) for c in targets["country"]
    ]
    private = [0.0] * len(names)
    target_set = set(targets["dst_addr"])
    hops = paths.loc[~paths["address"].isin(target_set)].drop_duplicates("address")
    names += [f"h{a}" for a in hops["address"]]
    kind += [2] * len(hops)
    node_country += [-1] * len(hops)
    private += [float(bool(p)) for p in hops["private"]]
    names += [f"c{c}" for c in countries]
    kind += [3] * len(countries)
    node_country += list(range(len(countries)))
    private += [0.0] * len(countries)
    node_of = {name: i for i, name in enumerate(names)}
    static = [
        (i, node_of[f"c{countries[c]}"]) for i, c in enumerate(node_country[: len(probes) + len(targets)]) if c >= 0
    ]
    pair_nodes = np.array(
        [[node_of[f"p{p}"], node_of[f"t{t}"]] for p, t in zip(fit_pairs["prb_id"], fit_pairs["dst_addr"])], np.int64
    ).reshape(-1, 2)
    mean, std = rtt_scale
    pair_countries = list(zip(fit_pairs["src_cc"], fit_pairs["dst_cc"]))
    combo_of = {combo: i for i, combo in enumerate(dict.fromkeys(pair_countries))}
    path_edges, path_pair = _path_edges(fit_pairs, paths, node_of, target_set)
    return GraphInputs(
        node_of=node_of,
        kind=np.array(kind),
        private=np.array(private, np.float32),
        country=np.array(node_country),
        n_countries=len(countries),
        static_edges=np.array(static, np.int64).reshape(-1, 2).T,
        pair_nodes=pair_nodes,
        pair_log_rtt=((np.log(fit_pairs["rtt_ms"].to_numpy(float)) - mean) / std),
        pair_loss=fit_pairs["loss_share"].fillna(0).to_numpy(float),
        path_edges=path_edges,
        path_pair=path_pair,
        pair_combo=np.array([combo_of[c] for c in pair_countries], np.int64),
        combo_of=combo_of,
        pair_index={key: i for i, key in enumerate(zip(fit_pairs["prb_id"], fit_pairs["dst_addr"]))},
        pair_keys=fit_pairs[[*PAIR, *SIBLING_COLUMNS]].reset_index(drop=True),
    )


def _logit(share: np.ndarray) -> np.ndarray:
    share = np.clip(share, 0.002, 0.998)
    return np.log(share / (1 - share))


def _path_edges(fit_pairs, paths, node_of, target_set) -> tuple[np.ndarray, np.ndarray]:
    pair_index = {(p, t): i for i, (p, t) in enumerate(zip(fit_pairs["prb_id"], fit_pairs["dst_addr"]))}
    edges, owners = [], []
    for (prb_id, dst_addr), steps in paths.sort_values("hop").groupby(["prb_id", "dst_addr"], sort=False):
        owner = pair_index.get((prb_id, dst_addr))
        if owner is None:
            continue
        chain = [node_of[f"p{prb_id}"]]
        chain += [node_of[f"t{a}"] if a in target_set else node_of[f"h{a}"] for a in steps["address"]]
        if chain[-1] != node_of[f"t{dst_addr}"]:
            chain.append(node_of[f"t{dst_addr}"])
        for a, b in zip(chain, chain[1:]):
            if a != b:
                edges.append((a, b))
                owners.append(owner)
    return np.array(edges, np.int64).reshape(-1, 2).T, np.array(owners, np.int64)
