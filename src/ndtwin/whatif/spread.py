"""Per-flow scale of a delay residual from the disagreement of two models.

A second model trained like the first (e.g. another member of a deep ensemble) errs differently where the data
said little; where the two disagree, the first one's error tends to be large too. ``SpreadScale`` turns that into
the sigma of normalised conformal intervals: ``|log(rest / rest₂)| + floor``, with ``rest`` the delay beyond
propagation predicted by the model and ``rest₂`` by the second model, and ``floor`` keeping flows on which both
agree from getting zero-width intervals. The second model lives in a subdirectory of the model directory.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ndtwin.errors import DatasetError
from ndtwin.scenario import Scenario
from ndtwin.twin.base import Twin

SPREAD_MODEL_DIR = "spread-model"  # the second model's directory inside the model directory


@lru_cache(maxsize=4)
def _second_model(directory: str) -> Twin:
    from ndtwin.twin.catalog import load_twin  # the catalog imports the twins; loaded only when needed

    return load_twin(directory)


def install_second_model(source: str | Path, model_dir: str | Path) -> Path:
    """Copy the model in ``source`` into ``model_dir``/SPREAD_MODEL_DIR (its own intervals and grade left out) and
    return that directory; nothing is copied when ``source`` already is it."""
    source, target = Path(source), Path(model_dir) / SPREAD_MODEL_DIR
    if not source.is_dir():
        raise DatasetError(source, "expected a model directory (the second model for --spread-model)")
    if source.resolve() != target.resolve():
        shutil.rmtree(target, ignore_errors=True)
        own_files = shutil.ignore_patterns("intervals.json", "intervals_anchored.json", "grade.json")
        shutil.copytree(source, target, ignore=own_files)
        _second_model.cache_clear()
    return target


def log_gap(rest: np.ndarray, other_rest: np.ndarray) -> np.ndarray:
    """``|log(rest / other_rest)|`` per flow, 0 where either is not positive."""
    ok = (rest > 0) & (other_rest > 0)
    gap = np.zeros(rest.shape)
    gap[ok] = np.abs(np.log(rest[ok] / other_rest[ok]))
    return gap


@dataclass(frozen=True)
class SpreadScale:
    """sigma(flow) = ``|log(rest / rest of the model in directory)| + floor`` for the delay."""

    floor: float
    directory: Path

    def gap(self, scenario: Scenario, prediction: pd.DataFrame, fixed: np.ndarray) -> np.ndarray:
        """The two models' log disagreement on each flow's delay beyond ``fixed`` (its propagation delay)."""
        other = _second_model(str(self.directory)).predict(scenario)["delay_s"].to_numpy(dtype=float)
        return log_gap(prediction["delay_s"].to_numpy(dtype=float) - fixed, other - fixed)

    def sigma(self, scenario: Scenario, prediction: pd.DataFrame, fixed: np.ndarray) -> np.ndarray:
        return self.gap(scenario, prediction, fixed) + self.floor

    def to_dict(self) -> dict[str, Any]:
        return {"floor": self.floor, "model": self.directory.name}

    @classmethod
    def from_dict(cls, data: dict[str, Any], model_dir: Path, file: Path) -> SpreadScale:
        """The scale stored in ``file`` (an intervals file of ``model_dir``); DatasetError if its model is missing."""
        directory = model_dir / str(data["model"])
        if not directory.is_dir():
            raise DatasetError(file, f"spread.model: expected a model directory {directory} next to the file")
        return cls(float(data["floor"]), directory)
