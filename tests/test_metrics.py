import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ndtwin.data import metrics


def test_known_values():
    true, pred = [1.0, 2.0, 4.0], [1.5, 2.0, 3.0]
    assert metrics.mape(true, pred) == pytest.approx(100 * (0.5 + 0 + 0.25) / 3)
    assert metrics.mae(true, pred) == pytest.approx(0.5)
    assert metrics.rmse(true, pred) == pytest.approx(math.sqrt((0.25 + 1) / 3))
    assert metrics.nmse(true, pred) == pytest.approx((0.25 + 1) / (1 + 4 + 16))
    assert metrics.nmse_db(true, pred) == pytest.approx(10 * math.log10(1.25 / 21))
    mean = 7 / 3
    ss_tot = sum((t - mean) ** 2 for t in true)
    assert metrics.r2(true, pred) == pytest.approx(1 - 1.25 / ss_tot)
    assert metrics.huber(true, pred, delta=0.6) == pytest.approx((0.5 * 0.25 + 0 + 0.6 * (1 - 0.3)) / 3)
    assert metrics.p95_abs_error(true, pred) == pytest.approx(np.percentile([0.5, 0, 1], 95))


def test_mape_skips_zero_truth_and_non_finite_pairs():
    assert metrics.mape([0.0, 2.0, np.nan], [5.0, 3.0, 1.0]) == pytest.approx(50.0)
    assert math.isnan(metrics.mape([0.0], [1.0]))


def test_perfect_prediction():
    y = [0.1, 0.2, 0.3]
    assert metrics.nmse_db(y, y) == float("-inf")
    assert metrics.r2(y, y) == 1.0
    assert metrics.mape(y, y) == 0.0


def test_length_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="equal lengths"):
        metrics.mae([1, 2], [1])


@given(st.lists(st.floats(0.01, 1e3), min_size=2, max_size=50), st.floats(1.01, 3))
def test_scaling_prediction_up_scales_mape(values, factor):
    # Predicting factor × truth gives MAPE = (factor − 1) × 100 exactly.
    assert metrics.mape(values, np.multiply(values, factor)) == pytest.approx((factor - 1) * 100)


def test_median_ape_is_the_middle_relative_error_over_nonzero_truths():
    assert metrics.median_ape([1.0, 2.0, 4.0, 0.0], [1.1, 2.0, 2.0, 5.0]) == pytest.approx(10.0)
    assert np.isnan(metrics.median_ape([0.0], [1.0]))


def test_rounding_residue_of_a_constant_delay_counts_as_no_variance():
    import pandas as pd

    from ndtwin.data.sample import flow_targets

    labels = pd.DataFrame(
        {
            "delay_s": [0.1, 0.1, 0.1, np.nan],
            "delay_var_s2": [7e-30, 2e-14, 1e-6, 1e-30],  # residue, spread 1.4e-6 of the mean, a real spread, no delay
            "loss": [0.0, 0.0, 0.1, 1.0],
        }
    )
    targets = flow_targets(labels)
    assert list(targets.columns) == ["delay_s", "delay_var_s2", "loss"]
    assert targets["delay_var_s2"].tolist() == [0.0, 2e-14, 1e-6, 1e-30]
    assert np.isnan(flow_targets(labels[["delay_s"]])["loss"]).all()  # an absent label stays unmeasured


def test_training_and_evaluation_ignore_a_rounding_residue_variance():
    import pandas as pd

    from ndtwin.data.sample import Sample
    from ndtwin.scenario import Topology
    from ndtwin.scenario.generate import all_pairs_scenario
    from ndtwin.twin.evaluate import evaluate_predictions

    scenario = all_pairs_scenario(Topology.from_edges(2, [(0, 1, 1e6)]), max_utilization=0.5)
    labels = pd.DataFrame({"delay_s": [0.1, 0.1], "delay_var_s2": [1e-28, 1e-4], "loss": [0.0, 0.0]})
    prediction = pd.DataFrame({"delay_s": [0.1, 0.1], "delay_var_s2": [1e-4, 1e-4], "loss": [0.0, 0.0]})
    report = evaluate_predictions([(Sample(scenario, labels), prediction)], model="m")
    assert report["jitter"]["mape"] == 0.0  # the residue flow is not compared (it would give 1e26 %)
