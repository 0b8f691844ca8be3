"""The one interface every model of the twin honours."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pandas as pd

from ndtwin.scenario import Scenario

# Columns of every prediction frame (one row per flow, traffic order); same names as the flow labels.
PREDICTED_COLUMNS: tuple[str, ...] = ("delay_s", "delay_var_s2", "loss")


@runtime_checkable
class Twin(Protocol):
    """A model that predicts per-flow QoS of a scenario.

    ``predict`` returns a DataFrame with one row per flow and at least the columns PREDICTED_COLUMNS:
    mean delay (s), delay variance (s², the BNN-UPC "jitter") and loss ratio.
    """

    name: str

    def predict(self, scenario: Scenario) -> pd.DataFrame: ...
