"""Input standardisation: per-column mean and standard deviation, fitted on training samples only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ndtwin.errors import DatasetError
from ndtwin.gnn.features import (
    FLOW_FEATURES,
    LINK_FEATURES,
    QUEUE_FEATURES,
    GraphTensors,
)

BLOCKS: dict[str, tuple[str, ...]] = {"flow_x": FLOW_FEATURES, "queue_x": QUEUE_FEATURES, "link_x": LINK_FEATURES}
MIN_STD = 1e-3  # columns (nearly) constant in the training data are only centred (std 1)


@dataclass(frozen=True)
class Normalizer:
    """``(x − mean) / std`` per feature column of each block (flow_x, queue_x, link_x)."""

    mean: dict[str, list[float]]
    std: dict[str, list[float]]

    @classmethod
    def fit(cls, graphs: Sequence[GraphTensors]) -> Normalizer:
        """Statistics over every row of the given (training) samples."""
        mean, std = {}, {}
        for block in BLOCKS:
            rows = torch.cat([getattr(g, block) for g in graphs]).double()
            mean[block] = rows.mean(0).tolist()
            spread = rows.std(0, unbiased=False)
            std[block] = torch.where(spread < MIN_STD, torch.ones_like(spread), spread).tolist()
        return cls(mean, std)

    def apply(self, graph: GraphTensors) -> GraphTensors:
        """A copy of ``graph`` with standardised feature blocks."""
        scaled = {}
        for block in BLOCKS:
            mean = torch.tensor(self.mean[block], dtype=torch.float32)
            std = torch.tensor(self.std[block], dtype=torch.float32)
            scaled[block] = (getattr(graph, block) - mean) / std
        return replace(graph, **scaled)

    def to_json(self) -> dict:
        return {
            block: {"features": list(names), "mean": self.mean[block], "std": self.std[block]}
            for block, names in BLOCKS.items()
        }

    @classmethod
    def from_json(cls, data: dict, path: str | Path) -> Normalizer:
        """Inverse of ``to_json``; DatasetError on ``path`` if a block's feature list differs from this version's."""
        for block, names in BLOCKS.items():
            if not isinstance(data.get(block), dict) or data[block].get("features") != list(names):
                raise DatasetError(path, f"block {block!r} lists other features than this ndtwin version uses")
        return cls({b: data[b]["mean"] for b in BLOCKS}, {b: data[b]["std"] for b in BLOCKS})
