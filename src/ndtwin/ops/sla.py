"""How well an operated twin served: per-step NMSE over time and SLA-violation prediction scores.

A step is one prediction unit of a stream (e.g. one element of 100 measurement windows). Its NMSE in dB is
10·log10(mean((y − ŷ)²) / mean(y²)) over the step's windows (:func:`ndtwin.data.metrics.nmse_db`).
An SLA violation is a window whose delay exceeds its budget; predicted and measured violations are compared.

Which windows to flag: a point prediction above the budget is a poor alarm when violations are rare and the
prediction is noisy (most flags are then false). :class:`ResidualViolationRule` flags a window when the estimated
probability that its measured delay exceeds the budget, given the prediction, is above one half — the decision
that maximises expected accuracy — estimating that probability from the serving model's own errors on windows
already measured. Violations are rare, so accuracy rewards never alarming; alarms are judged by precision, recall,
F1 and the area under the precision-recall curve (:func:`alarm_scores`); the threshold on the rule's probability,
which trades one for the other, is chosen by :func:`f1_threshold` on the windows already measured.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """Scores of flagging the windows whose predicted delay exceeds the budget (:func:`flag_scores`)."""
    return flag_scores(violations(measured_s, budget_s), violations(predicted_s, budget_s))


def flag_scores(actual: ArrayLike, flagged: ArrayLike) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of flagged SLA violations against measured ones (boolean arrays).

    Precision is NaN when nothing is flagged, recall when no violation is measured; F1 = 2·hits / (flagged +
    measured) is 0 when violations are measured but none is flagged, NaN when there are neither.
    """
    actual, flagged = np.asarray(actual, dtype=bool).ravel(), np.asarray(flagged, dtype=bool).ravel()
    if actual.size != flagged.size:
        raise ValueError(f"actual, flagged: expected equal lengths, got {actual.size}, {flagged.size}")
    hits = int(np.sum(actual & flagged))
    n = actual.size
    precision = hits / int(flagged.sum()) if flagged.any() else float("nan")
    recall = hits / int(actual.sum()) if actual.any() else float("nan")
    return {
        "accuracy": float(np.mean(actual == flagged)) if n else float("nan"),
        "precision": precision,
        "recall": recall,
        "f1": 2 * hits / (int(flagged.sum()) + int(actual.sum())) if (flagged.any() or actual.any()) else float("nan"),
        "measured_violation_rate": float(actual.mean()) if n else float("nan"),
        "predicted_violation_rate": float(flagged.mean()) if n else float("nan"),
    }


def average_precision(actual: ArrayLike, score: ArrayLike) -> float:
    """Area under the precision-recall curve of alarms ranked by ``score`` (higher = more alarming), as average
    precision: the sum over distinct score thresholds t (descending) of (recall(t) − recall(previous t)) ·
    precision(t), where a window is flagged when its score is ≥ t. A constant score gives the violation rate;
    NaN when no violation is measured."""
    actual, score = _paired(actual, score)
    if not actual.any():
        return float("nan")
    _, flagged, hits = _ranked(actual, score)
    precision = hits / flagged
    recall_gain = np.diff(np.r_[0, hits]) / actual.sum()
    return float(np.sum(recall_gain * precision))


def alarm_scores(actual: ArrayLike, flagged: ArrayLike, score: ArrayLike) -> dict[str, float]:
    """Precision, recall, F1 (:func:`flag_scores`) of the alarms ``flagged`` and the PR-AUC
    (:func:`average_precision`) of the alarm ``score`` they threshold."""
    flags = flag_scores(actual, flagged)
    return {
        "precision": flags["precision"],
        "recall": flags["recall"],
        "f1": flags["f1"],
        "pr_auc": average_precision(actual, score),
        "alarm_rate": flags["predicted_violation_rate"],
    }


def f1_threshold(actual: ArrayLike, score: ArrayLike, *, min_violations: int, fallback: float) -> float:
    """The alarm threshold (flag when score > threshold) that maximised F1 on already-measured windows.

    In a live twin a window's true SLA outcome is known once it is measured, so the threshold is chosen on the
    stream's own past: among the midpoints between its distinct past scores, the one whose alarms had the highest
    F1 (the highest threshold on ties). With fewer than ``min_violations`` measured violations the past says too
    little and ``fallback`` is returned.
    """
    actual, score = _paired(actual, score)
    known = np.isfinite(score)
    actual, score = actual[known], score[known]
    if int(actual.sum()) < min_violations:
        return fallback
    thresholds, flagged, hits = _ranked(actual, score)
    best = int(np.argmax(2 * hits / (flagged + actual.sum())))
    below = thresholds[best + 1] if best + 1 < thresholds.size else -np.inf
    return float((thresholds[best] + below) / 2)


@dataclass(frozen=True)
class ResidualViolationRule:
    """P(measured delay > budget | predicted delay) of a window, learned from measured windows (the alarm score that
    :func:`f1_threshold` thresholds).

    With the log residual r = log(measured / predicted) and the margin m = log(predicted / budget), a window
    violates its budget when r > −m. For a new window the probability is the share of past windows whose residual
    exceeds −m, among the ``neighbours`` past windows nearest to it in margin (a run of that many in margin order,
    centred on its margin). So a model that overshoots near the budget, or a right-skewed delay whose typical
    value sits below the predicted mean, is corrected by its own record. With fewer than ``min_windows`` past
    windows the alarm score falls back to the plain "predicted delay > budget". The caller chooses the past windows (e.g. those measured since the last drift).
    """

    neighbours: int = 200
    min_windows: int = 100

    def __post_init__(self) -> None:
        if self.neighbours < 1 or self.min_windows < 1:
            raise ValueError(
                f"neighbours, min_windows: expected positive integers, got {self.neighbours}, {self.min_windows}"
            )

    def probabilities(
        self,
        past_predicted_s: ArrayLike,
        past_measured_s: ArrayLike,
        past_budget_s: ArrayLike,
        predicted_s: ArrayLike,
        budget_s: ArrayLike,
    ) -> np.ndarray:
        """Estimated probability that each new window's measured delay exceeds its budget (NaN without history)."""
        margin = _log_ratio(predicted_s, budget_s)
        past_margin = _log_ratio(past_predicted_s, past_budget_s)
        past_residual = _log_ratio(past_measured_s, past_predicted_s)
        usable = np.isfinite(past_margin) & np.isfinite(past_residual)
        past_margin, past_residual = past_margin[usable], past_residual[usable]
        if past_margin.size < self.min_windows:
            return np.full(margin.shape, np.nan)
        order = np.argsort(past_margin, kind="stable")
        past_margin, past_residual = past_margin[order], past_residual[order]
        k = min(self.neighbours, past_margin.size)
        centre = (np.searchsorted(past_margin, margin, "left") + np.searchsorted(past_margin, margin, "right")) // 2
        first = np.clip(centre - k // 2, 0, past_margin.size - k)
        nearest = past_residual[first[:, None] + np.arange(k)]
        return np.mean(nearest > -margin[:, None], axis=1)

    def alarm_score(
        self,
        past_predicted_s: ArrayLike,
        past_measured_s: ArrayLike,
        past_budget_s: ArrayLike,
        predicted_s: ArrayLike,
        budget_s: ArrayLike,
    ) -> np.ndarray:
        """Each new window's alarm score: the probability of :meth:`probabilities`, or, without enough history,
        1 when the predicted delay exceeds the budget and 0 otherwise."""
        probability = self.probabilities(past_predicted_s, past_measured_s, past_budget_s, predicted_s, budget_s)
        return np.where(np.isnan(probability), violations(predicted_s, budget_s).astype(float), probability)


def _log_ratio(numerator: ArrayLike, denominator: ArrayLike) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(numerator, dtype=float).ravel() / np.asarray(denominator, dtype=float).ravel())


def _paired(actual: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    actual = np.asarray(actual, dtype=bool).ravel()
    score = np.asarray(score, dtype=float).ravel()
    if actual.size != score.size:
        raise ValueError(f"actual, score: expected equal lengths, got {actual.size}, {score.size}")
    return actual, score


def _ranked(actual: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct score t (descending): t, the number of windows scoring ≥ t and the violations among them."""
    order = np.argsort(-score, kind="stable")
    score, actual = score[order], actual[order]
    last_of_threshold = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]
    return score[last_of_threshold], last_of_threshold + 1, np.cumsum(actual)[last_of_threshold]
