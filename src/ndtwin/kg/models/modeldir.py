"""A trained pair GNN on disk, in the project's model-directory layout (the file names of
:mod:`ndtwin.gnn.modeldir`): weights.safetensors, config.json (format ``ndtwin-kg-gnn``), normalization.json (the
log-RTT scale), metrics.json (validation figures) and provenance.json (folder, split, seeds).

The weights are only meaningful with the graph they were trained on: to predict, rebuild the split's graph inputs
from the same imported folder (``ndtwin.kg.models.graph.graph_inputs``) and feed them to the loaded model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from ndtwin.errors import DatasetError
from ndtwin.gnn.modeldir import CONFIG, METRICS_FILE, NORMALIZATION, PROVENANCE, WEIGHTS, read_config, read_json_object
from ndtwin.kg.models.gnn import PairEnsemble, PairGNN

FORMAT = "ndtwin-kg-gnn"


@dataclass
class SavedPairGNN:
    """A pair GNN (or an average of ``members`` of them) with what is needed to use it: architecture, input width,
    whether the log-RTT output is residual to the offset feature, log-RTT scale, facts."""

    model: PairGNN | PairEnsemble
    arch: str
    n_features: int
    rtt_scale: tuple[float, float]
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    residual: bool = True
    members: int = 1


def save_pair_gnn(path: str | Path, saved: SavedPairGNN) -> Path:
    """Write the directory (created if needed; model files replaced)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in saved.model.state_dict().items()}, str(path / WEIGHTS))
    documents = {
        CONFIG: {
            "format": FORMAT,
            "version": 1,
            "model": {
                "arch": saved.arch,
                "n_features": saved.n_features,
                "residual": saved.residual,
                "members": saved.members,
            },
        },
        NORMALIZATION: {"log_rtt_ms_mean": saved.rtt_scale[0], "log_rtt_ms_std": saved.rtt_scale[1]},
        METRICS_FILE: saved.metrics,
        PROVENANCE: saved.provenance,
    }
    for name, document in documents.items():
        (path / name).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def load_pair_gnn(path: str | Path) -> SavedPairGNN:
    """Read a directory written by :func:`save_pair_gnn`; DatasetError naming the file if anything is wrong."""
    path = Path(path)
    config = read_config(path, FORMAT, "pair-GNN model")
    try:
        arch, n_features = config["model"]["arch"], int(config["model"]["n_features"])
        residual, members = bool(config["model"].get("residual", False)), int(config["model"].get("members", 1))
        networks = [PairGNN(arch, n_features, residual=residual) for _ in range(members)]
        model = networks[0] if members == 1 else PairEnsemble(networks)
        model.load_state_dict(load_file(str(path / WEIGHTS)))
        scale = read_json_object(path / NORMALIZATION)
        rtt_scale = (float(scale["log_rtt_ms_mean"]), float(scale["log_rtt_ms_std"]))
    except (KeyError, TypeError, ValueError, RuntimeError, OSError) as error:
        raise DatasetError(path, f"model files do not fit a pair GNN ({error})") from None
    model.eval()
    metrics, provenance = read_json_object(path / METRICS_FILE), read_json_object(path / PROVENANCE)
    return SavedPairGNN(model, arch, n_features, rtt_scale, metrics, provenance, residual, members)
