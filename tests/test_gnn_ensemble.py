"""GNN deep ensembles: members trained side by side, saved as an ensemble directory, predictions averaged."""

import json

import pandas as pd
import pytest

pytest.importorskip("torch")

from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.data.native import write_dataset
from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.gnn import EnsembleTwin, GnnTwin, load_gnn_twin
from ndtwin.gnn.ensemble import ENSEMBLE_FILE, member_dirs
from ndtwin.gnn.ensemble_train import train_ensemble_to_directory
from ndtwin.gnn.modeldir import load_model
from ndtwin.gnn.train import TrainConfig
from ndtwin.twin.catalog import load_twin
from test_gnn import labelled, ring

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("ensemble") / "data"
    write_dataset([labelled(ring(5 + i % 2, seed=i, sp=i % 2 == 1), str(i)) for i in range(6)], path)
    return path


@pytest.fixture(scope="module")
def ensemble(dataset):
    out = dataset.parent / "ens"
    config = TrainConfig(epochs=2, batch_size=3, val_fraction=0.3, seed=7)
    results, report = train_ensemble_to_directory(
        [dataset], out, config, 2, architecture={"hidden": 8, "iterations": 2}, command="test"
    )
    assert [len(r.history) for r in results] == [2, 2] and report.errors == []
    return out


def test_members_have_their_own_seeds_and_the_ensemble_averages_them(ensemble, dataset):
    members = member_dirs(ensemble)
    assert [load_model(m).provenance["seed"] for m in members] == [7, 8]
    twin = load_twin(str(ensemble))
    assert isinstance(twin, EnsembleTwin) and twin.model_dir == ensemble
    scenario = labelled(ring(6, seed=11), "x").scenario
    alone = [GnnTwin.load(m).predict(scenario) for m in members]
    assert not alone[0].equals(alone[1])
    pd.testing.assert_frame_equal(twin.predict(scenario), (alone[0] + alone[1]) / 2)
    assert json.loads((ensemble / ENSEMBLE_FILE).read_text())["provenance"]["seeds"] == [7, 8]


def test_warm_start_needs_an_ensemble_of_as_many_members(ensemble, dataset, tmp_path):
    config = TrainConfig(epochs=1, batch_size=3, val_fraction=0.3)
    with pytest.raises(ScenarioError, match="--warm-start: expected an ensemble directory of 3 members"):
        train_ensemble_to_directory([dataset], tmp_path / "e3", config, 3, warm_start=ensemble)
    train_ensemble_to_directory([dataset], tmp_path / "again", config, 2, warm_start=ensemble)
    again = member_dirs(tmp_path / "again")
    assert load_model(again[1]).provenance["warm_start_from"] == str(member_dirs(ensemble)[1].resolve())


def test_broken_ensembles_and_occupied_folders_are_refused(ensemble, dataset, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / ENSEMBLE_FILE).write_text(json.dumps({"format": "ndtwin-gnn-ensemble", "members": ["member-0"]}))
    with pytest.raises(DatasetError, match="ensemble.json: member folder\\(s\\) member-0 are not model directories"):
        load_gnn_twin(broken)
    (broken / ENSEMBLE_FILE).write_text("[1, 2]")
    with pytest.raises(DatasetError, match="ensemble.json: expected a JSON object of format 'ndtwin-gnn-ensemble'"):
        member_dirs(broken)
    with pytest.raises(DatasetError, match="not an empty folder or an ensemble directory"):
        train_ensemble_to_directory([dataset], dataset, TrainConfig(epochs=1), 2)
    with pytest.raises(ScenarioError, match="--members: expected an integer >= 1"):
        train_ensemble_to_directory([dataset], tmp_path / "none", TrainConfig(epochs=1), 0)


def test_cli_trains_and_evaluates_an_ensemble(dataset, tmp_path):
    out = tmp_path / "cli"
    trained = runner.invoke(
        app,
        [
            "train",
            str(dataset),
            "--out",
            str(out),
            "--members",
            "2",
            "--epochs",
            "1",
            "--hidden",
            "8",
            "--iterations",
            "2",
            "--val-fraction",
            "0.3",
        ],
    )
    assert trained.exit_code == 0, trained.output
    assert "member 1: best epoch 1 of 1" in trained.output and len(member_dirs(out)) == 2
    evaluated = runner.invoke(app, ["eval", "--model", str(out), str(dataset), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["n_samples"] == 6
