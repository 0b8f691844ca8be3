"""How well an operated twin served: per-step NMSE over time and SLA-violation prediction scores.

A step is one prediction unit of a stream (e.g. one element of 100 measurement windows). Its NMSE in dB is
10·log10(mean((y − ŷ)²) / mean(y²)) over the step's windows (:func:`ndtwin.data.metrics.nmse_db`).
An SLA violation is a window whose delay exceeds its budget; predicted and measured violations are compared.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ndtwin.data.metrics import nmse_db


def step_nmse_db(y_true: ArrayLike, y_pred: ArrayLike, steps: ArrayLike) -> np.ndarray:
    """NMSE (dB) of each step, in order of the sorted distinct ``steps`` labels."""
    true, pred, label = (np.asarray(a).ravel() for a in (y_true, y_pred, steps))
    if not (true.size == pred.size == label.size):
        raise ValueError(f"y_true, y_pred, steps: expected equal lengths, got {true.size}, {pred.size}, {label.size}")
    order = np.argsort(label, kind="stable")
    true, pred, label = true[order], pred[order], label[order]
    bounds = np.flatnonzero(np.diff(label)) + 1
    return np.array([nmse_db(t, p) for t, p in zip(np.split(true, bounds), np.split(pred, bounds))])


def mean_db(values_db: ArrayLike) -> float:
    """Arithmetic mean of finite dB values (how per-step NMSE is averaged over a stream or a concept)."""
    values = np.asarray(values_db, dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def violations(delay_s: ArrayLike, budget_s: ArrayLike) -> np.ndarray:
    """Whether each delay exceeds its budget (strictly)."""
    return np.asarray(delay_s, dtype=float) > np.asarray(budget_s, dtype=float)


def sla_scores(measured_s: ArrayLike, predicted_s: ArrayLike, budget_s: ArrayLike) -> dict[str, float]:
    """Accuracy, precision and recall of predicted SLA violations against measured ones.

    Precision is NaN when no violation is predicted, recall when none is measured.
    """
    actual = violations(measured_s, budget_s)
    flagged = violations(predicted_s, budget_s)
    hits = int(np.sum(actual & flagged))
    n = actual.size
    return {
        "accuracy": float(np.mean(actual == flagged)) if n else float("nan"),
        "precision": hits / int(flagged.sum()) if flagged.any() else float("nan"),
        "recall": hits / int(actual.sum()) if actual.any() else float("nan"),
        "measured_violation_rate": float(actual.mean()) if n else float("nan"),
        "predicted_violation_rate": float(flagged.mean()) if n else float("nan"),
    }
