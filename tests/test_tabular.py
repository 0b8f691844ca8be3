import json
import warnings

import numpy as np
import pytest

from ndtwin.data.metrics import mape
from ndtwin.errors import DatasetError
from ndtwin.generate import GenerationSpec, generate_sample
from ndtwin.scenario import Flow, PacketSizeDistribution, PortConfig, Scenario, Scheduling, Topology, Traffic
from ndtwin.scenario.bounds import flow_bounds
from ndtwin.tabular import FEATURES, TabularTwin, fit_tabular, flow_features
from ndtwin.tabular.models import MANIFEST
from ndtwin.twin.base import PREDICTED_COLUMNS, Twin
from ndtwin.twin.catalog import load_twin
from ndtwin.twin.qt import QueueingTheoryTwin

SIZE = PacketSizeDistribution.fixed(1000.0)


def line_scenario(port: PortConfig = PortConfig()) -> Scenario:
    """0 → 1 → 2 at 100 kbit/s, 1 ms propagation per link: flow 0 (0→2, 50 kbit/s, ToS 0), flow 1 (1→2, 25 kbit/s, ToS 1)."""
    topology = Topology.from_edges(3, [(0, 1, 1e5), (1, 2, 1e5)], prop_delay_s=1e-3, port=port)
    traffic = Traffic((Flow(0, 2, 5e4, tos=0, size=SIZE), Flow(1, 2, 2.5e4, tos=1, size=SIZE)))
    return Scenario.with_shortest_paths(topology, traffic)


def test_features_of_a_hand_checked_line():
    features = flow_features(line_scenario())
    first = features.iloc[0]
    # Link 0→1 carries 50 kbit/s (ρ 0.5), link 1→2 75 kbit/s (ρ 0.75); a packet takes 10 ms on either.
    assert first["n_hops"] == 2 and features.iloc[1]["n_hops"] == 1
    assert first["util_sum"] == pytest.approx(1.25) and first["util_max"] == pytest.approx(0.75)
    assert first["pressure_sum"] == pytest.approx(1.0 + 3.0) and first["pressure_max"] == pytest.approx(3.0)
    mm1 = np.exp(features["log_mm1_ratio"]) * features["reference_delay_s"]
    assert mm1.iloc[0] == pytest.approx(2e-3 + 0.01 * 2 + 0.01 * 4)
    assert mm1.iloc[1] == pytest.approx(1e-3 + 0.01 * 4)
    # The reference is the queueing-theory twin's delay.
    np.testing.assert_allclose(features["reference_delay_s"], QueueingTheoryTwin().predict(line_scenario())["delay_s"])
    assert first["prop_share"] == pytest.approx(2e-3 / first["reference_delay_s"])
    assert first["rate_share"] == pytest.approx(0.5) and first["excess_load_sum"] == 0
    assert first["log_min_buffer_pkts"] == pytest.approx(np.log1p(32))
    assert list(features.columns[: len(FEATURES)]) == list(FEATURES)


def test_strict_priority_queues_see_only_the_load_above_them():
    port = PortConfig(Scheduling.SP, buffers=(16000.0, 16000.0), buffer_unit="bits", tos_to_queue=(0, 1, 1))
    features = flow_features(line_scenario(port))
    # On link 1→2 the ToS-0 flow (queue 0) only waits for its own 50 kbit/s; the ToS-1 flow waits for both.
    assert features.iloc[0]["queue_util_max"] == pytest.approx(0.5)
    assert features.iloc[1]["queue_util_max"] == pytest.approx(0.75)
    assert features.iloc[0]["sp_hops_share"] == 1.0
    assert features.iloc[0]["log_min_buffer_pkts"] == pytest.approx(np.log1p(16))


@pytest.fixture(scope="module")
def samples():
    spec = GenerationSpec(topologies=("powerlaw:6-8",), intensity=(0.3, 0.7), packets_per_flow=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [generate_sample(spec, 0, i) for i in range(10)]


@pytest.mark.parametrize("kind", ["xgboost", "dnn"])
def test_fit_save_load_round_trip_and_twin_interface(samples, kind, tmp_path):
    train, held_out = samples[:8], samples[8:]
    model = fit_tabular(train, kind, epochs=60, trees=80, seed=0)
    assert isinstance(model, Twin)
    path = model.save(tmp_path / kind)
    loaded = load_twin(str(path))
    assert isinstance(loaded, TabularTwin) and loaded.kind == kind
    for sample in held_out:
        before, after = model.predict(sample.scenario), loaded.predict(sample.scenario)
        assert list(after.columns) == list(PREDICTED_COLUMNS) and len(after) == sample.scenario.n_flows
        np.testing.assert_allclose(after.to_numpy(), before.to_numpy(), rtol=1e-5)
        assert ((after["loss"] >= 0) & (after["loss"] <= 1)).all() and (after["delay_s"] > 0).all()
    # Held-out flows: better than predicting every flow at the training set's mean delay.
    truth = np.concatenate([s.flow_labels["delay_s"].to_numpy() for s in held_out])
    predicted = np.concatenate([model.predict(s.scenario)["delay_s"].to_numpy() for s in held_out])
    constant = np.full_like(truth, np.mean([s.flow_labels["delay_s"].mean() for s in train]))
    assert mape(truth, predicted) < 0.5 * mape(truth, constant)
    assert json.loads((path / MANIFEST).read_text())["record"]["samples"] == 8


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match=MANIFEST):
        TabularTwin.load(tmp_path)
    (tmp_path / MANIFEST).write_text(
        json.dumps({"format": "ndtwin-tabular", "kind": "xgboost", "features": list(FEATURES)})
    )
    with pytest.raises(DatasetError, match="delay.json"):
        TabularTwin.load(tmp_path)
    (tmp_path / MANIFEST).write_text(
        json.dumps({"format": "ndtwin-tabular", "kind": "forest", "features": list(FEATURES)})
    )
    with pytest.raises(DatasetError, match="kind"):
        TabularTwin.load(tmp_path)


def test_predictions_stay_within_the_training_targets_range(samples):
    model = fit_tabular(samples[:4], "dnn", epochs=20, seed=1)
    # Far beyond the training loads: every flow's predicted delay is at most the largest training correction.
    overloaded = samples[8].scenario
    overloaded = Scenario(overloaded.topology, overloaded.routing, overloaded.traffic.scaled(5.0))
    predicted = model.predict(overloaded)
    reference = flow_features(overloaded)["reference_delay_s"].to_numpy()
    low, high = model.target_range["log_delay_ratio"]
    assert (np.log(predicted["delay_s"].to_numpy() / reference) <= high + 1e-9).all()
    assert (np.log(predicted["delay_s"].to_numpy() / reference) >= low - 1e-9).all()
    assert np.isfinite(predicted.to_numpy()).all()


def test_a_tabular_model_directory_serves_the_command_line(samples, tmp_path):
    from typer.testing import CliRunner

    from ndtwin.cli.main import app
    from ndtwin.data.topology_io import write_gml

    model_dir = fit_tabular(samples[:4], "xgboost", trees=30).save(tmp_path / "xgb")
    topology = tmp_path / "ring.gml"
    write_gml(Topology.from_edges(4, [(0, 1, 1e5), (1, 2, 1e5), (2, 3, 1e5), (3, 0, 1e5)]), topology)
    result = CliRunner().invoke(app, ["optimize", "failures", str(topology), "--model", str(model_dir), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model"] == "tabular:xgb" and len(report["failures"]) == 4


def test_predictions_stay_within_the_physical_bounds(samples):
    model = fit_tabular(samples[:4], "dnn", epochs=20, seed=1)
    for target in ("log_delay_ratio", "log_jitter_ratio"):
        model.target_range[target] = (10.0, 10.0)  # whatever the network outputs: 22,026× the reference
    scenario = samples[8].scenario
    physical = flow_bounds(scenario)
    reference = flow_features(scenario)["reference_delay_s"].to_numpy()
    assert (reference * np.exp(10.0) > physical.delay_s).all()  # every flow is held by its bound
    predicted = model.predict(scenario)
    assert predicted["delay_s"].to_numpy() == pytest.approx(physical.delay_s, rel=1e-12)
    assert (predicted["delay_var_s2"].to_numpy() <= physical.delay_var_s2 * (1 + 1e-12)).all()
