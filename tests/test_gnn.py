"""The GNN twin: features, readout structure, permutation consistency, training, model directories, CLI."""

import itertools
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.data.datanet import ReadReport
from ndtwin.data.load import open_samples
from ndtwin.data.native import write_dataset
from ndtwin.data.sample import Sample
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.gnn import GnnTwin, ModelConfig, RouteNetLike
from ndtwin.gnn.features import (
    FLOW_FEATURES,
    LINK_FEATURES,
    QUEUE_FEATURES,
    collate,
    featurize,
)
from ndtwin.gnn.modeldir import load_model
from ndtwin.gnn.normalize import Normalizer
from ndtwin.gnn.pipeline import start_model, train_to_directory
from ndtwin.gnn.train import TrainConfig, example_of, fit
from ndtwin.scenario import (
    PortConfig,
    Scenario,
    Scheduling,
    TimeDistribution,
    Topology,
    Traffic,
)
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.scenario.similarity import rescaled
from ndtwin.twin import catalog
from ndtwin.twin.qt import LEGACY_READING, QueueingTheoryTwin, QueueReading

SMALL = ModelConfig(hidden=8, iterations=2)
runner = CliRunner()


def ring(n: int, seed: int, *, sp: bool = False) -> Scenario:
    """An n-node ring with chords; ``sp``: 3-queue strict-priority bit buffers and ON/OFF traffic."""
    edges = [(i, (i + 1) % n, 1e6 * (1 + i % 3)) for i in range(n)] + [(0, n // 2, 2e6)]
    port = PortConfig(Scheduling.SP, (16000.0, 16000.0, 32000.0), "bits", None, (0, 1, 2)) if sp else PortConfig()
    time = TimeDistribution.on_off(0.5, 1.0) if sp else None
    return all_pairs_scenario(
        Topology.from_edges(n, edges, prop_delay_s=1e-3, port=port), max_utilization=0.8, seed=seed, time=time
    )


def labelled(scenario: Scenario, sample_id: str) -> Sample:
    """A sample labelled by the queueing-theory twin (a cheap, deterministic stand-in for simulation)."""
    return Sample(scenario, QueueingTheoryTwin().predict(scenario), meta={"sample_id": sample_id})


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return [labelled(ring(5 + i % 2, seed=i, sp=i % 2 == 1), str(i)) for i in range(6)]


def test_feature_shapes_hop_order_and_normalization(samples):
    graphs = [featurize(s.scenario) for s in samples]
    scenario, graph = samples[1].scenario, graphs[1]
    n_hops = len(scenario.hops.flow)
    assert graph.flow_x.shape == (scenario.n_flows, len(FLOW_FEATURES))
    assert graph.queue_x.shape == (len(scenario.queues.link), len(QUEUE_FEATURES))
    assert graph.link_x.shape == (scenario.topology.n_links, len(LINK_FEATURES))
    assert graph.hop_flow.shape == graph.hop_tx_s.shape == (n_hops,)
    assert torch.all(torch.isfinite(graph.flow_x)) and torch.all(torch.isfinite(graph.queue_x))
    batch = collate(graphs[:3])
    assert batch.n_flows == sum(s.scenario.n_flows for s in samples[:3])
    assert torch.all(batch.hop_position[1:] >= batch.hop_position[:-1])
    for hops in batch.position_slices():  # active paths at every position are a prefix of path_order
        assert torch.equal(batch.hop_flow[hops], batch.path_order[: hops.stop - hops.start])
    assert int(batch.hop_queue.max()) < batch.queue_x.shape[0] and int(batch.queue_link.max()) < batch.link_x.shape[0]

    normalizer = Normalizer.fit(graphs[:4])
    scaled = normalizer.apply(collate(graphs[:4]))
    varying = scaled.queue_x.std(0, unbiased=False) > 0.5
    assert torch.allclose(scaled.queue_x.mean(0), torch.zeros(len(QUEUE_FEATURES)), atol=1e-4)
    assert torch.allclose(scaled.queue_x.std(0, unbiased=False)[varying], torch.ones(int(varying.sum())), atol=1e-3)
    assert normalizer.std["flow_x"][FLOW_FEATURES.index("time_other")] == 1.0  # constant: only centred
    assert Normalizer.from_json(json.loads(json.dumps(normalizer.to_json())), "n.json") == normalizer
    with pytest.raises(DatasetError, match="flow_x"):
        Normalizer.from_json({"flow_x": {"features": ["rate"]}}, "n.json")


def test_gnnet_buffers_in_packets_become_bits(shared_data):
    sample = next(iter(open_samples(shared_data / "gnnet/2021/validation")))
    graph = featurize(sample.scenario)
    buffer_bits = graph.queue_x[:, QUEUE_FEATURES.index("log_buffer_bits")].exp()
    buffer_pkts = graph.queue_x[:, QUEUE_FEATURES.index("log1p_buffer_pkts")].expm1()
    assert torch.allclose(buffer_pkts, torch.full_like(buffer_pkts, 32.0), rtol=1e-4)
    assert torch.all((buffer_bits > 32 * 300) & (buffer_bits < 32 * 1700))
    pred = GnnTwin(RouteNetLike(SMALL), Normalizer.fit([graph])).predict(sample.scenario)
    assert len(pred) == sample.scenario.n_flows and np.all(np.isfinite(pred.to_numpy()))


def test_readouts_are_sums_of_per_hop_terms(samples):
    graph = featurize(samples[1].scenario)
    out = RouteNetLike(ModelConfig(hidden=8, iterations=2, moe=True, attention=True))(graph)

    def per_flow(v):
        return torch.zeros(graph.n_flows).index_add(0, graph.hop_flow, v)

    assert torch.allclose(out["delay"], per_flow(out["hop_delay"]))
    assert torch.allclose(out["jitter"], per_flow(out["hop_jitter"]))
    assert torch.allclose(out["loss"], -torch.expm1(per_flow(out["hop_log_keep"])))
    assert torch.all(out["hop_delay"] > graph.hop_tx_s + graph.hop_prop_s)
    assert torch.all((out["loss"] >= 0) & (out["loss"] <= 1)) and torch.all(out["jitter"] > 0)


def test_reordering_flows_reorders_predictions(samples):
    scenario = samples[1].scenario
    order = np.random.default_rng(0).permutation(scenario.n_flows)
    shuffled = Scenario(scenario.topology, scenario.routing, Traffic(tuple(scenario.traffic.flows[i] for i in order)))
    graph = featurize(scenario)
    twin = GnnTwin(RouteNetLike(ModelConfig(hidden=8, iterations=3, attention=True)), Normalizer.fit([graph]))
    direct, permuted = twin.predict(scenario), twin.predict(shuffled)
    np.testing.assert_allclose(permuted.to_numpy(), direct.to_numpy()[order], rtol=1e-4)


def test_switches_change_the_parameter_set():
    names = {
        (moe, attention): {
            n for n, _ in RouteNetLike(ModelConfig(hidden=8, moe=moe, attention=attention)).named_parameters()
        }
        for moe, attention in itertools.product((False, True), repeat=2)
    }
    assert any(n.startswith("readout.experts") for n in names[(True, False)])
    assert not any(n.startswith("readout.experts") for n in names[(False, False)])
    assert names[(False, True)] - names[(False, False)] == {"attend_path.weight", "attend_queue.weight"}
    with pytest.raises(ScenarioError, match="top_k"):
        ModelConfig(experts=2, top_k=3)


def test_short_training_lowers_the_training_loss(samples):
    torch.set_num_threads(1)
    examples = [example_of(s) for s in samples]
    torch.manual_seed(0)
    model = RouteNetLike(SMALL)
    config = TrainConfig(epochs=16, batch_size=2, lr=1e-2, loss="logmse", patience=50)
    result = fit(model, examples[:4], examples[4:], Normalizer.fit([e.graph for e in examples[:4]]), config)
    losses = [log.train_objective for log in result.history]
    assert len(losses) == 16 and losses[-1] < 0.5 * losses[0]
    assert result.best_val_objective == min(log.val_objective for log in result.history)


def test_save_load_round_trip_and_warm_start(samples, tmp_path):
    examples = [example_of(s) for s in samples]
    config = TrainConfig(epochs=2, batch_size=3, val_fraction=0.3)
    architecture = {"hidden": 8, "iterations": 2, "moe": True}
    common = {"data": [tmp_path / "data"], "report": ReadReport(), "architecture": architecture}
    result = train_to_directory(examples, tmp_path / "m", config, command="test", **common)
    saved = load_model(tmp_path / "m")
    assert saved.provenance["n_train_samples"] == 4 and saved.provenance["n_val_samples"] == 2
    assert saved.metrics["best_epoch"] == result.best_epoch and saved.training["epochs"] == 2
    twin, again = GnnTwin.load(tmp_path / "m"), GnnTwin.load(tmp_path / "m")
    assert twin.predict(samples[0].scenario).equals(again.predict(samples[0].scenario))

    model, normalizer = start_model({"moe": True}, tmp_path / "m", seed=5)
    for name, value in saved.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], value)
    assert normalizer == saved.normalizer
    with pytest.raises(ScenarioError, match="--hidden: expected the warm-start model's value 8"):
        start_model({"hidden": 16}, tmp_path / "m", seed=0)
    train_to_directory(examples, tmp_path / "m2", config, warm_start=tmp_path / "m", **common)
    assert load_model(tmp_path / "m2").provenance["warm_start_from"] == str((tmp_path / "m").resolve())
    with pytest.raises(DatasetError, match="missing weights.safetensors"):
        load_model(tmp_path)
    faster = [example_of(labelled(rescaled(s.scenario, speed_factor=1e5), s.sample_id)) for s in samples]
    with pytest.raises(ScenarioError, match=r"--warm-start: .*\(4 of 4 training samples lie more than 3 standard"):
        train_to_directory(faster, tmp_path / "m3", config, warm_start=tmp_path / "m", **common)
    assert not (tmp_path / "m3").exists()


def test_cli_train_eval_predict(samples, tmp_path, monkeypatch):
    write_dataset(samples, tmp_path / "data")
    model = tmp_path / "model"
    trained = runner.invoke(
        app,
        [
            "train",
            str(tmp_path / "data"),
            "--out",
            str(model),
            "--epochs",
            "2",
            "--hidden",
            "8",
            "--iterations",
            "2",
            "--val-fraction",
            "0.3",
            "--attention",
        ],
    )
    assert trained.exit_code == 0, trained.output
    assert "saved" in trained.output and json.loads((model / "config.json").read_text())["model"]["attention"]

    evaluated = runner.invoke(app, ["eval", "--model", str(model), str(tmp_path / "data"), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.stdout)
    assert report["n_samples"] == 6 and report["model"] == "gnn:model" and report["delay"]["mape"] > 0

    csv = runner.invoke(app, ["predict", "--model", str(model), str(tmp_path / "data"), "--format", "csv"])
    assert csv.exit_code == 0, csv.output
    lines = csv.stdout.strip().splitlines()
    assert lines[0].split(",")[-3:] == ["delay_s", "delay_var_s2", "loss"]
    assert len(lines) == 1 + sum(s.scenario.n_flows for s in samples)
    as_json = json.loads(runner.invoke(app, ["predict", "-m", str(model), str(tmp_path / "data"), "-f", "json"]).stdout)
    assert [len(s["flows"]) for s in as_json["samples"]] == [s.scenario.n_flows for s in samples]

    monkeypatch.setattr(catalog, "SHIPPED_MODELS", tmp_path / "no-models")
    not_shipped = runner.invoke(app, ["eval", "--model", "default", str(tmp_path / "data")])
    assert not_shipped.exit_code == 2 and "not shipped" in not_shipped.output
    taken = runner.invoke(app, ["train", str(tmp_path / "data"), "--out", str(tmp_path / "data")])
    assert taken.exit_code == 2 and "choose another --out" in taken.output


def test_networks_far_from_the_training_scale_are_predicted_by_similarity(samples):
    """Out of the training range, 10x faster links give 10x shorter predicted delays (100x smaller variances)."""
    scenario = samples[1].scenario
    normalizer = Normalizer.fit([featurize(s.scenario) for s in samples])
    twin = GnnTwin(RouteNetLike(SMALL), normalizer)
    assert twin.scale_factors(scenario) == (1.0, 1.0)
    fast = twin.predict(rescaled(scenario, size_factor=8.0, speed_factor=1e5))
    faster = twin.predict(rescaled(scenario, size_factor=8.0, speed_factor=1e6))
    np.testing.assert_allclose(faster["delay_s"] * 10, fast["delay_s"], rtol=1e-4)
    np.testing.assert_allclose(faster["delay_var_s2"] * 100, fast["delay_var_s2"], rtol=1e-3)
    np.testing.assert_allclose(faster["loss"], fast["loss"], rtol=1e-4, atol=1e-9)


def test_shipped_default_model_predicts_every_flow(samples):
    twin = catalog.load_twin("default")
    prediction = twin.predict(samples[1].scenario)
    assert len(prediction) == samples[1].scenario.n_flows
    assert (prediction["delay_s"] > 0).all() and prediction["loss"].between(0, 1).all()


def test_propagation_far_beyond_the_training_range_only_adds_its_delay(samples):
    """Beyond the training range the propagation input is held at its bound: the queueing and transmission part of
    the prediction stays the same and the propagation delay is added exactly."""
    torch.manual_seed(0)
    twin = GnnTwin(RouteNetLike(SMALL), Normalizer.fit([featurize(s.scenario) for s in samples]))
    n = 6
    edges = [(i, (i + 1) % n, 1e6 * (1 + i % 3)) for i in range(n)] + [(0, n // 2, 2e6)]

    def with_propagation(seconds: float) -> tuple[Scenario, np.ndarray]:
        topology = Topology.from_edges(n, edges, prop_delay_s=seconds)
        scenario = all_pairs_scenario(topology, max_utilization=0.8, seed=3)
        return scenario, np.diff(scenario.hops.flow_offset) * seconds

    (near, near_prop), (far, far_prop), (farther, farther_prop) = (with_propagation(s) for s in (1e-3, 2.0, 4.0))
    rest = [
        twin.predict(s)["delay_s"].to_numpy() - p
        for s, p in ((near, near_prop), (far, far_prop), (farther, farther_prop))
    ]
    np.testing.assert_allclose(rest[2], rest[1], rtol=2e-4)  # float32 sums of seconds-long delays (unclamped: 1e-3)
    assert not np.allclose(rest[0], rest[1], rtol=1e-3)  # within the range the input is used as it is


def test_models_saved_before_the_current_reading_keep_their_inputs(samples, tmp_path):
    examples = [example_of(s) for s in samples]
    config = TrainConfig(epochs=1, batch_size=3, val_fraction=0.3)
    common = {"data": [tmp_path / "data"], "report": ReadReport(), "architecture": {"hidden": 8, "iterations": 2}}
    train_to_directory(examples, tmp_path / "m", config, command="test", **common)
    assert load_model(tmp_path / "m").model.config.queue_reading == QueueReading()
    manifest = json.loads((tmp_path / "m" / "config.json").read_text())
    del manifest["model"]["fair_share"], manifest["model"]["transmission_in_buffer"]  # as written before
    (tmp_path / "m" / "config.json").write_text(json.dumps(manifest))
    assert load_model(tmp_path / "m").model.config.queue_reading == LEGACY_READING
    model, _ = start_model({}, tmp_path / "m", seed=0)
    assert model.config.queue_reading == QueueReading()  # a warm start trains on the current reading
    assert catalog.load_twin("default").model.config.queue_reading == LEGACY_READING
    with pytest.raises(ScenarioError, match="model.fair_share"):
        ModelConfig(fair_share="demand")
    with pytest.raises(ScenarioError, match="model.transmission_in_buffer"):
        ModelConfig(transmission_in_buffer="yes")
