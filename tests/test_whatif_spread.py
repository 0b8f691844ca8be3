"""Delay intervals scaled by the disagreement of a second model (``ndtwin.whatif.spread``)."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.scenario import Topology
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.twin.catalog import SHIPPED_MODELS, load_twin
from ndtwin.whatif.intervals import Intervals, calibrate, propagation_s
from ndtwin.whatif.spread import SPREAD_MODEL_DIR, SpreadScale, install_second_model

SECOND = SHIPPED_MODELS / "attention"  # trained on other data than the default: they disagree flow by flow


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    target = tmp_path_factory.mktemp("model") / "default"
    shutil.copytree(SHIPPED_MODELS / "default", target, ignore=shutil.ignore_patterns("intervals.json", "grade.json"))
    return target


def runs(seed: int, count: int):
    """``(scenario, prediction, truth)`` on rings: the true delay beyond propagation is the prediction's times
    exp(N(0, 1) · 2 · gap), gap = the two models' disagreement, so the residual is large where they disagree."""
    rng = np.random.default_rng(seed)
    first, probe = load_twin("default"), SpreadScale(0.0, SECOND)
    out = []
    for k in range(count):
        n = int(rng.integers(5, 9))
        topology = Topology.from_edges(n, [(i, (i + 1) % n, 1e5) for i in range(n)], prop_delay_s=0.001)
        scenario = all_pairs_scenario(topology, max_utilization=rng.uniform(0.3, 0.9), seed=seed * 100 + k)
        pred = first.predict(scenario)
        fixed = propagation_s(scenario)
        gap = probe.gap(scenario, pred, fixed)
        truth = pred.copy()
        truth["delay_s"] = fixed + (pred["delay_s"] - fixed) * np.exp(rng.normal(0, 1, len(pred)) * 2 * gap)
        out.append((scenario, pred, truth))
    return out


def coverage_by_gap(intervals: Intervals, held_out) -> tuple[float, float]:
    """Delay coverage on the flows of below-median and of above-median disagreement."""
    inside, gaps = [], []
    probe = SpreadScale(0.0, SECOND)
    for scenario, pred, truth in held_out:
        bounds = intervals.bounds(scenario, pred)
        delay = truth["delay_s"].to_numpy()
        inside.append((delay >= bounds["delay_s_lo"].to_numpy()) & (delay <= bounds["delay_s_hi"].to_numpy()))
        gaps.append(probe.gap(scenario, pred, propagation_s(scenario)))
    inside, gaps = np.concatenate(inside), np.concatenate(gaps)
    low = gaps <= np.median(gaps)
    return float(inside[low].mean()), float(inside[~low].mean())


def test_spread_scaled_intervals_cover_flows_of_every_disagreement(model_dir, tmp_path):
    calibration, held_out = runs(seed=1, count=40), runs(seed=2, count=40)
    options = dict(edges=(), tos_groups=1)
    scaled = calibrate(calibration, spread_model=SECOND, **options)
    assert scaled.spread is not None and scaled.spread.floor > 0
    low, high = coverage_by_gap(scaled, held_out)
    assert 0.85 <= low <= 0.97 and 0.85 <= high <= 0.95, (low, high)
    plain_low, plain_high = coverage_by_gap(calibrate(calibration, **options), held_out)
    assert plain_low > 0.97 and plain_high < 0.85, (plain_low, plain_high)

    with pytest.raises(ScenarioError, match="spread"):  # the second model must live in the model directory
        scaled.save(model_dir)
    inside = dataclasses.replace(
        scaled, spread=SpreadScale(scaled.spread.floor, install_second_model(SECOND, model_dir))
    )
    path = inside.save(model_dir)
    stored = json.loads(path.read_text())
    assert stored["version"] == 5 and stored["spread"]["model"] == SPREAD_MODEL_DIR
    loaded = Intervals.load(path)
    assert loaded == inside
    scenario, pred, _ = held_out[0]
    assert loaded.bounds(scenario, pred).equals(scaled.bounds(scenario, pred))

    shutil.copytree(model_dir, tmp_path / "copy")
    shutil.rmtree(tmp_path / "copy" / SPREAD_MODEL_DIR)
    with pytest.raises(DatasetError, match="spread.model: expected a model directory"):
        Intervals.load(tmp_path / "copy" / "intervals.json")


def test_spread_needs_binned_intervals_and_a_different_second_model():
    with pytest.raises(ScenarioError, match="spread_model"):
        calibrate(runs(seed=3, count=2), adaptive=True, spread_model=SECOND)
    with pytest.raises(ScenarioError, match="spread_model: expected a second model whose delay predictions differ"):
        calibrate(runs(seed=3, count=2), spread_model=SHIPPED_MODELS / "default")
    result = CliRunner().invoke(
        app, ["whatif", "calibrate", "default", "--topology", "powerlaw:5", "--adaptive", "--spread-model", str(SECOND)]
    )
    assert result.exit_code != 0 and "--spread-model" in result.output


def test_calibrate_command_moves_the_second_model_in(tmp_path):
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
            "0.5",
            "--packets",
            "60",
            "--spread-model",
            str(SECOND),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (model / SPREAD_MODEL_DIR / "weights.safetensors").is_file()
    assert not (model / SPREAD_MODEL_DIR / "intervals.json").exists()
    intervals = Intervals.load(model / "intervals.json")
    assert intervals.spread.directory == model / SPREAD_MODEL_DIR
    assert "--spread-model" in intervals.provenance["command"]
