"""The GNN as a Twin: load a model directory, predict per-flow delay, jitter and loss of a scenario."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ndtwin.gnn.features import featurize
from ndtwin.gnn.model import RouteNetLike
from ndtwin.gnn.modeldir import load_model
from ndtwin.gnn.normalize import Normalizer
from ndtwin.scenario import Scenario


class GnnTwin:
    """A trained RouteNet-style model with its input normalisation (see ndtwin.gnn.model).

    ``threads``: torch intra-op threads for prediction, set process-wide on the first ``predict`` (None leaves
    torch's setting). One thread is the default: on a shared 2-core machine, two threads made inference several
    times slower (threads wait for each other while other processes hold the cores).
    """

    def __init__(self, model: RouteNetLike, normalizer: Normalizer, name: str = "gnn", threads: int | None = 1) -> None:
        self.model = model.eval()
        self.normalizer = normalizer
        self.name = name
        self.threads = threads

    @classmethod
    def load(cls, path: str | Path, threads: int | None = 1) -> GnnTwin:
        """The model saved in directory ``path`` (DatasetError if it is not one)."""
        saved = load_model(path)
        return cls(saved.model, saved.normalizer, name=f"gnn:{Path(path).name}", threads=threads)

    def predict(self, scenario: Scenario) -> pd.DataFrame:
        """One row per flow (traffic order): delay_s, delay_var_s2 and loss."""
        if self.threads is not None and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        graph = self.normalizer.apply(featurize(scenario))
        with torch.inference_mode():
            pred = self.model(graph)
        columns = {"delay_s": "delay", "delay_var_s2": "jitter", "loss": "loss"}
        return pd.DataFrame({column: pred[metric].double().numpy() for column, metric in columns.items()})
