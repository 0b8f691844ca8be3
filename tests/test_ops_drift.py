"""Drift detectors: false alarms on stationary streams, detection delay after a shift, composition."""

import numpy as np
import pytest

from ndtwin.ops.drift import AnyOf, KswinDetector, MultivariateDetector, ResidualDetector, relative_error

SEEDS = range(5)


def first_detection(detector, stream) -> int | None:
    """Index within ``stream`` of the first update that detects a drift."""
    for index, x in enumerate(stream):
        if detector.update(x):
            return index
    return None


def residual_stream(rng, mean: float, size: int, cv: float = 0.5) -> np.ndarray:
    """Gamma-distributed positive residuals (coefficient of variation ``cv``), like per-window relative errors."""
    return rng.gamma(1 / cv**2, mean * cv**2, size=size)


@pytest.mark.parametrize("seed", SEEDS)
def test_kswin_false_alarms_stay_within_alpha_per_update(seed):
    rng = np.random.default_rng(seed)
    detector = KswinDetector(alpha=0.005, seed=seed)
    for x in rng.normal(size=2000):
        detector.update(x)
    # Union bound over the tests made: at most alpha false alarms per update in expectation.
    assert len(detector.detections) <= 0.005 * 2000
    strict = KswinDetector(alpha=1e-4, seed=seed)
    for x in rng.normal(size=2000):
        strict.update(x)
    assert strict.detections == []


@pytest.mark.parametrize("seed", SEEDS)
def test_kswin_detects_a_mean_shift_within_a_window(seed):
    rng = np.random.default_rng(seed)
    detector = KswinDetector(alpha=1e-4, window_size=100, stat_size=30, seed=seed)
    assert first_detection(detector, rng.normal(size=500)) is None
    delay = first_detection(detector, rng.normal(1.5, 1.0, size=500))
    assert delay is not None and delay <= 100
    assert detector.drift_detected
    assert detector.detections == [500 + delay]


def test_kswin_rejects_bad_settings_and_values():
    with pytest.raises(ValueError, match="window_size >= 2 \\* stat_size"):
        KswinDetector(window_size=50, stat_size=30)
    with pytest.raises(ValueError, match="alpha"):
        KswinDetector(alpha=0)
    with pytest.raises(ValueError, match="expected a finite number"):
        KswinDetector().update(float("nan"))


@pytest.mark.parametrize("seed", SEEDS)
def test_residual_detector_fires_when_errors_grow_not_when_they_shrink(seed):
    rng = np.random.default_rng(seed)
    detector = ResidualDetector()
    assert first_detection(detector, residual_stream(rng, 0.1, 2000)) is None
    assert detector.reference_level == pytest.approx(0.1, rel=0.5)
    delay = first_detection(detector, residual_stream(rng, 0.2, 300))
    assert delay is not None and delay <= 60
    detector.reset()
    first_detection(detector, residual_stream(rng, 0.2, 500))
    assert first_detection(detector, residual_stream(rng, 0.05, 500)) is None


def test_residual_detector_works_at_any_error_scale():
    for level in (0.001, 0.1, 50.0):
        rng = np.random.default_rng(7)
        detector = ResidualDetector()
        assert first_detection(detector, residual_stream(rng, level, 500)) is None
        assert first_detection(detector, residual_stream(rng, 2 * level, 300)) is not None


def test_residual_detector_rejects_negative_residuals():
    with pytest.raises(ValueError, match="non-negative"):
        ResidualDetector().update(-0.1)


@pytest.mark.parametrize("seed", SEEDS)
def test_multivariate_names_the_drifting_feature(seed):
    rng = np.random.default_rng(seed)
    detector = MultivariateDetector(["a", "b", "c"], alpha=0.005, seed=seed)
    for _ in range(1000):
        detector.update({"a": rng.normal(), "b": rng.normal(), "c": rng.normal()})
    # Bonferroni: each feature at alpha / 3, so at most alpha false alarms per update by the union bound.
    assert len(detector.detections) <= 0.005 * 1000
    stream = ({"a": rng.normal(), "b": rng.normal(), "c": rng.normal(1.5)} for _ in range(300))
    delay = first_detection(detector, stream)
    assert delay is not None and delay <= 100
    assert detector.fired == ["c"]


def test_multivariate_takes_features_from_the_first_update():
    detector = MultivariateDetector(seed=0)
    detector.update([0.0, 1.0])
    assert detector.features == [0, 1]
    assert all(member.alpha == pytest.approx(0.0025) for member in detector._members.values())
    with pytest.raises(ValueError, match="expected 2 feature values, got 3"):
        detector.update([0.0, 1.0, 2.0])
    keyed = MultivariateDetector(["rate", "size"])
    with pytest.raises(ValueError, match="missing feature 'size'"):
        keyed.update({"rate": 1.0})


def test_any_of_routes_inputs_and_reports_members():
    rng = np.random.default_rng(0)
    detector = AnyOf({"traffic": KswinDetector(alpha=1e-4, seed=0), "residual": ResidualDetector()})
    for _ in range(300):
        detector.update({"traffic": rng.normal(), "residual": None})  # no labels yet: residual skipped
    assert detector.members["traffic"].n_updates == 300
    assert detector.members["residual"].n_updates == 0
    for step in range(300):  # noqa: B007 (read after the loop)
        if detector.update({"traffic": rng.normal(3.0), "residual": float(rng.gamma(4, 0.025))}):
            break
    assert detector.fired == ["traffic"]
    assert detector.detections == [300 + step]
    with pytest.raises(ValueError, match="missing input 'residual'"):
        detector.update({"traffic": 0.0})


def test_any_of_list_feeds_every_member_and_reset_keeps_the_count():
    rng = np.random.default_rng(1)
    detector = AnyOf(
        [KswinDetector(alpha=1e-4, seed=1), KswinDetector(alpha=1e-4, window_size=60, stat_size=20, seed=2)]
    )
    for x in np.r_[rng.normal(size=300), rng.normal(4.0, 1.0, size=100)]:
        detector.update(x)
    assert detector.detections and set(detector.fired) <= {0, 1}
    detections = list(detector.detections)
    detector.reset()
    assert detector.n_updates == 400 and detector.detections == detections and not detector.drift_detected
    assert all(len(member._kswin.window) == 0 for member in detector.members.values())


def test_relative_error():
    assert relative_error([1.1, 0.9], [1.0, 1.0]) == pytest.approx(0.1)
    assert relative_error(2.0, 0.0, floor=1.0) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="equal non-empty shapes"):
        relative_error([1.0], [1.0, 2.0])
