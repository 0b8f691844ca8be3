"""SLA-violation decisions: scores of flagged windows and the rule learned from the serving model's errors."""

import math

import numpy as np
import pytest

from ndtwin.ops.sla import ResidualViolationRule, alarm_scores, average_precision, f1_threshold, flag_scores


def test_flag_scores_on_hand_counted_windows():
    actual = [True, True, False, False, False]
    flagged = [True, False, True, False, False]
    scores = flag_scores(actual, flagged)
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["precision"] == pytest.approx(1 / 2) and scores["recall"] == pytest.approx(1 / 2)
    assert scores["f1"] == pytest.approx(1 / 2)
    # never alarming: precision undefined, but F1 = 2·hits / (flagged + measured) = 0 when violations occur
    assert flag_scores([True], [False])["f1"] == 0.0 and math.isnan(flag_scores([False], [False])["precision"])
    assert math.isnan(flag_scores([False], [False])["f1"])
    with pytest.raises(ValueError, match="equal lengths"):
        flag_scores([True], [True, False])


def test_pr_auc_on_a_hand_computed_ranking():
    actual = [True, False, True, False, False]
    score = [0.9, 0.8, 0.6, 0.6, 0.1]
    # thresholds 0.9: P 1, R 1/2; 0.8: P 1/2, R 1/2; 0.6 (two tied windows): P 2/4, R 1; 0.1: P 2/5, R 1
    # average precision = 1/2 · 1 + 0 · 1/2 + 1/2 · 1/2 + 0 · 2/5 = 0.75
    assert average_precision(actual, score) == pytest.approx(0.75)
    assert average_precision(actual, np.zeros(5)) == pytest.approx(2 / 5)  # constant score: the violation rate
    assert average_precision([True, False], [1.0, 0.0]) == pytest.approx(1.0)
    assert math.isnan(average_precision([False, False], [1.0, 0.0]))
    scores = alarm_scores(actual, np.asarray(score) > 0.7, score)
    assert (scores["precision"], scores["recall"], scores["f1"]) == pytest.approx((1 / 2, 1 / 2, 1 / 2))
    assert scores["pr_auc"] == pytest.approx(0.75) and scores["alarm_rate"] == pytest.approx(2 / 5)


def _history(predicted_over_budget: float, measured_over_budget: np.ndarray) -> tuple[np.ndarray, ...]:
    budget = np.full(measured_over_budget.size, 0.2)
    return budget * predicted_over_budget, budget * measured_over_budget, budget


def test_rule_does_not_flag_where_the_model_has_been_overshooting():
    # near the budget the model predicted 1.1 x budget, but the delay measured 0.7 x budget nine times out of ten
    past = _history(1.1, np.r_[np.full(180, 0.7), np.full(20, 1.3)])
    rule = ResidualViolationRule(neighbours=200, min_windows=100)
    assert rule.probabilities(*past, [0.22], [0.2]) == pytest.approx([0.1])


def test_rule_flags_where_the_model_has_been_undershooting():
    # predicted 0.9 x budget, measured 1.2 x budget in 150 of 200 windows: a prediction just below the budget is a likely violation
    past = _history(0.9, np.r_[np.full(150, 1.2), np.full(50, 0.8)])
    rule = ResidualViolationRule(neighbours=200, min_windows=100)
    assert rule.probabilities(*past, [0.18], [0.2]) == pytest.approx([0.75])
    # far below the budget the same residuals (x 1.33 at most) cannot reach it
    assert rule.probabilities(*past, [0.05], [0.2]) == pytest.approx([0.0])


def test_rule_uses_the_neighbours_nearest_in_margin():
    # two regimes: far below the budget the model is exact, near it it overshoots by a factor 2
    low = _history(0.3, np.full(300, 0.3))
    high = _history(1.2, np.full(300, 0.6))
    past = tuple(np.r_[a, b] for a, b in zip(low, high))
    rule = ResidualViolationRule(neighbours=100, min_windows=100)
    assert rule.probabilities(*past, [0.24, 0.06], [0.2, 0.2]) == pytest.approx([0.0, 0.0])
    # pooled over all 600 windows, the exact half (residual 0 > -log 1.2) would make it a coin toss
    pooled = ResidualViolationRule(neighbours=600, min_windows=100)
    assert pooled.probabilities(*past, [0.24], [0.2]) == pytest.approx([0.5])


def test_rule_falls_back_to_the_prediction_without_enough_history():
    past = _history(1.5, np.full(99, 0.5))  # 99 usable windows (< min_windows) plus one without a measurement
    past = (np.r_[past[0], 0.3], np.r_[past[1], np.nan], np.r_[past[2], 0.2])
    rule = ResidualViolationRule(neighbours=200, min_windows=100)
    assert np.isnan(rule.probabilities(*past, [0.3], [0.2])).all()
    assert list(rule.alarm_score(*past, [0.3, 0.1], [0.2, 0.2])) == [1.0, 0.0]  # the plain rule
    with pytest.raises(ValueError, match="neighbours, min_windows"):
        ResidualViolationRule(neighbours=0)


def test_f1_threshold_is_chosen_on_the_measured_past():
    actual = [True, False, True, True, False, False]
    score = [0.9, 0.8, 0.7, 0.6, 0.3, 0.1]
    # flag >= 0.9: F1 2/4; >= 0.8: 2/5; >= 0.7: 4/6; >= 0.6: 6/7 (best); >= 0.3: 6/8; >= 0.1: 6/9
    threshold = f1_threshold(actual, score, min_violations=1, fallback=0.5)
    assert threshold == pytest.approx(0.45)  # midway between 0.6 and the next lower score
    assert flag_scores(actual, np.asarray(score) > threshold)["f1"] == pytest.approx(6 / 7)
    # flagging every window is best when the lowest-scored window is a violation too
    assert f1_threshold([True, False, True], [0.9, 0.8, 0.2], min_violations=1, fallback=0.5) == -np.inf
    # ties in F1 (>= 0.9: 2/3, >= 0.6: 4/6) keep the higher threshold; unscored windows (NaN) are left out
    tied = f1_threshold([True, False, True, False, True], [0.9, 0.8, 0.6, 0.6, np.nan], min_violations=1, fallback=0.5)
    assert tied == pytest.approx(0.85)


def test_f1_threshold_falls_back_until_enough_violations_are_measured():
    assert f1_threshold([True, False, False], [0.9, 0.2, 0.1], min_violations=2, fallback=0.5) == 0.5
    assert f1_threshold([], [], min_violations=1, fallback=0.4) == 0.4
    with pytest.raises(ValueError, match="equal lengths"):
        f1_threshold([True], [0.1, 0.2], min_violations=1, fallback=0.5)
