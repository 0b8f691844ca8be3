"""What an optimization minimises, computed from a prediction (or simulation) frame with one row per flow.

Loss counts: a flow's *effective delay* is its mean delay × (1 + LOSS_WEIGHT × loss), so a configuration cannot
look better by dropping traffic (with the default weight, 1 % loss counts as much as doubling the delay). An SLA
is violated by a flow whose mean delay exceeds the delay budget or whose loss exceeds the loss budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import pandas as pd

from ndtwin.errors import ScenarioError, check_number
from ndtwin.scenario import Scenario
from ndtwin.sim.simulate import simulate

LOSS_WEIGHT = 100.0
DEFAULT_MAX_LOSS = 0.01


class Objective(str, Enum):
    """``mean`` / ``p95``: mean / 95th percentile over flows of the effective delay; ``sla``: SLA violations."""

    MEAN = "mean"
    P95 = "p95"
    SLA = "sla"

    @classmethod
    def parse(cls, value: object) -> Objective:
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ScenarioError("objective", f"one of {[o.value for o in cls]}", value) from None


@dataclass(frozen=True)
class Sla:
    """Per-flow service level: mean delay at most ``delay_budget_s`` and loss at most ``max_loss``."""

    delay_budget_s: float
    max_loss: float = DEFAULT_MAX_LOSS

    def __post_init__(self) -> None:
        check_number("sla.delay_budget_s", self.delay_budget_s, minimum=0, strict=True)
        check_number("sla.max_loss", self.max_loss, minimum=0)

    def violated(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean per flow: the flow misses its delay or loss budget."""
        delay, loss = _columns(frame)
        return (delay > self.delay_budget_s) | (loss > self.max_loss)


def _columns(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    for column in ("delay_s", "loss"):
        if column not in frame.columns:
            raise ScenarioError("prediction frame", f"a {column!r} column", list(frame.columns))
    delay = frame["delay_s"].to_numpy(dtype=float)
    loss = np.clip(np.nan_to_num(frame["loss"].to_numpy(dtype=float), nan=1.0), 0.0, 1.0)
    # A flow that delivered nothing has no measured delay: it counts as infinitely late.
    return np.where(np.isfinite(delay), delay, np.inf), loss


def effective_delay_s(frame: pd.DataFrame, loss_weight: float = LOSS_WEIGHT) -> np.ndarray:
    """Per-flow mean delay inflated by loss: ``delay_s × (1 + loss_weight × loss)``."""
    delay, loss = _columns(frame)
    return delay * (1.0 + loss_weight * loss)


def score(frame: pd.DataFrame, objective: Objective | str, sla: Sla | None = None,
          loss_weight: float = LOSS_WEIGHT) -> float:  # fmt: skip
    """The value to minimise. For ``sla`` it is the number of violating flows plus a tie-breaker in [0, 1) that
    grows with the mean effective delay, so searches still see progress while the count does not change."""
    objective = Objective.parse(objective)
    effective = effective_delay_s(frame, loss_weight)
    if len(effective) == 0:
        raise ScenarioError("prediction frame", "at least one flow")
    if objective is Objective.MEAN:
        return float(np.mean(effective))
    if objective is Objective.P95:
        return float(np.percentile(effective, 95))
    if sla is None:
        raise ScenarioError("sla", "a delay budget for the 'sla' objective (--budget-ms)")
    mean = float(np.mean(effective))
    tie_breaker = mean / (mean + sla.delay_budget_s) if np.isfinite(mean) else 1.0 - 1e-12
    return float(np.count_nonzero(sla.violated(frame))) + tie_breaker


def summary(frame: pd.DataFrame, sla: Sla | None = None) -> dict[str, float]:
    """Mean and p95 delay, mean loss and (with an SLA) the number of violating flows, for reports."""
    delay, loss = _columns(frame)
    finite = delay[np.isfinite(delay)]
    result = {
        "mean_delay_s": float(np.mean(finite)) if finite.size else float("nan"),
        "p95_delay_s": float(np.percentile(finite, 95)) if finite.size else float("nan"),
        "mean_loss": float(np.mean(loss)) if loss.size else float("nan"),
        "mean_effective_delay_s": float(np.mean(effective_delay_s(frame))) if loss.size else float("nan"),
    }
    if sla is not None:
        result["violations"] = int(np.count_nonzero(sla.violated(frame)))
    return result


Oracle = Callable[[Scenario], pd.DataFrame]
"""Anything that answers a scenario with a per-flow frame (delay_s, loss, …): a Twin's ``predict`` or a simulation."""


def answer_all(oracle: Oracle, scenarios: Sequence[Scenario]) -> list[pd.DataFrame]:
    """The oracle's frames for several scenarios: one batch when the oracle is the ``predict`` of a twin that has
    ``predict_many`` (the GNN), otherwise one by one."""
    predict_many = getattr(getattr(oracle, "__self__", None), "predict_many", None)
    if getattr(oracle, "__name__", "") == "predict" and predict_many is not None:
        return predict_many(scenarios)
    return [oracle(s) for s in scenarios]


def simulation_oracle(packets_per_flow: int = 500, seed: int = 0) -> Oracle:
    """The packet-level simulator as an oracle (its flow labels), with a fixed seed for every scenario."""

    def simulated(scenario: Scenario) -> pd.DataFrame:
        return simulate(scenario, packets_per_flow=packets_per_flow, seed=seed).flow_labels

    return simulated
