"""The three evaluation splits of the pair-window table, each with a validation part carved from its training part.

Every row of the state table (one probe→target pair in one window) gets a role: ``train``, ``val``, ``test`` or
``unused``.
- ``unseen_pairs``: 20 % of pairs are test, 15 % of the rest validation; a pair is only held out while its probe
  and its target keep other training pairs (so both ends are seen).
- ``unseen_probes``: 20 % of probes (all their pairs) are test, 15 % of the rest validation.
- ``future``: per campaign, windows from 75 % of the campaign's span on are test, those from 60 % to 75 %
  validation; test and validation rows are kept only for pairs with an RTT before the cut (so each has a history).
``fit_mask(split, stage)`` is what a model may learn from: the training rows when choosing on validation
(``stage='val'``), training + validation rows when predicting the test rows (``stage='test'``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SPLITS = ("unseen_pairs", "unseen_probes", "future")
TEST_SHARE, VAL_SHARE = 0.20, 0.15
FUTURE_LABEL_FROM, FUTURE_VAL_FROM, FUTURE_TEST_FROM = 0.40, 0.60, 0.75
CAMPAIGN_GAP_S = 30 * 86_400


def assign_roles(state: pd.DataFrame, split: str, seed: int = 0) -> np.ndarray:
    """The role of each row of ``state`` in ``split`` (an array of strings)."""
    rng = np.random.default_rng(seed)
    if split == "unseen_pairs":
        return _pair_roles(state, rng)
    if split == "unseen_probes":
        probes = np.sort(state["prb_id"].unique())
        rng.shuffle(probes)
        n_test = round(TEST_SHARE * len(probes))
        n_val = round(VAL_SHARE * (len(probes) - n_test))
        role_of = {p: "test" for p in probes[:n_test]} | {p: "val" for p in probes[n_test : n_test + n_val]}
        return state["prb_id"].map(role_of).fillna("train").to_numpy(dtype=object)
    if split == "future":
        return _future_roles(state)
    raise ValueError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")


def _pair_roles(state: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    pairs = state[["prb_id", "dst_addr"]].drop_duplicates().to_numpy()
    order = rng.permutation(len(pairs))
    probe_left = pd.Series(pairs[:, 0]).value_counts().to_dict()
    target_left = pd.Series(pairs[:, 1]).value_counts().to_dict()
    n_test = round(TEST_SHARE * len(pairs))
    n_val = round(VAL_SHARE * (len(pairs) - n_test))
    role_of: dict[tuple, str] = {}
    wanted = {"test": n_test, "val": n_val}
    for index in order:
        probe, target = pairs[index]
        role = "test" if wanted["test"] else "val"
        if not wanted[role]:
            break
        if probe_left[probe] > 1 and target_left[target] > 1:
            role_of[(probe, target)] = role
            wanted[role] -= 1
            probe_left[probe] -= 1
            target_left[target] -= 1
    keys = list(zip(state["prb_id"], state["dst_addr"]))
    return np.array([role_of.get(key, "train") for key in keys], dtype=object)


def campaign_of(windows: pd.Series, reference: pd.Series | None = None) -> np.ndarray:
    """Campaign number of each time (epoch s): a new campaign begins after a gap of more than 30 days between
    the window starts of ``reference`` (default: ``windows`` themselves)."""
    starts = np.sort((windows if reference is None else reference).unique())
    breaks = starts[1:][np.diff(starts) > CAMPAIGN_GAP_S]
    return np.searchsorted(breaks, np.asarray(windows), side="right")


def future_cuts(state: pd.DataFrame) -> dict[int, dict[str, int]]:
    """Per campaign, the window start (epoch s) where each part of the future split begins: ``label`` (training
    labels of a model that uses the pair's own history, see :func:`history_label_roles`), ``val`` and ``test``."""
    campaign = campaign_of(state["window"])
    cuts = {}
    for number in np.unique(campaign):
        windows = state["window"].to_numpy()[campaign == number]
        first, last = windows.min(), windows.max()
        shares = {"label": FUTURE_LABEL_FROM, "val": FUTURE_VAL_FROM, "test": FUTURE_TEST_FROM}
        cuts[int(number)] = {name: int(first + share * (last - first)) for name, share in shares.items()}
    return cuts


def history_label_roles(state: pd.DataFrame, roles: np.ndarray) -> np.ndarray:
    """Future split, for training a model that reads a pair's own history: training rows from 40 % of the
    campaign on become ``label`` rows (the targets), the earlier ones stay ``train`` (the inputs)."""
    campaign = campaign_of(state["window"])
    cuts = future_cuts(state)
    label_from = np.array([cuts[c]["label"] for c in campaign])
    inner = roles.copy()
    inner[(roles == "train") & (state["window"].to_numpy() >= label_from)] = "label"
    return inner


def _future_roles(state: pd.DataFrame) -> np.ndarray:
    campaign = campaign_of(state["window"])
    cuts = future_cuts(state)
    val_from = np.array([cuts[c]["val"] for c in campaign])
    test_from = np.array([cuts[c]["test"] for c in campaign])
    window = state["window"].to_numpy()
    roles = np.where(window >= test_from, "test", np.where(window >= val_from, "val", "train")).astype(object)
    has_rtt = state["rtt_median_s"].notna().to_numpy()
    key = state["prb_id"].astype(str) + "|" + state["dst_addr"]
    before_val = set(key[(roles == "train") & has_rtt])
    roles[(roles == "val") & ~key.isin(before_val).to_numpy()] = "unused"
    before_test = set(key[((roles == "train") | (roles == "val")) & has_rtt])
    roles[(roles == "test") & ~key.isin(before_test).to_numpy()] = "unused"
    return roles


def fit_mask(roles: np.ndarray, stage: str) -> np.ndarray:
    """Rows a model may learn from at a stage: ``val`` (choosing) or ``test`` (the final report)."""
    if stage == "val":
        return roles == "train"
    if stage == "test":
        return (roles == "train") | (roles == "val")
    raise ValueError(f"stage: expected 'val' or 'test', got {stage!r}")
