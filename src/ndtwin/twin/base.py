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


def flow_table(scenario: Scenario, prediction: pd.DataFrame) -> pd.DataFrame:
    """One row per flow: its identity (index, source and destination names, ToS, rate) and the predicted metrics."""
    names, traffic = scenario.topology.node_names, scenario.traffic
    identity = pd.DataFrame(
        {
            "flow": range(scenario.n_flows),
            "src": [names[f.src] for f in traffic.flows],
            "dst": [names[f.dst] for f in traffic.flows],
            "tos": traffic.tos,
            "rate_bps": traffic.rate_bps,
        }
    )
    return pd.concat([identity, prediction[list(PREDICTED_COLUMNS)].reset_index(drop=True)], axis=1)
