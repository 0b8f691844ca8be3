"""Reader of the robust-ndt measurement data: stream order, concept boundaries, initial data, clear errors."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ndtwin.data.robust_ndt import WINDOW_COLUMNS, read_replay
from ndtwin.errors import DatasetError


@pytest.fixture(scope="module")
def crosshaul(shared_data: Path):
    return read_replay(shared_data / "robust_ndt" / "delay_app_database" / "5g_crosshaul")


def test_stream_follows_the_papers_order_and_boundaries(crosshaul):
    assert crosshaul.concept_starts == (0, 68, 131, 194, 251)
    assert crosshaul.patterns == ("exponential", "poisson", "uniform", "deterministic")
    windows = crosshaul.windows
    assert len(windows) == 251 * 100
    assert np.array_equal(np.unique(windows["step"]), np.arange(251))
    assert (windows.groupby("step")["window_idx"].apply(lambda s: list(s) == list(range(100)))).all()
    assert list(windows.groupby("step")["experiment"].first().iloc[[0, 68, 131, 194, 250]]) == [100, 101, 102, 104, 104]
    assert crosshaul.has_budget
    assert len(crosshaul.initial_training) == 1214 * 100
    assert set(crosshaul.initial_training["experiment"]) == {100}


def test_concept_of_step_and_truncation(crosshaul):
    assert list(crosshaul.concept_of_step(np.array([0, 67, 68, 193, 194, 250]))) == [0, 0, 1, 2, 3, 3]
    short = crosshaul.truncated(2)
    assert short.concept_starts == (0, 2, 4, 6, 8)
    assert list(short.windows.groupby("step")["experiment"].first()) == [100, 100, 101, 101, 102, 102, 104, 104]


def _write_topology(folder: Path, columns_dropped: tuple[str, ...] = ()) -> None:
    for experiment in (100, 101):
        frame = pd.DataFrame({column: np.ones(100) for column in WINDOW_COLUMNS})
        frame["experiment"] = experiment
        frame["traffic_pattern"] = "poisson"
        frame["element_idx"] = 0
        frame["window_idx"] = np.arange(100)
        path = folder / f"experiment_{experiment}"
        path.mkdir(parents=True)
        for split in ("training", "testing"):
            frame.drop(columns=list(columns_dropped) if experiment == 101 else []).to_parquet(path / f"{split}.parquet")


def test_a_minimal_folder_reads(tmp_path):
    _write_topology(tmp_path / "topo")
    stream = read_replay(tmp_path / "topo")
    assert stream.concept_starts == (0, 1, 2)
    assert not stream.has_budget


def test_missing_column_names_file_and_column(tmp_path):
    _write_topology(tmp_path / "topo", columns_dropped=("delay_s",))
    with pytest.raises(DatasetError, match=r"experiment_101/testing\.parquet: missing column\(s\) delay_s"):
        read_replay(tmp_path / "topo")


def test_bad_folders_are_named(tmp_path):
    with pytest.raises(DatasetError, match="not a directory"):
        read_replay(tmp_path / "absent")
    (tmp_path / "one" / "experiment_100").mkdir(parents=True)
    with pytest.raises(DatasetError, match="at least two experiment_<id> folders, found 1"):
        read_replay(tmp_path / "one")
    (tmp_path / "one" / "experiment_101").mkdir()
    with pytest.raises(DatasetError, match=r"experiment_100/testing\.parquet: missing split file"):
        read_replay(tmp_path / "one")
