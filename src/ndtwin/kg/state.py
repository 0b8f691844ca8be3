"""The state layer's numbers: RTT, jitter and loss of each probe→target pair per time window."""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY_S = 86_400
STATE_COLUMNS = ["prb_id", "dst_addr", "window", "results", "rtt_median_s", "jitter_s", "loss_share"]


def pair_windows(pings: pd.DataFrame, window_s: int = DAY_S) -> pd.DataFrame:
    """One row per (probe, target, window): median of the results' median RTTs (s), mean in-burst jitter (s),
    loss share (lost / sent over the window) and the number of results. ``window`` is the window's start (epoch s).

    Results that sent nothing (probe-side errors) do not count towards loss; windows where every packet was lost
    have no RTT (NaN) and loss share 1.
    """
    frame = pings.loc[pings["sent"] > 0, ["prb_id", "dst_addr", "timestamp", "sent", "received"]].copy()
    frame["rtt"] = pings.loc[frame.index, "rtt_median_s"]
    frame["jitter"] = pings.loc[frame.index, "jitter_s"]
    frame["window"] = (frame["timestamp"] // window_s) * window_s
    grouped = frame.groupby(["prb_id", "dst_addr", "window"], sort=True)
    state = grouped.agg(
        results=("sent", "size"),
        sent=("sent", "sum"),
        received=("received", "sum"),
        rtt_median_s=("rtt", "median"),
        jitter_s=("jitter", "mean"),
    ).reset_index()
    state["loss_share"] = np.clip(1.0 - state["received"] / state["sent"], 0.0, 1.0)
    return state[STATE_COLUMNS]


def pair_metrics(state: pd.DataFrame) -> pd.DataFrame:
    """Per pair over the given windows: median RTT (s), mean jitter (s), mean loss share."""
    return (
        state.groupby(["prb_id", "dst_addr"])
        .agg(rtt_s=("rtt_median_s", "median"), jitter_s=("jitter_s", "mean"), loss_share=("loss_share", "mean"))
        .reset_index()
    )
