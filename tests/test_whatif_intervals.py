"""Adaptive (normalised conformal) intervals on synthetic residuals whose size depends on the topology's size."""

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.errors import DatasetError
from ndtwin.scenario import PortConfig, Scheduling, Topology
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.twin.catalog import SHIPPED_MODELS
from ndtwin.twin.qt import QueueingTheoryTwin
from ndtwin.whatif.difficulty import FEATURES, flow_features
from ndtwin.whatif.intervals import Intervals, calibrate, link_utilization, propagation_s

SP3 = PortConfig(Scheduling.SP, buffers=(32, 32, 32), tos_to_queue=(0, 1, 2))
NOISE = {5: 0.30, 10: 0.05}  # log-normal residual σ per ring size: small graphs are six times harder
TWIN = QueueingTheoryTwin()


def ring(n: int) -> Topology:
    return Topology.from_edges(n, [(i, (i + 1) % n, 1e5) for i in range(n)], prop_delay_s=0.001, port=SP3)


def noisy_runs(seed: int, per_size: int):
    """``(scenario, prediction, truth)`` on rings with :data:`NOISE` (see ``ring_runs``)."""
    return ring_runs(seed, NOISE, per_size)


@pytest.fixture(scope="module")
def calibration():
    runs = noisy_runs(seed=1, per_size=24)
    groups = [k // 2 for k in range(len(runs))]  # one small and one large ring per group
    return runs, groups


def coverage_by_size(intervals: Intervals, runs) -> dict[int, float]:
    hits: dict[int, list[np.ndarray]] = {}
    for scenario, pred, truth in runs:
        bounds = intervals.bounds(scenario, pred)
        delay = truth["delay_s"].to_numpy()
        hits.setdefault(scenario.topology.n_nodes, []).append(
            (delay >= bounds["delay_s_lo"].to_numpy()) & (delay <= bounds["delay_s_hi"].to_numpy())
        )
    return {n: float(np.concatenate(h).mean()) for n, h in hits.items()}


def test_features_describe_each_flow():
    scenario = all_pairs_scenario(ring(5), max_utilization=0.8, seed=0)
    x = flow_features(scenario, TWIN.predict(scenario))
    assert x.shape == (scenario.n_flows, len(FEATURES)) and np.isfinite(x).all()
    column = dict(zip(FEATURES, x.T))
    assert np.allclose(column["log_nodes"], np.log(5)) and column["log_utilization"].max() == pytest.approx(np.log(0.8))
    assert (column["log_queueing_over_transmission"] >= 0).all()


def test_adaptive_intervals_are_wider_where_residuals_are_larger_and_cover_each_size(calibration):
    runs, groups = calibration
    adaptive = calibrate(runs, adaptive=True, groups=groups, equal_scenarios=True, edges=(), tos_groups=1)
    assert set(adaptive.scales) >= {"delay_s", "delay_var_s2"}
    held_out = noisy_runs(seed=2, per_size=20)
    widths = {}
    for scenario, pred, _ in held_out:
        bounds = adaptive.bounds(scenario, pred)
        rest = pred["delay_s"] - propagation_s(scenario)
        widths.setdefault(scenario.topology.n_nodes, []).append(
            np.log((bounds["delay_s_hi"] - propagation_s(scenario)) / rest).median()
        )
    assert np.mean(widths[5]) > 3 * np.mean(widths[10])
    covered = coverage_by_size(adaptive, held_out)
    assert 0.85 <= covered[5] <= 0.95 and 0.85 <= covered[10] <= 0.95, covered
    one_width = coverage_by_size(calibrate(runs, edges=(), tos_groups=1), held_out)
    assert one_width[5] < 0.8 and one_width[10] > 0.98, one_width  # a single width fits neither size


def test_adaptive_calibration_needs_two_groups(calibration):
    runs, _ = calibration
    with pytest.raises(Exception, match="groups: expected at least two distinct calibration groups"):
        calibrate(runs, adaptive=True, groups=[0] * len(runs))


def test_adaptive_intervals_round_trip_and_old_files_load(calibration, tmp_path):
    runs, groups = calibration
    adaptive = calibrate(runs, adaptive=True, groups=groups, provenance={"data": "synthetic"})
    path = adaptive.save(tmp_path)
    assert json.loads(path.read_text())["version"] == 5
    assert Intervals.load(path) == adaptive
    version_2 = {
        k: v for k, v in json.loads(path.read_text()).items() if k not in ("size_edges", "spread", "load_edges")
    }
    path.write_text(json.dumps({**version_2, "version": 2}))
    assert Intervals.load(path) == adaptive
    old = calibrate(runs)  # a version-1 file: binned quantiles, no "version" or "scales" field
    data = {k: v for k, v in json.loads(old.save(tmp_path).read_text()).items() if k not in ("version", "scales")}
    path.write_text(json.dumps(data))
    loaded = Intervals.load(path)
    assert loaded == old and not loaded.scales
    path.write_text(json.dumps({**data, "version": 6}))
    with pytest.raises(DatasetError, match="intervals.json: version: expected 1 to 5, got 6"):
        Intervals.load(path)
    broken = json.loads(adaptive.save(tmp_path).read_text())
    broken["scales"]["delay_s"]["coef"] = [1.0]
    path.write_text(json.dumps(broken))
    with pytest.raises(DatasetError, match="intervals.json: expected an intervals file"):
        Intervals.load(path)


def test_the_scale_model_does_not_extrapolate(calibration):
    runs, groups = calibration
    scale = calibrate(runs, adaptive=True, groups=groups).scales["delay_s"]
    scenario, pred, _ = runs[0]
    x = flow_features(scenario, pred)
    far = x.copy()
    far[:, FEATURES.index("log_nodes")] = 10.0  # a network far larger than any calibration one
    edge = x.copy()
    edge[:, FEATURES.index("log_nodes")] = scale.high[FEATURES.index("log_nodes")]
    assert np.allclose(scale.sigma(far), scale.sigma(edge)) and not np.allclose(scale.sigma(far), scale.sigma(x))


def ring_runs(seed: int, sizes: dict[int, float], per_size: int):
    """``(scenario, prediction, truth)`` on rings of the given sizes: truth = prediction · exp(N(0, σ)) on the delay
    beyond propagation (σ per size) and · exp(N(0, 2σ)) on the delay variance."""
    rng = np.random.default_rng(seed)
    runs = []
    for k in range(per_size):
        for n, sigma in sizes.items():
            scenario = all_pairs_scenario(ring(n), max_utilization=rng.uniform(0.3, 0.9), seed=seed * 100 + k)
            pred = TWIN.predict(scenario)
            truth = pred.copy()
            fixed = propagation_s(scenario)
            truth["delay_s"] = fixed + (pred["delay_s"] - fixed) * np.exp(rng.normal(0, sigma, len(pred)))
            truth["delay_var_s2"] = pred["delay_var_s2"] * np.exp(rng.normal(0, 2 * sigma, len(pred)))
            runs.append((scenario, pred, truth))
    return runs


def test_cross_fitting_lets_the_difficulty_model_see_every_size():
    sizes = {5: 0.30, 10: 0.10, 16: 0.047}  # log σ linear in log size, as the difficulty model assumes
    runs = ring_runs(seed=3, sizes=sizes, per_size=8)
    # groups of even rank hold the small rings, those of odd rank the large ones: split in halves, the difficulty
    # model never sees a 16-node ring and the quantiles are taken on 16-node rings only
    groups = [2 * (k // 3) + (scenario.topology.n_nodes == 16) for k, (scenario, _, _) in enumerate(runs)]
    held_out = ring_runs(seed=4, sizes=sizes, per_size=8)
    options = dict(adaptive=True, groups=groups, equal_scenarios=True, edges=(), tos_groups=1)
    crossed = calibrate(runs, cross_fit=True, **options)
    covered = coverage_by_size(crossed, held_out)
    assert all(0.85 <= c <= 0.95 for c in covered.values()), covered
    assert crossed.scales["delay_s"].high[FEATURES.index("log_nodes")] == pytest.approx(np.log(16))
    halves = coverage_by_size(calibrate(runs, cross_fit=False, **options), held_out)
    assert halves[5] < 0.8 and halves[10] < 0.85, halves


def test_size_classes_give_each_network_size_its_own_quantiles(tmp_path):
    sizes = {5: 0.30, 12: 0.05}
    runs = ring_runs(seed=5, sizes=sizes, per_size=10)
    held_out = ring_runs(seed=6, sizes=sizes, per_size=10)
    by_size = calibrate(runs, edges=(), tos_groups=1, size_edges=(8,))
    assert by_size.n_bins == 2 and by_size.quantiles["delay_s"][0][1] > 3 * by_size.quantiles["delay_s"][1][1]
    covered = coverage_by_size(by_size, held_out)
    assert all(0.85 <= c <= 0.95 for c in covered.values()), covered
    pooled = coverage_by_size(calibrate(runs, edges=(), tos_groups=1), held_out)
    assert pooled[5] < 0.85 and pooled[12] > 0.95, pooled
    assert Intervals.load(by_size.save(tmp_path)) == by_size


def test_size_edges_must_increase():
    result = CliRunner().invoke(
        app, ["whatif", "calibrate", "default", "--topology", "powerlaw:5", "--size-edges", "30,15"]
    )
    assert result.exit_code != 0 and "--size-edges" in result.output and "increasing node counts" in result.output
    result = CliRunner().invoke(
        app, ["whatif", "calibrate", "default", "--topology", "powerlaw:5", "--load-edges", "0.8,0.4"]
    )
    assert result.exit_code != 0 and "--load-edges" in result.output and "increasing utilisations" in result.output
    result = CliRunner().invoke(
        app, ["whatif", "calibrate", "default", "--topology", "powerlaw:5", "--loads", "0.5,0.8", "--loads", "0.5, 0.8"]
    )
    assert result.exit_code != 0 and "--loads" in result.output and "different load sets" in result.output


def load_runs(seed: int, per_load: int):
    """``(scenario, prediction, truth)`` on one ring whose busiest link runs at 0.3 (residual σ 0.05) or at 0.8
    (σ 0.3): the same flows err more in a busy network."""
    rng = np.random.default_rng(seed)
    runs = []
    for k in range(per_load):
        for load, sigma in ((0.3, 0.05), (0.8, 0.3)):
            scenario = all_pairs_scenario(ring(6), max_utilization=load, seed=seed * 100 + k)
            pred = TWIN.predict(scenario)
            truth = pred.copy()
            fixed = propagation_s(scenario)
            truth["delay_s"] = fixed + (pred["delay_s"] - fixed) * np.exp(rng.normal(0, sigma, len(pred)))
            runs.append((scenario, pred, truth))
    return runs


def coverage_by_load(intervals: Intervals, runs) -> dict[float, float]:
    hits: dict[float, list[np.ndarray]] = {}
    for scenario, pred, truth in runs:
        bounds = intervals.bounds(scenario, pred)
        delay = truth["delay_s"].to_numpy()
        load = round(float(link_utilization(scenario).max()), 2)
        hits.setdefault(load, []).append(
            (delay >= bounds["delay_s_lo"].to_numpy()) & (delay <= bounds["delay_s_hi"].to_numpy())
        )
    return {load: float(np.concatenate(h).mean()) for load, h in hits.items()}


def test_load_classes_give_busy_and_quiet_networks_their_own_quantiles(tmp_path):
    runs, held_out = load_runs(seed=7, per_load=40), load_runs(seed=8, per_load=40)
    by_load = calibrate(runs, edges=(), tos_groups=1, size_edges=(8,), load_edges=(0.5,))
    assert by_load.n_bins == 4  # two size classes × two load classes; only the small, quiet and busy ones have flows
    assert by_load.counts["delay_s"][2:] == [0, 0]
    covered = coverage_by_load(by_load, held_out)
    assert set(covered) == {0.3, 0.8} and all(0.85 <= c <= 0.95 for c in covered.values()), covered
    pooled = coverage_by_load(calibrate(runs, edges=(), tos_groups=1), held_out)
    assert pooled[0.3] > 0.97 and pooled[0.8] < 0.85, pooled
    saved = by_load.save(tmp_path)
    assert json.loads(saved.read_text())["load_edges"] == [0.5] and Intervals.load(saved) == by_load
    older = {k: v for k, v in json.loads(saved.read_text()).items() if k != "load_edges"}
    (tmp_path / "older.json").write_text(
        json.dumps({**older, "version": 4, "quantiles": {"delay_s": [[-0.1, 0.1]] * 2}})
    )
    assert Intervals.load(tmp_path / "older.json").load_edges == ()  # a version-4 file: one load class


def test_calibrate_command_takes_several_load_sets_and_load_edges(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(SHIPPED_MODELS / "default", model)
    result = CliRunner().invoke(
        app,
        [
            "whatif",
            "calibrate",
            str(model),
            "--topology",
            "powerlaw:6",
            "--per-type",
            "1",
            "--loads",
            "0.3",
            "--loads",
            "0.8",
            "--packets",
            "60",
            "--load-edges",
            "0.5",
        ],
    )
    assert result.exit_code == 0, result.output
    intervals = Intervals.load(model / "intervals.json")
    assert intervals.load_edges == (0.5,) and intervals.provenance["loads"] == [[0.3], [0.8]]
    assert (
        "--loads 0.3 --loads 0.8" in intervals.provenance["command"]
        and "--load-edges 0.5" in intervals.provenance["command"]
    )
    assert len(intervals.provenance["calibration_suites"]) == 1  # one topology, simulated at both load sets
    per_load = intervals.counts["delay_s"]
    assert sum(per_load[: len(per_load) // 2]) > 0 and sum(per_load[len(per_load) // 2 :]) > 0
