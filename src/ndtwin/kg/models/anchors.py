"""Classical anchors: the pair's own history, country-pair and AS-pair medians, Vivaldi coordinates, low-rank
completion.

Each anchor is fitted on pair-level values (one row per pair: ``rtt_ms``, ``loss_share`` over the fit windows)
and predicts ``rtt_ms`` and ``loss_share`` (NaN where it cannot) for a table of (``prb_id``, ``dst_addr``) pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ndtwin.kg.models.siblings import sibling_median

PAIR = ["prb_id", "dst_addr"]


def history(fit: pd.DataFrame, query: pd.DataFrame) -> pd.DataFrame:
    """The pair's own median RTT and mean loss over its fit windows (applies to the future split only)."""
    merged = query[PAIR].merge(fit[PAIR + ["rtt_ms", "loss_share"]], on=PAIR, how="left")
    return merged[["rtt_ms", "loss_share"]]


def country_pair(fit: pd.DataFrame, query: pd.DataFrame) -> pd.DataFrame:
    """Median RTT / mean loss of fit pairs with the same (probe country, target country); falling back to the
    target country, then to all pairs."""
    out = pd.DataFrame(index=query.index, columns=["rtt_ms", "loss_share"], dtype=float)
    for keys in (["src_cc", "dst_cc"], ["dst_cc"]):
        table = fit.groupby(keys).agg(rtt_ms=("rtt_ms", "median"), loss_share=("loss_share", "mean")).reset_index()
        found = query[keys].merge(table, on=keys, how="left").set_index(query.index)
        out = out.fillna(found[["rtt_ms", "loss_share"]])
    return out.fillna({"rtt_ms": fit["rtt_ms"].median(), "loss_share": fit["loss_share"].mean()})


def as_pair(fit: pd.DataFrame, query: pd.DataFrame) -> pd.DataFrame:
    """The AS-pair median: median RTT of the pair's siblings among the fit pairs, address prefixes first, then
    ASes (:mod:`ndtwin.kg.models.siblings`), falling back to :func:`country_pair`; loss as :func:`country_pair`."""
    out = country_pair(fit, query)
    rtt, _ = sibling_median(fit, fit["rtt_ms"], query)
    out["rtt_ms"] = np.where(np.isfinite(rtt), rtt, out["rtt_ms"])
    return out


def end_medians(fit: pd.DataFrame, query: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per query pair, the median ``loss_share`` over the fit rows of its probe and of its target (NaN: none)."""
    known = fit.dropna(subset=["loss_share"])
    probe, target = (query[key].map(known.groupby(key)["loss_share"].median()).to_numpy(float) for key in PAIR)
    return probe, target


def end_loss(fit: pd.DataFrame, query: pd.DataFrame) -> np.ndarray:
    """Per query pair, the larger of its probe's and its target's median loss share over the fit rows (loss is
    mostly a property of one end: a filtering target, a probe behind a lossy link); NaN where neither end has one."""
    return np.fmax(*end_medians(fit, query))


def vivaldi(fit: pd.DataFrame, query: pd.DataFrame, *, dims: int = 2, rounds: int = 40, seed: int = 0):
    """Vivaldi coordinates (Dabek et al., 2004: Euclidean + height, adaptive timestep, cc = ce = 0.25) fitted on
    the fit pairs' median RTTs; the RTT of a query pair is its nodes' distance. No loss prediction; pairs with a
    node never measured get NaN."""
    rng = np.random.default_rng(seed)
    rows = fit.dropna(subset=["rtt_ms"])
    nodes = {key: i for i, key in enumerate(pd.concat([rows["prb_id"].astype(str), "t" + rows["dst_addr"]]).unique())}
    a = np.array([nodes[str(p)] for p in rows["prb_id"]])
    b = np.array([nodes["t" + t] for t in rows["dst_addr"]])
    rtt = rows["rtt_ms"].to_numpy()
    x = rng.normal(scale=1.0, size=(len(nodes), dims))
    height = np.full(len(nodes), 1.0)
    error = np.ones(len(nodes))
    cc = ce = 0.25
    for _ in range(rounds):
        for k in rng.permutation(len(rtt)):
            i, j = a[k], b[k]
            diff = x[i] - x[j]
            norm = np.linalg.norm(diff)
            if norm < 1e-9:
                diff, norm = rng.normal(size=dims), 1.0
            predicted = norm + height[i] + height[j]
            force = rtt[k] - predicted  # > 0: the two nodes are too close
            relative = abs(force) / rtt[k]
            for node, sign in ((i, 1.0), (j, -1.0)):
                weight = error[node] / (error[i] + error[j])
                error[node] = relative * ce * weight + error[node] * (1 - ce * weight)
                delta = cc * weight * force
                x[node] += sign * delta * diff / norm * (norm / predicted)
                height[node] = max(height[node] + delta * height[node] / predicted, 0.0)
    qa = np.array([nodes.get(str(p), -1) for p in query["prb_id"]])
    qb = np.array([nodes.get("t" + t, -1) for t in query["dst_addr"]])
    known = (qa >= 0) & (qb >= 0)
    out = np.full(len(query), np.nan)
    out[known] = np.linalg.norm(x[qa[known]] - x[qb[known]], axis=1) + height[qa[known]] + height[qb[known]]
    return pd.DataFrame({"rtt_ms": out, "loss_share": np.nan}, index=query.index)


def matrix_completion(fit: pd.DataFrame, query: pd.DataFrame, *, rank: int = 2, reg: float = 1.0, sweeps: int = 30):
    """Low-rank completion of the probe × target matrices of log RTT and of loss share, with probe and target
    biases, by alternating ridge regressions; pairs whose probe or target has no fit entry get NaN."""
    rtt = _complete(fit.dropna(subset=["rtt_ms"]), np.log(fit["rtt_ms"].dropna()), query, rank, reg, sweeps)
    loss = _complete(fit.dropna(subset=["loss_share"]), fit["loss_share"].dropna(), query, rank, reg, sweeps)
    return pd.DataFrame({"rtt_ms": np.exp(rtt), "loss_share": np.clip(loss, 0, 1)}, index=query.index)


def _complete(rows: pd.DataFrame, values: pd.Series, query: pd.DataFrame, rank: int, reg: float, sweeps: int):
    probes = {p: i for i, p in enumerate(rows["prb_id"].unique())}
    targets = {t: i for i, t in enumerate(rows["dst_addr"].unique())}
    i = rows["prb_id"].map(probes).to_numpy()
    j = rows["dst_addr"].map(targets).to_numpy()
    y = values.to_numpy(dtype=float)
    mean = y.mean()
    rng = np.random.default_rng(0)
    # Augmented factors: prediction = mean + [u, b, 1] · [v, 1, c].
    u = np.hstack(
        [rng.normal(scale=0.1, size=(len(probes), rank)), np.zeros((len(probes), 1)), np.ones((len(probes), 1))]
    )
    v = np.hstack(
        [rng.normal(scale=0.1, size=(len(targets), rank)), np.ones((len(targets), 1)), np.zeros((len(targets), 1))]
    )
    for _ in range(sweeps):
        _ridge_rows(u, v, i, j, y - mean, reg, free=slice(0, rank + 1), fixed=rank + 1)
        _ridge_rows(v, u, j, i, y - mean, reg, free=np.r_[0:rank, rank + 1], fixed=rank)
    qi = query["prb_id"].map(probes)
    qj = query["dst_addr"].map(targets)
    known = (qi.notna() & qj.notna()).to_numpy()
    out = np.full(len(query), np.nan)
    out[known] = mean + np.sum(u[qi[known].astype(int)] * v[qj[known].astype(int)], axis=1)
    return out


def _ridge_rows(own, other, own_index, other_index, y, reg, *, free, fixed) -> None:
    """Solve the free columns of each row of ``own`` by ridge regression, the ``fixed`` column held at 1."""
    for row in range(len(own)):
        chosen = own_index == row
        design = other[other_index[chosen]]
        target = y[chosen] - design[:, fixed] * own[row, fixed]
        x = design[:, free]
        own[row, free] = np.linalg.solve(x.T @ x + reg * np.eye(x.shape[1]), x.T @ target)
