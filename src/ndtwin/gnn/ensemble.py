"""A deep ensemble of GNN twins: member model directories trained with different seeds, predictions averaged.

On disk an ensemble is a directory holding ``ensemble.json`` and one model directory per member
(``member-0``, ``member-1``, …). Members are independent models (each with its own normalisation), so they can be
trained side by side, one per core (``ndtwin train --members N``), and predict side by side, one thread each.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ndtwin.errors import DatasetError
from ndtwin.gnn.modeldir import is_model_dir
from ndtwin.gnn.twin import GnnTwin
from ndtwin.scenario import Scenario

FORMAT = "ndtwin-gnn-ensemble"
ENSEMBLE_FILE = "ensemble.json"


def member_name(index: int) -> str:
    return f"member-{index}"


def is_ensemble_dir(path: str | Path) -> bool:
    """True if ``path`` holds an ensemble.json of this format."""
    try:
        return json.loads((Path(path) / ENSEMBLE_FILE).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def member_dirs(path: str | Path) -> list[Path]:
    """The member model directories of ensemble ``path``; DatasetError naming the file if any is missing."""
    path = Path(path)
    file = path / ENSEMBLE_FILE
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DatasetError(file, f"unreadable ensemble description ({error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise DatasetError(file, f"expected a JSON object of format {FORMAT!r}")
    members = document.get("members")
    if not isinstance(members, list) or not members:
        raise DatasetError(file, "expected a non-empty 'members' list of folder names")
    dirs = [path / str(name) for name in members]
    missing = [d.name for d in dirs if not is_model_dir(d)]
    if missing:
        raise DatasetError(file, f"member folder(s) {', '.join(missing)} are not model directories")
    return dirs


def write_ensemble(path: str | Path, n_members: int, provenance: dict[str, Any]) -> Path:
    """Write ``ensemble.json`` for members ``member-0 … member-{n-1}`` already saved under ``path``."""
    path = Path(path)
    document = {"format": FORMAT, "version": 1, "combine": "mean",
                "members": [member_name(i) for i in range(n_members)], "provenance": provenance}  # fmt: skip
    (path / ENSEMBLE_FILE).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


class EnsembleTwin:
    """The mean of its members' per-flow predictions (delay, delay variance, loss).

    Members predict concurrently, one Python thread each with ``threads`` torch threads per member (the tensor
    work releases the interpreter): two members on two cores took 1.4× one member's time on a 170-node sample.
    """

    def __init__(self, members: Sequence[GnnTwin], name: str = "ensemble", model_dir: Path | None = None,
                 threads: int | None = 1) -> None:  # fmt: skip
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = list(members)
        self.name = name
        self.model_dir = model_dir  # where intervals and grade files of the ensemble live
        self.threads = threads

    @classmethod
    def load(cls, path: str | Path, threads: int | None = 1) -> EnsembleTwin:
        """The ensemble saved in directory ``path``."""
        members = [GnnTwin.load(d, threads=None) for d in member_dirs(path)]
        return cls(members, name=f"gnn:{Path(path).name}", model_dir=Path(path), threads=threads)

    def predict(self, scenario: Scenario) -> pd.DataFrame:
        """One row per flow (traffic order): delay_s, delay_var_s2 and loss, averaged over the members."""
        return self.predict_many([scenario])[0]

    def predict_many(self, scenarios: Sequence[Scenario]) -> list[pd.DataFrame]:
        """``predict`` of each scenario (each member predicts all of them as one batch)."""
        per_member = self.member_predictions(scenarios)
        return [sum(frames) / len(frames) for frames in zip(*per_member)]

    def member_predictions(self, scenarios: Sequence[Scenario]) -> list[list[pd.DataFrame]]:
        """Every member's ``predict_many(scenarios)``, in member order."""
        if self.threads is not None and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        if len(self.members) == 1:
            return [self.members[0].predict_many(scenarios)]
        with ThreadPoolExecutor(len(self.members)) as pool:
            return list(pool.map(lambda member: member.predict_many(scenarios), self.members))


def load_gnn_twin(path: str | Path, threads: int | None = 1) -> GnnTwin | EnsembleTwin:
    """The model directory or ensemble directory at ``path``."""
    if is_ensemble_dir(path):
        return EnsembleTwin.load(path, threads=threads)
    return GnnTwin.load(path, threads=threads)
