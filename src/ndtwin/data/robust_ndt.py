"""Reader of the robust-ndt measurement data (D-ITG/Mininet, Parquet): the drift experiment's stream.

A ``<database>/<topology>`` folder holds one ``experiment_<id>`` folder per traffic pattern, each with
``training``/``validation``/``testing`` Parquet splits of 1-s measurement windows, 100 windows per element.
The stream is the concatenation of the testing splits in experiment-id order (one concept per experiment);
the initial model is trained on the first experiment's training split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ndtwin.errors import DatasetError

# What a window's traffic and path look like, known before its delay is measured (the twin's inputs).
MEASUREMENT_COLUMNS = (
    "traffic_kbps",
    "loss_pkts_per_s",
    "packet_size_bytes",
    "path_length",
    "propag_delay_s",
    "min_link_capacity_mbps",
)
WINDOW_COLUMNS = (
    "experiment",
    "traffic_pattern",
    "element_idx",
    "window_idx",
    "connection_idx",
    "conn_element_idx",
    *MEASUREMENT_COLUMNS,
    "delay_s",
)
BUDGET_COLUMN = "delay_budget_s"
STREAM_SPLIT = "testing"
INITIAL_SPLIT = "training"


@dataclass(frozen=True)
class ReplayStream:
    """The windows of a drift experiment, in stream order.

    ``windows`` has the measurement columns plus ``step`` (stream element, 0..n_steps-1) and ``flow_id``
    (one id per connection of an experiment). ``concept_starts[i]`` is the first step of concept i, followed by
    ``n_steps``. ``initial_training`` is the first experiment's training split with ``flow_id``.
    """

    topology: str
    windows: pd.DataFrame
    concept_starts: tuple[int, ...]
    patterns: tuple[str, ...]
    initial_training: pd.DataFrame

    @property
    def n_steps(self) -> int:
        """Number of stream elements (prediction steps)."""
        return self.concept_starts[-1]

    @property
    def has_budget(self) -> bool:
        """Whether the windows carry the SLA delay budget."""
        return BUDGET_COLUMN in self.windows.columns

    def concept_of_step(self, step: np.ndarray | int) -> np.ndarray:
        """Index of the concept each step belongs to."""
        return np.searchsorted(np.asarray(self.concept_starts[1:]), step, side="right")

    def step_windows(self, step: int) -> pd.DataFrame:
        """The windows of one stream element, in stream order (``windows`` is sorted by step)."""
        first, end = np.searchsorted(self.windows["step"].to_numpy(), [step, step + 1])
        return self.windows.iloc[first:end]

    def truncated(self, steps_per_concept: int) -> ReplayStream:
        """The same experiment keeping only the first ``steps_per_concept`` elements of each concept."""
        keep = np.zeros(self.n_steps, dtype=bool)
        for start, end in zip(self.concept_starts[:-1], self.concept_starts[1:]):
            keep[start : min(end, start + steps_per_concept)] = True
        windows = self.windows[keep[self.windows["step"].to_numpy()]].copy()
        renumber = np.cumsum(keep) - 1
        windows["step"] = renumber[windows["step"].to_numpy()]
        sizes = [
            min(end - start, steps_per_concept) for start, end in zip(self.concept_starts[:-1], self.concept_starts[1:])
        ]
        starts = tuple(int(x) for x in np.concatenate([[0], np.cumsum(sizes)]))
        return ReplayStream(self.topology, windows.reset_index(drop=True), starts, self.patterns, self.initial_training)


def flow_ids(frame: pd.DataFrame) -> np.ndarray:
    """One integer per connection of an experiment (experiment id × 1000 + connection index)."""
    return frame["experiment"].to_numpy(np.int64) * 1000 + frame["connection_idx"].to_numpy(np.int64)


def read_split(path: Path, *, need_budget: bool = False) -> pd.DataFrame:
    """One split file, checked for the columns the twin needs, in (element, window) order."""
    if not path.is_file():
        raise DatasetError(path, "missing split file (expected a robust-ndt Parquet split)")
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several unrelated types for unreadable files
        raise DatasetError(path, f"not a readable Parquet file ({error})") from None
    required = WINDOW_COLUMNS + ((BUDGET_COLUMN,) if need_budget else ())
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise DatasetError(path, f"missing column(s) {', '.join(missing)}")
    if frame.empty:
        raise DatasetError(path, "no rows")
    columns = list(WINDOW_COLUMNS) + ([BUDGET_COLUMN] if BUDGET_COLUMN in frame.columns else [])
    frame = frame[columns].sort_values(["element_idx", "window_idx"], kind="stable").reset_index(drop=True)
    frame["traffic_pattern"] = frame["traffic_pattern"].astype(str)
    frame["flow_id"] = flow_ids(frame)
    return frame


def experiment_folders(folder: Path) -> list[Path]:
    """The ``experiment_<id>`` folders of a topology, in experiment-id order."""
    if not folder.is_dir():
        raise DatasetError(folder, "not a directory (expected <database>/<topology> of the robust-ndt data)")
    found = []
    for path in folder.glob("experiment_*"):
        suffix = path.name.removeprefix("experiment_")
        if path.is_dir() and suffix.isdigit():
            found.append((int(suffix), path))
    if len(found) < 2:
        raise DatasetError(folder, f"expected at least two experiment_<id> folders, found {len(found)}")
    return [path for _, path in sorted(found)]


def read_replay(folder: str | Path) -> ReplayStream:
    """Read a ``<database>/<topology>`` folder as the drift experiment's stream and initial training data."""
    folder = Path(folder)
    experiments = experiment_folders(folder)
    parts = [read_split(path / f"{STREAM_SPLIT}.parquet") for path in experiments]
    with_budget = [BUDGET_COLUMN in part.columns for part in parts]
    if any(with_budget) and not all(with_budget):
        lacking = experiments[with_budget.index(False)] / f"{STREAM_SPLIT}.parquet"
        raise DatasetError(lacking, f"missing column {BUDGET_COLUMN} (present in the other experiments)")
    sizes, offset = [], 0
    for part in parts:
        elements = part["element_idx"].to_numpy()
        step_in_part = np.concatenate([[0], np.cumsum(elements[1:] != elements[:-1])])
        part["step"] = step_in_part + offset
        sizes.append(int(step_in_part[-1]) + 1)
        offset += sizes[-1]
    windows = pd.concat(parts, ignore_index=True)
    starts = tuple(int(x) for x in np.concatenate([[0], np.cumsum(sizes)]))
    patterns = tuple(str(part["traffic_pattern"].iloc[0]) for part in parts)
    initial = read_split(experiments[0] / f"{INITIAL_SPLIT}.parquet")
    return ReplayStream(folder.name, windows, starts, patterns, initial)
