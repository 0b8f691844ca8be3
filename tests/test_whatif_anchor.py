"""What-if answers anchored on a measured baseline: weights, anchoring, intervals, API and CLI."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.scenario import Flow, PortConfig, Scheduling, Topology
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.twin.catalog import SHIPPED_MODELS
from ndtwin.twin.qt import QueueingTheoryTwin
from ndtwin.whatif import AddFlows, Compose, FailLink, ScaleTraffic
from ndtwin.whatif.analysis import what_if
from ndtwin.whatif.anchor import (
    ANCHORED_INTERVALS_FILE,
    AnchorCase,
    AnchoredIntervals,
    anchor,
    calibrate_anchored,
    fit_weights,
)
from ndtwin.whatif.intervals import calibrate, propagation_s
from ndtwin.whatif.report import render_table

SP3 = PortConfig(Scheduling.SP, buffers=(32, 32, 32), tos_to_queue=(0, 1, 2))
TWIN = QueueingTheoryTwin()
CHANGE = Compose((ScaleTraffic(1.2), FailLink(0, 2), AddFlows((Flow(1, 3, 2e3, 0),))))  # the added flow: no baseline


@pytest.fixture(scope="module")
def scenario():
    edges = [(0, 1, 1e5), (1, 2, 1e5), (2, 3, 1e5), (3, 0, 1e5), (0, 2, 1e5)]
    return all_pairs_scenario(Topology.from_edges(4, edges, prop_delay_s=0.002, port=SP3), max_utilization=0.6, seed=1)


def biased(frame, scenario, bias):
    """``frame`` with the delay beyond propagation and the jitter multiplied by ``exp(bias)`` per flow."""
    out = frame.copy()
    prop = propagation_s(scenario)
    out["delay_s"] = prop + (frame["delay_s"] - prop) * np.exp(bias)
    out["delay_var_s2"] = frame["delay_var_s2"] * np.exp(2 * bias)
    return out


def synthetic_case(scenario, rng, noise, fresh=0.0):
    """A case whose truth after the change carries each flow's persistent bias (log factors of σ 0.1) plus a
    fresh error of σ ``fresh``, and a measurement of the baseline that carries the bias plus ``noise`` and a fresh
    error of its own (new flows: no bias)."""
    outcome = CHANGE.outcome(scenario)
    bias = rng.normal(0, 0.1, scenario.n_flows)
    measured = biased(TWIN.predict(scenario), scenario, bias + rng.normal(0, np.hypot(noise, fresh), scenario.n_flows))
    after = TWIN.predict(outcome.scenario)
    flow_bias = np.where(outcome.origin >= 0, bias[np.maximum(outcome.origin, 0)], 0.0)
    flow_bias = flow_bias + rng.normal(0, fresh, outcome.scenario.n_flows) if fresh else flow_bias
    case = AnchorCase(scenario, TWIN.predict(scenario), measured, outcome.scenario, after, outcome.origin)
    return case, biased(after, outcome.scenario, flow_bias)


def test_anchoring_removes_a_bias_that_persists_and_leaves_new_flows_alone(scenario):
    case, truth = synthetic_case(scenario, np.random.default_rng(0), noise=0.0)
    answer = anchor(case, {"delay_s": 1.0, "delay_var_s2": 1.0})
    kept = case.origin >= 0
    assert (~kept).sum() == 1
    assert np.allclose(answer["delay_s"][kept], truth["delay_s"][kept])
    assert np.allclose(answer["delay_var_s2"][kept], truth["delay_var_s2"][kept])
    assert not np.allclose(case.predicted_after["delay_s"][kept], truth["delay_s"][kept])
    assert answer["delay_s"][~kept].tolist() == case.predicted_after["delay_s"][~kept].tolist()
    assert answer["loss"].tolist() == case.predicted_after["loss"].tolist()  # no weight: unchanged


def test_weights_shrink_with_the_measurement_noise(scenario):
    rng = np.random.default_rng(1)
    exact = fit_weights(*zip(*[synthetic_case(scenario, rng, noise=0.0) for _ in range(20)]))
    noisy = fit_weights(*zip(*[synthetic_case(scenario, rng, noise=0.1) for _ in range(40)]))
    assert exact["delay_s"] == pytest.approx(1.0, abs=1e-6)
    assert 0.35 < noisy["delay_s"] < 0.65  # bias and noise of the same size: about half the residual carries over


def test_anchored_intervals_are_narrower_and_round_trip(scenario, tmp_path):
    rng = np.random.default_rng(2)
    cases, truths = zip(*[synthetic_case(scenario, rng, noise=0.02) for _ in range(60)])
    anchored = calibrate_anchored(cases, truths, provenance={"data": "synthetic"})
    plain = calibrate([(case.after, case.predicted_after, truth) for case, truth in zip(cases, truths)])
    width = {
        name: np.subtract(*intervals.quantiles["delay_s"][0][::-1])
        for name, intervals in (("anchored", anchored.intervals), ("plain", plain))
    }
    assert anchored.weights["delay_s"] > 0.8 and width["anchored"] < 0.5 * width["plain"]
    path = anchored.save(tmp_path)
    assert anchored == AnchoredIntervals.load(path)
    older = json.loads(path.read_text())  # version 1: one width per bin
    older = {"version": 1, "weights": older["weights"], "intervals": older["intervals"]}
    path.write_text(json.dumps(older))
    assert AnchoredIntervals.load(path) == replace(anchored, spread_reference={}, spread_floor={})


def anchored_coverage(anchored, cases, truths):
    hits = []
    for case, truth in zip(cases, truths):
        bounds = anchored.bounds(case, anchor(case, anchored.weights))
        delay = truth["delay_s"].to_numpy()
        hits.append((delay >= bounds["delay_s_lo"].to_numpy()) & (delay <= bounds["delay_s_hi"].to_numpy()))
    return float(np.concatenate(hits).mean())


def test_widths_follow_the_residual_spread_on_the_measured_baseline(scenario):
    rng = np.random.default_rng(4)
    drawn = {fresh: [synthetic_case(scenario, rng, 0.02, fresh) for _ in range(120)] for fresh in (0.05, 0.2)}
    calibration = [c for cases in drawn.values() for c in cases[:60]]
    held_out = {fresh: tuple(zip(*cases[60:])) for fresh, cases in drawn.items()}
    scaled = calibrate_anchored(*zip(*calibration))
    runs = [(case.after, anchor(case, scaled.weights), truth) for case, truth in calibration]
    fixed = AnchoredIntervals(scaled.weights, calibrate(runs))  # one width per bin, whatever the baseline shows
    assert set(scaled.spread_reference) == {"delay_s", "delay_var_s2"}
    quiet, busy = (scaled.widths(held_out[fresh][0][0])["delay_s"] for fresh in (0.05, 0.2))
    assert busy > 2 * quiet
    coverage = {
        (name, fresh): anchored_coverage(anchored, *held_out[fresh])
        for name, anchored in (("scaled", scaled), ("fixed", fixed))
        for fresh in held_out
    }
    assert coverage["fixed", 0.05] > 0.97 and coverage["fixed", 0.2] < 0.85  # one width for both: wrong for both
    assert 0.83 < coverage["scaled", 0.05] < 0.97 and 0.83 < coverage["scaled", 0.2] < 0.97
    floor = replace(scaled, spread_floor={"delay_s": 50.0})
    assert floor.widths(held_out[0.05][0][0])["delay_s"] == 50.0


def test_malformed_anchored_intervals_name_the_file(tmp_path):
    path = tmp_path / ANCHORED_INTERVALS_FILE
    path.write_text('{"version": 1, "intervals": {}}')
    with pytest.raises(DatasetError, match=f"{ANCHORED_INTERVALS_FILE}.*weights"):
        AnchoredIntervals.load(path)
    path.write_text('{"version": 1, "weights": {"delay_s": 1.5}, "intervals": {}}')
    with pytest.raises(DatasetError, match=r"weights: expected values in \[0, 1\]"):
        AnchoredIntervals.load(path)
    path.write_text('{"version": 2, "weights": {}, "spread_reference": {"loss": 1.0}, "intervals": {}}')
    with pytest.raises(DatasetError, match="spread_reference: expected positive values"):
        AnchoredIntervals.load(path)
    path.write_text('{"version": 1, "weights": {"delay_s": 0.5}, "intervals": {"coverage": 0.9}}')
    with pytest.raises(DatasetError, match="expected an intervals file"):
        AnchoredIntervals.load(path)


def test_what_if_from_a_measured_baseline(scenario):
    rng = np.random.default_rng(3)
    cases, truths = zip(*[synthetic_case(scenario, rng, noise=0.02) for _ in range(40)])
    anchored = calibrate_anchored(cases, truths)
    measured = biased(TWIN.predict(scenario), scenario, np.full(scenario.n_flows, 0.2))
    result = what_if(TWIN, scenario, CHANGE, measured=measured, anchored=anchored)
    flows = result.flows.dropna(subset=["delay_s_before"])
    assert result.anchored and result.to_dict()["anchored_on_measured_baseline"] is True
    assert np.allclose(flows["delay_s_before"], measured["delay_s"].to_numpy()[flows["baseline_flow"]])
    assert (
        "delay_s_before_lo" not in result.flows
        and (result.flows["delay_s_after_lo"] <= result.flows["delay_s_after"]).all()
    )
    plain = what_if(TWIN, scenario, CHANGE)
    assert (result.flows["delay_s_after"][flows.index] > plain.flows["delay_s_after"][flows.index]).all()
    assert "before: measured" in str(render_table(result).renderables[0])
    with pytest.raises(ScenarioError, match="anchored intervals"):
        what_if(TWIN, scenario, CHANGE, measured=measured)  # qt has no intervals_anchored.json
    with pytest.raises(ScenarioError, match=f"measured baseline: expected {scenario.n_flows} rows"):
        what_if(TWIN, scenario, CHANGE, measured=measured.iloc[:3], anchored=anchored)
    with pytest.raises(ScenarioError, match="a column 'loss'"):
        what_if(TWIN, scenario, CHANGE, measured=measured.drop(columns="loss"), anchored=anchored)
    wrong = measured.assign(loss=measured["loss"].where(measured.index != 2, 1.5))
    with pytest.raises(ScenarioError, match=r"measured baseline loss\[2\]: expected a loss share in \[0, 1\]"):
        what_if(TWIN, scenario, CHANGE, measured=wrong, anchored=anchored)
    wrong = measured.astype({"delay_s": object}).assign(delay_s=["fast"] + list(measured["delay_s"].iloc[1:]))
    with pytest.raises(ScenarioError, match=r"measured baseline delay_s\[0\]: expected a finite value"):
        what_if(TWIN, scenario, CHANGE, measured=wrong, anchored=anchored)
    unmeasured = measured.assign(delay_s=np.nan)  # not measured: the twin's own predictions after the change
    assert np.allclose(
        what_if(TWIN, scenario, CHANGE, measured=unmeasured, anchored=anchored).flows["delay_s_after"],
        plain.flows["delay_s_after"],
    )


def test_cli_anchored_run_needs_a_dataset_with_measurements(scenario, tmp_path):
    from ndtwin.data.topology_io import write_gml

    gml = tmp_path / "net.gml"
    write_gml(scenario.topology, gml)
    bad = CliRunner().invoke(app, ["whatif", "run", str(gml), "--scale", "1.2", "--anchored"])
    assert bad.exit_code == 2 and "--anchored: expected a dataset whose sample carries measured" in bad.output


def test_cli_calibrates_anchored_intervals_and_answers_from_a_sample(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(SHIPPED_MODELS / "default", model)
    (model / ANCHORED_INTERVALS_FILE).unlink(missing_ok=True)
    calibrated = CliRunner().invoke(
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
            "0.4,0.8",
            "--packets",
            "60",
        ],
    )
    assert calibrated.exit_code == 0, calibrated.output
    anchored = AnchoredIntervals.load(model / ANCHORED_INTERVALS_FILE)
    assert set(anchored.weights) <= {"delay_s", "delay_var_s2", "loss"} and "delay_s" in anchored.intervals.quantiles
    assert anchored.intervals.provenance["measurement"].startswith("each baseline's repeat run (60 packets")
    data = tmp_path / "data"
    made = CliRunner().invoke(app, ["generate", str(data), "--samples", "1", "-t", "powerlaw:6", "--seed", "3"])
    assert made.exit_code == 0, made.output
    result = CliRunner().invoke(
        app, ["whatif", "run", str(data), "-m", str(model), "--scale", "1.1", "--anchored", "--json"]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout.splitlines()[-1])
    flows = pd.DataFrame(answer["flows"])
    assert (
        answer["anchored_on_measured_baseline"] is True
        and (flows["delay_s_after_lo"] <= flows["delay_s_after_hi"]).all()
    )
