"""PNG plots of an operated twin over time: per-step NMSE with/without synchronisation, predicted vs measured delay."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _mark_concepts(axis: plt.Axes, concept_starts: Sequence[int], patterns: Sequence[str]) -> None:
    for start, pattern in zip(concept_starts[:-1], patterns):
        axis.axvline(start, color="grey", linestyle=":", linewidth=1)
        axis.text(start, 1.0, f" {pattern}", transform=axis.get_xaxis_transform(), va="top", fontsize=8)


def plot_step_nmse(result: dict, concept_starts: Sequence[int], patterns: Sequence[str], path: str | Path) -> Path:
    """Per-step NMSE (dB) with and without synchronisation, with drift and promotion markers."""
    path = Path(path)
    figure, axis = plt.subplots(figsize=(11, 4))
    for name, style in (("without_sync", dict(color="tab:orange", alpha=0.8)), ("with_sync", dict(color="tab:blue"))):
        values = result["per_step_nmse_db"][name]
        label = f"{name.replace('_', ' ')} (mean {result['nmse_db'][name]:.1f} dB)"
        axis.plot(np.arange(len(values)), values, linewidth=1.2, label=label, **style)
    _mark_concepts(axis, concept_starts, patterns)
    for i, drift in enumerate(result["drifts_detected"]):
        axis.axvline(
            drift["step"], color="tab:red", linewidth=0.8, alpha=0.6, label="drift detected" if i == 0 else None
        )
    promoted = result.get("promotion_steps", [])
    if promoted:
        values = np.asarray(result["per_step_nmse_db"]["with_sync"], dtype=float)
        low = float(np.min(values[np.isfinite(values)]))
        axis.scatter(promoted, [low - 3] * len(promoted), marker="^", color="tab:green", s=18, label="model promoted")
    axis.set_xlabel("step (one prediction of an element of windows)")
    axis.set_ylabel("NMSE (dB)")
    axis.set_title(f"{result['topology']}: per-step delay NMSE")
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_delay_trace(
    served: pd.DataFrame,
    concept_starts: Sequence[int],
    patterns: Sequence[str],
    path: str | Path,
    *,
    predicted_columns: dict[str, str],
    title: str,
) -> Path:
    """Mean measured delay of every step against the mean predictions (log scale), in stream order."""
    path = Path(path)
    columns = ["delay_s", *predicted_columns.values()] + (
        ["delay_budget_s"] if "delay_budget_s" in served.columns else []
    )
    means = served.groupby("step")[columns].mean()
    figure, axis = plt.subplots(figsize=(11, 4))
    axis.plot(means.index, means["delay_s"], color="black", linewidth=1.2, label="measured")
    for label, column in predicted_columns.items():
        axis.plot(means.index, means[column], linewidth=1.0, alpha=0.8, label=label)
    if "delay_budget_s" in means.columns:
        axis.plot(
            means.index, means["delay_budget_s"], color="tab:red", linewidth=0.8, linestyle="--", label="SLA budget"
        )
    _mark_concepts(axis, concept_starts, patterns)
    axis.set_yscale("log")
    axis.set_xlabel("step")
    axis.set_ylabel("mean delay of the step (s)")
    axis.set_title(title)
    axis.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
