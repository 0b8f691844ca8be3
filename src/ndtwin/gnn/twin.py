"""The GNN as a Twin: load a model directory, predict per-flow delay, jitter and loss of a scenario."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ndtwin.gnn.features import FLOW_FEATURES, LINK_FEATURES, GraphTensors, collate, featurize
from ndtwin.gnn.model import RouteNetLike
from ndtwin.gnn.modeldir import load_model
from ndtwin.gnn.normalize import Normalizer
from ndtwin.scenario import Scenario
from ndtwin.scenario.similarity import rescaled

# Within this many standard deviations of the training scale a scenario is predicted as it is: on the 170-node
# GNNet 2022 samples (capacities 1.4 std above the default model's training data) rescaling them to the training
# mean gave 8.15 % delay MAPE against 7.46 % as they are.
RESCALE_BEYOND_STD = 3.0
# Propagation delay does not change queueing (traffic is open-loop), but a network rescaled from Gbit/s links has
# propagation delays many standard deviations above the training data's (Abilene at 10 Gbit/s: +11.8), where the
# hidden states go astray. The propagation input is held to this many standard deviations; the readout still adds
# the exact propagation delay. `ndtwin demo`: error on the queueing part 37.6 % → 17.1 % (docs/BENCHMARKS.md).
PROPAGATION_INPUT_STD = 3.0
PROPAGATION_COLUMN = LINK_FEATURES.index("log1p_prop_delay_ms")


class GnnTwin:
    """A trained RouteNet-style model with its input normalisation (see ndtwin.gnn.model).

    A scenario whose typical packet size or link capacity lies more than RESCALE_BEYOND_STD standard deviations
    (in log scale) from the training data's is first brought to the training scale by an exact similarity transform
    (``ndtwin.scenario.similarity``), and the predicted times are scaled back: a model trained on kbit/s links
    answers for Gbit/s networks. Its propagation-delay input is held within PROPAGATION_INPUT_STD standard
    deviations of the training data's (the readout adds the exact propagation delay).

    ``threads``: torch intra-op threads for prediction, set process-wide on the first ``predict`` (None leaves
    torch's setting). One thread is the default: on a shared 2-core machine, two threads made inference several
    times slower (threads wait for each other while other processes hold the cores).
    """

    def __init__(self, model: RouteNetLike, normalizer: Normalizer, name: str = "gnn", threads: int | None = 1,
                 model_dir: Path | None = None) -> None:  # fmt: skip
        self.model = model.eval()
        self.normalizer = normalizer
        self.name = name
        self.threads = threads
        self.model_dir = model_dir  # where the model was loaded from (for files stored with it, e.g. intervals)

    @classmethod
    def load(cls, path: str | Path, threads: int | None = 1) -> GnnTwin:
        """The model saved in directory ``path`` (DatasetError if it is not one)."""
        saved = load_model(path)
        return cls(saved.model, saved.normalizer, name=f"gnn:{Path(path).name}", threads=threads, model_dir=Path(path))

    def predict(self, scenario: Scenario) -> pd.DataFrame:
        """One row per flow (traffic order): delay_s, delay_var_s2 and loss."""
        return self.predict_many([scenario])[0]

    def predict_many(self, scenarios: Sequence[Scenario]) -> list[pd.DataFrame]:
        """``predict`` of each scenario, computed as one batch (the same numbers, one model call: on small
        networks the per-call overhead dominates)."""
        if not scenarios:
            return []
        if self.threads is not None and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        factors = [self.scale_factors(scenario) for scenario in scenarios]
        graphs = [
            featurize(
                scenario if (size, speed) == (1.0, 1.0) else rescaled(scenario, size_factor=size, speed_factor=speed),
                self.model.config.queue_reading,
            )
            for scenario, (size, speed) in zip(scenarios, factors)
        ]
        graph = self.normalizer.apply(collate(graphs))
        graph.link_x[:, PROPAGATION_COLUMN].clamp_(-PROPAGATION_INPUT_STD, PROPAGATION_INPUT_STD)
        with torch.inference_mode():
            output = self.model(graph)
        pred = {metric: output[metric].double().numpy() for metric in ("delay", "jitter", "loss")}
        bounds = np.cumsum([0] + [scenario.n_flows for scenario in scenarios])
        return [
            pd.DataFrame(
                {
                    "delay_s": pred["delay"][start:stop] * speed,
                    "delay_var_s2": pred["jitter"][start:stop] * speed**2,
                    "loss": pred["loss"][start:stop],
                }
            )
            for start, stop, (_, speed) in zip(bounds[:-1], bounds[1:], factors)
        ]

    def scale_factors(self, scenario: Scenario) -> tuple[float, float]:
        """``(size_factor, speed_factor)`` that bring the scenario's mean log packet size and log capacity to the
        training data's, or (1, 1) when both are within RESCALE_BEYOND_STD training standard deviations."""
        gaps = scale_gaps(
            self.normalizer,
            float(np.mean(np.log(scenario.traffic.mean_size_bits))),
            float(np.mean(np.log(scenario.topology.capacity_bps))),
        )
        if gaps is None:
            return 1.0, 1.0
        size_gap, cap_gap = gaps
        return math.exp(size_gap), math.exp(cap_gap - size_gap)


def scale_gaps(normalizer: Normalizer, mean_log_size: float, mean_log_capacity: float) -> tuple[float, float] | None:
    """``(training − sample)`` means of log packet size and of log capacity, or None when both lie within
    RESCALE_BEYOND_STD training standard deviations (a sample the twin predicts without rescaling)."""
    size_at, capacity_at = FLOW_FEATURES.index("log_mean_size_bits"), LINK_FEATURES.index("log_capacity_bps")
    size_gap = normalizer.mean["flow_x"][size_at] - mean_log_size
    cap_gap = normalizer.mean["link_x"][capacity_at] - mean_log_capacity
    if (
        abs(size_gap) <= RESCALE_BEYOND_STD * normalizer.std["flow_x"][size_at]
        and abs(cap_gap) <= RESCALE_BEYOND_STD * normalizer.std["link_x"][capacity_at]
    ):
        return None
    return size_gap, cap_gap


def needs_rescaling(normalizer: Normalizer, graph: GraphTensors) -> bool:
    """Whether the twin would rescale the scenario of this (unnormalised) feature graph before predicting."""
    size_at, capacity_at = FLOW_FEATURES.index("log_mean_size_bits"), LINK_FEATURES.index("log_capacity_bps")
    return (
        scale_gaps(
            normalizer,
            float(graph.flow_x[:, size_at].double().mean()),
            float(graph.link_x[:, capacity_at].double().mean()),
        )
        is not None
    )
