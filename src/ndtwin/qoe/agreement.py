"""QoE of evaluated pairs from predicted metrics vs from measured ones: MOS error and class agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ndtwin.qoe.scores import PROFILES, mos, qoe_class

PAIR = ["prb_id", "dst_addr"]


def qoe_agreement(rows: pd.DataFrame, predicted: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per application: MAE of MOS and share of rows whose good/fair/poor class matches.

    ``rows``: measured pair-window rows (``rtt_ms``, ``jitter_ms``, ``loss_share``); ``predicted``: one row per pair
    with the same columns. Every row counts, including windows where every packet was lost.
    """
    merged = rows[PAIR + ["rtt_ms", "jitter_ms", "loss_share"]].merge(
        predicted[PAIR + ["rtt_ms", "jitter_ms", "loss_share"]], on=PAIR, how="inner", suffixes=("", "_pred")
    )
    merged = merged[merged["loss_share"].notna()]
    report = {}
    for app in PROFILES:
        measured = mos(app, merged["rtt_ms"] / 1e3, merged["jitter_ms"] / 1e3, merged["loss_share"])
        estimate = mos(app, merged["rtt_ms_pred"] / 1e3, merged["jitter_ms_pred"] / 1e3, merged["loss_share_pred"])
        report[app] = {
            "mos_mae": float(np.mean(np.abs(measured - estimate))),
            "class_agreement": float(np.mean(qoe_class(measured) == qoe_class(estimate))),
            "n_rows": len(merged),
        }
    return report
