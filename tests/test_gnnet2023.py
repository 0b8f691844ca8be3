"""GNNet Challenge 2023 testbed folds: counts, units, paths and labels of the real data, errors, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ndtwin.cli.main import app
from ndtwin.data.gnnet2023 import CONNECTOR_BPS, is_gnnet2023_fold, read_gnnet2023
from ndtwin.data.load import dataset_kind, open_samples
from ndtwin.errors import DatasetError
from ndtwin.scenario import TimeKind
from ndtwin.scenario.generate import link_loads_bps

runner = CliRunner()

# dataset, fold, samples, flows, median delay in ms (from the dataset's README)
README_FOLDS = [("cbr_mb", 3, 823, 62766, 1.057), ("mb", 0, 878, 33676, 3.754)]


@pytest.fixture(scope="module")
def gnnet2023(shared_data: Path) -> Path:
    root = shared_data / "gnnet2023"
    if not root.is_dir():
        pytest.skip(f"no GNNet 2023 data at {root}")
    return root


@pytest.fixture
def small_fold(gnnet2023: Path, tmp_path: Path) -> Path:
    """The first 10 samples of cbr_mb/fold3, copied to ``tmp_path/cbr_mb/fold3``."""
    source, fold = gnnet2023 / "cbr_mb" / "fold3", tmp_path / "cbr_mb" / "fold3"
    fold.mkdir(parents=True)
    flows = pd.read_parquet(source / "flows.parquet")
    keep = np.sort(flows["sample_id"].unique())[:10]
    flows[flows["sample_id"].isin(keep)].to_parquet(fold / "flows.parquet")
    links = pd.read_parquet(source / "links.parquet")
    links[links["sample_id"].isin(keep)].to_parquet(fold / "links.parquet")
    return fold


def _rewrite(fold: Path, name: str, change) -> None:
    frame = pd.read_parquet(fold / name)
    change(frame).to_parquet(fold / name)


@pytest.mark.parametrize("dataset, fold, n_samples, n_flows, median_ms", README_FOLDS)
def test_whole_folds_match_the_readme(gnnet2023, dataset, fold, n_samples, n_flows, median_ms):
    path = gnnet2023 / dataset / f"fold{fold}"
    assert dataset_kind(path) == "gnnet2023"
    samples = list(open_samples(path))
    assert len(samples) == n_samples
    assert sum(s.scenario.n_flows for s in samples) == n_flows
    ids = [s.meta["gnnet_id"] for s in samples]
    assert ids == sorted(ids) and samples[0].sample_id == f"{dataset}/fold{fold}/{ids[0]}"
    delays = np.concatenate([s.flow_labels["delay_s"].to_numpy() for s in samples])
    assert np.median(delays) == pytest.approx(median_ms / 1000, rel=1e-3)  # labels in seconds
    counts = pd.DataFrame([s.meta["flow_type_counts"] for s in samples]).fillna(0).sum()
    assert counts.sum() == n_flows and (dataset == "mb") == ("CBR" not in counts)
    capacities = np.concatenate([s.scenario.topology.capacity_bps[: s.meta["n_testbed_links"]] for s in samples])
    assert set(np.unique(capacities)) == {1e9, 1e10, 8e10}


def test_scenario_carries_every_path_and_link_load(small_fold):
    flows = pd.read_parquet(small_fold / "flows.parquet").sort_values(["sample_id", "flow_id"])
    links = pd.read_parquet(small_fold / "links.parquet").sort_values(["sample_id", "link_id"])
    samples = list(read_gnnet2023(small_fold))
    assert len(samples) == 10 and sum(len(s.meta["replica_of"]) for s in samples) > 0
    for sample in samples:
        rows = flows[flows["sample_id"] == sample.meta["gnnet_id"]]
        scenario, n_testbed = sample.scenario, sample.meta["n_testbed_links"]
        testbed_id = list(range(n_testbed)) + sample.meta["replica_of"]  # data link -> testbed link id
        n_data, topology = len(testbed_id), scenario.topology
        hops = scenario.hops
        for i, path in enumerate(rows["path_links"]):
            on_flow = hops.link[hops.flow_offset[i] : hops.flow_offset[i + 1]]
            assert [testbed_id[lk] for lk in on_flow if lk < n_data] == path.tolist()
        assert np.all(topology.capacity_bps[n_data:] == CONNECTOR_BPS)
        assert np.all(topology.capacity_bps[n_testbed:n_data] == topology.capacity_bps[testbed_id[n_testbed:n_data]])
        load = np.bincount(testbed_id, weights=link_loads_bps(scenario)[:n_data], minlength=n_testbed)
        expected = links[links["sample_id"] == sample.meta["gnnet_id"]]["offered_traffic_bps"].to_numpy()
        np.testing.assert_allclose(load, expected, rtol=1e-12)
        labels = sample.flow_labels
        np.testing.assert_array_equal(labels["delay_s"], rows["delay_s"])
        assert labels["loss"].isna().all() and labels["delay_var_s2"].isna().all()
        kinds = [flow.time.kind for flow in scenario.traffic.flows]
        assert kinds == [TimeKind.CBR if t == "CBR" else TimeKind.POISSON for t in sample.meta["flow_type"]]
        assert sample.meta["source"].endswith(f"fold3/flows.parquet:{sample.meta['gnnet_id']}")


def test_missing_column_names_file_and_column(small_fold):
    _rewrite(small_fold, "links.parquet", lambda f: f.drop(columns=["capacity_bps"]))
    assert is_gnnet2023_fold(small_fold)
    with pytest.raises(DatasetError, match=r"links\.parquet: missing column\(s\) capacity_bps"):
        next(read_gnnet2023(small_fold))


def test_two_paths_for_one_pair_are_refused(small_fold):
    def reroute(frame: pd.DataFrame) -> pd.DataFrame:
        first = frame.index[(frame["sample_id"] == frame["sample_id"].iloc[0]) & (frame["flow_type"] == "MB")][0]
        frame.at[first, "path_links"] = frame.at[first, "path_links"][:-1]
        return frame

    _rewrite(small_fold, "flows.parquet", reroute)
    with pytest.raises(DatasetError, match="take different paths"):
        list(read_gnnet2023(small_fold))


@pytest.mark.parametrize(
    "column, value, message",
    [("path_links", np.array([999]), "link ids < "), ("delay_s", -1.0, "column delay_s: expected finite values > 0")],
)
def test_bad_values_are_named(small_fold, column, value, message):
    def spoil(frame: pd.DataFrame) -> pd.DataFrame:
        values = list(frame[column])
        values[0] = value
        return frame.assign(**{column: values})

    _rewrite(small_fold, "flows.parquet", spoil)
    with pytest.raises(DatasetError, match=message) as error:
        list(read_gnnet2023(small_fold))
    assert error.value.path.name == "flows.parquet"


def test_cli_eval_reports_delay_only(small_fold):
    result = runner.invoke(app, ["eval", "--model", "qt", str(small_fold), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_samples"] == 10 and "jitter" not in report and "loss" not in report
    assert 0 < report["delay"]["mape"] < 1000
    table = runner.invoke(app, ["eval", "--model", "qt", str(small_fold)])
    assert table.exit_code == 0 and "delay" in table.output and "jitter" not in table.output
    info = json.loads(runner.invoke(app, ["info", str(small_fold), "--json"]).stdout)
    assert info["n_samples"] == 10
