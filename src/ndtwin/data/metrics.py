"""Error metrics used everywhere: MAPE, NMSE (linear and dB), MAE, RMSE, R², Huber, P95 absolute error.

Every function takes ``(y_true, y_pred)`` array-likes of equal length, ignores pairs where either value is not
finite, and returns NaN when nothing is left to compare.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

Metric = Callable[[ArrayLike, ArrayLike], float]


def _pairs(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    true = np.asarray(y_true, dtype=float).ravel()
    pred = np.asarray(y_pred, dtype=float).ravel()
    if true.shape != pred.shape:
        raise ValueError(f"y_true and y_pred: expected equal lengths, got {true.size} and {pred.size}")
    keep = np.isfinite(true) & np.isfinite(pred)
    return true[keep], pred[keep]


def mape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute percentage error in percent, over pairs with a non-zero true value."""
    true, pred = _pairs(y_true, y_pred)
    keep = true != 0
    if not keep.any():
        return float("nan")
    return float(100.0 * np.mean(np.abs((pred[keep] - true[keep]) / true[keep])))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error."""
    true, pred = _pairs(y_true, y_pred)
    return float(np.mean(np.abs(pred - true))) if true.size else float("nan")


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error."""
    true, pred = _pairs(y_true, y_pred)
    return float(np.sqrt(np.mean((pred - true) ** 2))) if true.size else float("nan")


def nmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Normalised mean squared error: mean((y − ŷ)²) / mean(y²)."""
    true, pred = _pairs(y_true, y_pred)
    power = np.mean(true**2) if true.size else 0.0
    if power == 0:
        return float("nan")
    return float(np.mean((pred - true) ** 2) / power)


def nmse_db(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """NMSE in decibels: 10·log10(NMSE); −inf for a perfect prediction."""
    value = nmse(y_true, y_pred)
    if not np.isfinite(value):
        return value
    return float(10.0 * np.log10(value)) if value > 0 else float("-inf")


def r2(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Coefficient of determination 1 − SS_res / SS_tot (NaN when the true values are constant)."""
    true, pred = _pairs(y_true, y_pred)
    if true.size < 2:
        return float("nan")
    total = np.sum((true - true.mean()) ** 2)
    if total == 0:
        return float("nan")
    return float(1.0 - np.sum((true - pred) ** 2) / total)


def huber(y_true: ArrayLike, y_pred: ArrayLike, delta: float = 1.0) -> float:
    """Mean Huber loss: quadratic below ``delta``, linear above."""
    true, pred = _pairs(y_true, y_pred)
    if not true.size:
        return float("nan")
    error = np.abs(pred - true)
    quadratic = np.minimum(error, delta)
    return float(np.mean(0.5 * quadratic**2 + delta * (error - quadratic)))


def p95_abs_error(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """95th percentile of the absolute error."""
    true, pred = _pairs(y_true, y_pred)
    return float(np.percentile(np.abs(pred - true), 95)) if true.size else float("nan")


METRICS: dict[str, Metric] = {
    "mape": mape,
    "nmse": nmse,
    "nmse_db": nmse_db,
    "mae": mae,
    "rmse": rmse,
    "r2": r2,
    "huber": huber,
    "p95_abs_error": p95_abs_error,
}


def summarize(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """All metrics at once, as a dict name → value."""
    return {name: metric(y_true, y_pred) for name, metric in METRICS.items()}


def median_ape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Median absolute percentage error in percent, over pairs with a non-zero true value."""
    true, pred = _pairs(y_true, y_pred)
    keep = true != 0
    if not keep.any():
        return float("nan")
    return float(100.0 * np.median(np.abs((pred[keep] - true[keep]) / true[keep])))
