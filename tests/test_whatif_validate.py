import json
import math
from dataclasses import replace
from importlib import resources

import numpy as np
import pytest
from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.data.topology_io import write_gml
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.scenario import Topology
from ndtwin.whatif.anchor import AnchoredIntervals
from ndtwin.whatif.grade import GRADES, GradeBounds, grade, read_grade, write_grade
from ndtwin.whatif.intervals import DEFAULT_EDGES, DEFAULT_TOS_GROUPS, Intervals
from ndtwin.whatif.report import trust_table
from ndtwin.whatif.suite import PERTURBATION_KINDS, build_suite
from ndtwin.whatif.validate import DeltaScores, TrustReport, cluster_bootstrap_range, delta_scores, score_twin

runner = CliRunner()


def test_delta_scores_on_hand_checked_values():
    scores = delta_scores([-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0], [0.1, 0.1, 0.1])
    assert scores.n_flows == 3 and scores.n_below_noise == 1  # the simulated 0 has no sign
    assert scores.sign_agreement == 1.0
    assert scores.delta_corr == pytest.approx(1.0) and scores.delta_slope == pytest.approx(2.0)
    assert scores.delta_mae == pytest.approx(2 / 3) and scores.delta_mae_rel == pytest.approx(1.0)
    assert scores.delta_r2 == pytest.approx(0.0)  # SS_res = 2 = SS_tot

    scores = delta_scores([0.1, -0.2, 0.3, 0.05], [0.2, -0.1, 0.3, -0.05], [0.01] * 4)
    assert scores.n_below_noise == 0 and scores.sign_agreement == 0.75
    assert scores.delta_mae == pytest.approx(0.075) and scores.delta_mae_rel == pytest.approx(0.075 / 0.1625)


def test_delta_scores_noise_threshold_and_missing_values():
    scores = delta_scores([1.0, 1.0, -1.0, np.nan], [0.05, 0.5, 0.5, 1.0], [0.1, 0.1, np.nan, 0.1], noise_z=2.0)
    # 0.05 < 2·0.1 is noise; an unknown noise (NaN) counts as noise; the NaN prediction is ignored
    assert scores.n_flows == 3 and scores.n_below_noise == 2 and scores.sign_agreement == 1.0


def report_with(mae_rel: float, r2: float) -> TrustReport:
    overall = DeltaScores(10, 0, 1.0, 0.9, 1.0, 0.1, mae_rel, r2)
    return TrustReport("m", "s", overall, {}, None)


def test_grade_bounds():
    assert grade(report_with(0.25, 0.9)) == "Excellent"
    assert grade(report_with(0.26, 0.95)) == "Good"
    assert grade(report_with(0.1, 0.89)) == "Good"
    assert grade(report_with(0.5, 0.7)) == "Good"
    assert grade(report_with(0.51, 0.99)) == "Weak"
    assert grade(report_with(0.1, 0.69)) == "Weak"
    assert grade(report_with(math.nan, 0.99)) == "Weak"
    strict = GradeBounds(excellent_mae_rel=0.1, excellent_r2=0.99, good_mae_rel=0.2, good_r2=0.95)
    assert grade(report_with(0.25, 0.9), strict) == "Weak"
    with pytest.raises(ScenarioError, match="bounds"):
        GradeBounds(excellent_mae_rel=0.6, good_mae_rel=0.5)


def test_grade_file_round_trip(tmp_path):
    document = write_grade(tmp_path, report_with(0.3, 0.8))
    assert document["grade"] == "Good" and read_grade(tmp_path) == document
    assert set(document) == {"grade", "bounds", "report"}
    assert read_grade(tmp_path / "missing") is None
    (tmp_path / "grade.json").write_text('{"grade": "Superb"}')
    with pytest.raises(DatasetError, match="grade.json"):
        read_grade(tmp_path)


class LookupTwin:
    """Predicts the simulated labels of the suite's scenarios, optionally distorted by ``transform``."""

    def __init__(self, suite, transform=lambda frame: frame, samples=None):
        self.name = "lookup"
        samples = samples if samples is not None else [*suite.baselines, *(c.sample for c in suite.cases)]
        self.table = {id(s.scenario): s.flow_labels for s in samples}
        self.transform = transform

    def predict(self, scenario):
        return self.transform(self.table[id(scenario)][["delay_s", "delay_var_s2", "loss"]].copy())


def delay_intervals(half_width: float) -> Intervals:
    """90 % intervals of the delay only, quantiles ± ``half_width`` in every bin."""
    bins = (len(DEFAULT_EDGES) + 1) * DEFAULT_TOS_GROUPS
    return Intervals(
        0.9, DEFAULT_EDGES, {"delay_s": [(-half_width, half_width)] * bins}, {}, tos_groups=DEFAULT_TOS_GROUPS
    )


@pytest.fixture(scope="module")
def tiny_suite():
    edges = [(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (3, 0, 1.0), (0, 2, 1.0)]
    return build_suite(
        Topology.from_edges(4, edges), per_type=2, loads=(0.7,), seed=3, packets_per_flow=100, reference_packets=400
    )


def test_suite_has_every_kind_and_its_samples_match(tiny_suite):
    assert {c.kind for c in tiny_suite.cases} == set(PERTURBATION_KINDS)
    assert len(tiny_suite.baselines) == len(tiny_suite.repeats) == 1
    for case in tiny_suite.cases:
        assert len(case.origin) == case.sample.scenario.n_flows
    assert {c.description for c in tiny_suite.cases if c.kind == "traffic_scale"} == {"traffic ×1.25", "traffic ×0.75"}
    runs = [*tiny_suite.baselines, *(c.sample for c in tiny_suite.cases)]
    assert len(tiny_suite.references) == len(runs) and tiny_suite.reference_packets == 400
    for run, reference in zip(runs, tiny_suite.references):
        assert reference.scenario is run.scenario and reference.meta["seed"] != run.meta["seed"]
        assert reference.meta["sim_time_s"] == pytest.approx(4 * run.meta["sim_time_s"], rel=0.01)


def test_coverage_is_judged_against_the_reference_runs(tiny_suite):
    narrow = delay_intervals(1e-6)
    knows_reference = LookupTwin(tiny_suite, samples=tiny_suite.references)
    report = score_twin(knows_reference, tiny_suite, intervals=narrow)
    assert report.coverage90 == 1.0  # the predictions are the reference runs' delays
    assert report.to_dict()["coverage_reference"] == {"runs": "reference", "packets_per_flow": 400}
    without = score_twin(knows_reference, replace(tiny_suite, references=()), intervals=narrow)
    assert without.coverage90 < 0.5 and without.to_dict()["coverage_reference"]["packets_per_flow"] == 100
    assert without.overall == report.overall  # changes are scored on the suite's runs either way
    assert report.coverage90_range is None and report.to_dict()["coverage90_range"] is None  # one baseline


def test_anchored_answers_are_judged_on_the_cases_from_the_measurement_runs(tiny_suite):
    n = len(tiny_suite.baselines)
    assert len(tiny_suite.measurements) == n
    for measurement, reference in zip(tiny_suite.measurements, tiny_suite.references[:n]):
        assert measurement.scenario is reference.scenario and measurement.meta["seed"] != reference.meta["seed"]
        assert measurement.meta["sim_time_s"] == pytest.approx(reference.meta["sim_time_s"])
    narrow = delay_intervals(1e-6)
    knows_reference = LookupTwin(tiny_suite, samples=tiny_suite.references)
    unmoved = score_twin(knows_reference, tiny_suite, intervals=narrow, anchored=AnchoredIntervals({}, narrow))
    assert unmoved.coverage90_anchored == 1.0 and unmoved.coverage90_cases == 1.0
    moved = score_twin(
        knows_reference, tiny_suite, intervals=narrow, anchored=AnchoredIntervals({"delay_s": 1.0}, narrow)
    )
    assert moved.coverage90_anchored < 0.5  # shifted by the gap between the measurement and the baseline's reference
    assert moved.to_dict()["coverage90_anchored"] == moved.coverage90_anchored
    assert "anchored on the measured baseline" in trust_table(moved, "Good").title
    assert (
        score_twin(
            knows_reference,
            replace(tiny_suite, measurements=()),
            intervals=narrow,
            anchored=AnchoredIntervals({}, narrow),
        ).coverage90_anchored
        is None
    )


def test_cluster_bootstrap_range_resamples_whole_clusters():
    covered, missed = np.ones(50, bool), np.zeros(50, bool)
    assert cluster_bootstrap_range([covered, missed], [0, 0]) is None  # one cluster: no spread to measure
    assert cluster_bootstrap_range([covered, covered[:10]], [0, 1]) == (1.0, 1.0)
    # two clusters, one always covered and one never: resampling whole clusters spans 0 to 1 ...
    assert cluster_bootstrap_range([covered, missed], [0, 1]) == (0.0, 1.0)
    # ... while the same outcomes mixed within each cluster leave little room around the share 0.5
    mixed = np.arange(100) % 2 == 0
    low, high = cluster_bootstrap_range([mixed[:50], mixed[50:], mixed[:50], mixed[50:]], [0, 0, 1, 1])
    assert low == high == 0.5
    uneven = [np.r_[np.ones(9, bool), False], np.r_[np.ones(7, bool), [False] * 3], np.ones(10, bool)]
    low, high = cluster_bootstrap_range(uneven, [0, 1, 2])
    assert 0.7 <= low < 26 / 30 < high <= 1.0


def test_coverage_range_of_a_suite_with_several_baselines():
    edges = [(0, 1, 1.0), (1, 2, 1.0), (2, 0, 1.0)]
    suite = build_suite(
        Topology.from_edges(3, edges), per_type=1, loads=(0.5, 0.8), seed=5, packets_per_flow=100, reference_packets=200
    )
    narrow = delay_intervals(0.1)
    report = score_twin(LookupTwin(suite), suite, intervals=narrow)
    low, high = report.coverage90_range
    assert 0.0 <= low <= report.coverage90 <= high <= 1.0
    assert report.to_dict()["coverage90_range"] == [low, high]


def test_scores_of_a_perfect_and_of_an_inverted_twin(tiny_suite):
    perfect = score_twin(LookupTwin(tiny_suite), tiny_suite)
    assert perfect.overall.sign_agreement == 1.0 and perfect.overall.delta_mae == 0.0
    assert perfect.overall.delta_corr == pytest.approx(1.0) and perfect.coverage90 is None
    assert perfect.overall.n_flows > 0 and perfect.noise_scale > 0

    def invert(frame):
        frame["delay_s"] = 1.0 / frame["delay_s"]
        return frame

    inverted = score_twin(LookupTwin(tiny_suite, invert), tiny_suite)
    assert inverted.overall.sign_agreement == 0.0 and inverted.overall.delta_corr == pytest.approx(-1.0)
    assert grade(inverted) == "Weak" and grade(perfect) == "Excellent"


def test_cli_validate_with_qt_writes_a_grade(tmp_path, validate_qt):
    gml = tmp_path / "net.gml"
    write_gml(
        Topology.from_edges(5, [(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (3, 4, 1.0), (4, 0, 1.0), (0, 2, 1.0)]), gml
    )
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    result = validate_qt(gml, 400, "--json", "--out", str(model_dir), "--reference-packets", "0")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["coverage_reference"] == {"runs": "suite", "packets_per_flow": 400}
    assert {"sign_agreement", "delta_corr", "delta_mae", "coverage90", "grade", "by_perturbation"} <= set(scores)
    assert scores["grade"] in GRADES and scores["coverage90"] is None
    assert set(scores["by_perturbation"]) == set(PERTURBATION_KINDS)
    assert scores["by_perturbation"]["traffic_scale"]["delta_corr"] > 0.5  # more traffic, more delay where it queues
    assert read_grade(model_dir)["grade"] == scores["grade"]
    table = validate_qt(gml, 100)
    assert table.exit_code == 0 and "link_failure" in table.output
    bad = runner.invoke(app, ["whatif", "validate", "--topology", str(tmp_path / "none.gml"), "--model", "qt"])
    assert bad.exit_code == 2 and "none.gml" in bad.output
    nowhere = tmp_path / "no-model"  # refused before the suite is simulated, not after
    bad = runner.invoke(app, ["whatif", "validate", "--topology", str(gml), "--model", "qt", "--out", str(nowhere)])
    assert bad.exit_code == 2 and "--out: expected an existing model directory" in " ".join(bad.output.split())


@pytest.mark.slow
def test_cli_validate_default_model_on_abilene():
    path = resources.files("ndtwin") / "resources" / "Abilene.graphml"
    with resources.as_file(path) as file:
        result = runner.invoke(
            app,
            [
                "whatif",
                "validate",
                "--topology",
                str(file),
                "--json",
                "--per-type",
                "1",
                "--loads",
                "0.5,0.8",
                "--packets",
                "400",
            ],
        )
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["model"] == "gnn:default"
    assert scores["sign_agreement"] >= 0.9 and scores["delta_corr"] >= 0.8
    assert scores["coverage90"] is not None and 0.7 <= scores["coverage90"] <= 1.0
    assert scores["coverage_reference"] == {"runs": "reference", "packets_per_flow": 1600}
