"""A trained model on disk: weights.safetensors, config.json, normalization.json, metrics.json, provenance.json."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from ndtwin.errors import DatasetError, ScenarioError
from ndtwin.gnn.model import ModelConfig, RouteNetLike
from ndtwin.gnn.normalize import Normalizer
from ndtwin.twin.qt import LEGACY_READING

FORMAT = "ndtwin-gnn"
WEIGHTS, CONFIG, NORMALIZATION, METRICS_FILE, PROVENANCE = (
    "weights.safetensors",
    "config.json",
    "normalization.json",
    "metrics.json",
    "provenance.json",
)
FILES = (WEIGHTS, CONFIG, NORMALIZATION, METRICS_FILE, PROVENANCE)


@dataclass
class SavedModel:
    """Everything a model directory holds; ``training`` is the TrainConfig as JSON."""

    model: RouteNetLike
    normalizer: Normalizer
    training: dict[str, Any]
    metrics: dict[str, Any]
    provenance: dict[str, Any]


def is_model_dir(path: str | Path) -> bool:
    """True if ``path`` holds a config.json of this format."""
    try:
        return json.loads((Path(path) / CONFIG).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def save_model(path: str | Path, saved: SavedModel) -> Path:
    """Write the directory (created if needed; model files replaced)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in saved.model.state_dict().items()}, str(path / WEIGHTS))
    documents = {
        CONFIG: {"format": FORMAT, "version": 1, "model": saved.model.config.to_json(), "training": saved.training},
        NORMALIZATION: saved.normalizer.to_json(),
        METRICS_FILE: saved.metrics,
        PROVENANCE: saved.provenance,
    }
    for name, document in documents.items():
        (path / name).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object read from ``path``; DatasetError naming the file if unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DatasetError(path, f"unreadable JSON ({error})") from None
    if not isinstance(data, dict):
        raise DatasetError(path, "expected a JSON object")
    return data


def read_config(path: Path, expected_format: str, kind: str = "model") -> dict[str, Any]:
    """The config of the model directory ``path``, once every file of FILES is found there and the config's format
    is ``expected_format``; DatasetError naming the directory (``kind`` of directory expected) or file otherwise."""
    missing = [name for name in FILES if not (path / name).is_file()]
    if missing:
        raise DatasetError(path, f"not a {kind} directory: missing {', '.join(missing)}")
    config = read_json_object(path / CONFIG)
    if config.get("format") != expected_format:
        raise DatasetError(path / CONFIG, f"expected format {expected_format!r}, got {config.get('format')!r}")
    return config


def load_model(path: str | Path) -> SavedModel:
    """Read a model directory; DatasetError naming the file if anything is missing or inconsistent."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(path, "no such model directory")
    config = read_config(path, FORMAT)
    try:
        # a directory saved before the reading's fields existed was trained on the legacy reading
        model = RouteNetLike(ModelConfig(**{**asdict(LEGACY_READING), **config.get("model", {})}))
    except (TypeError, ScenarioError) as error:
        raise DatasetError(path / CONFIG, f"invalid model section ({error})") from None
    try:
        model.load_state_dict(load_file(str(path / WEIGHTS)))
    except (RuntimeError, OSError) as error:
        raise DatasetError(path / WEIGHTS, f"weights do not fit the configured model ({error})") from None
    model.eval()
    return SavedModel(
        model=model,
        normalizer=Normalizer.from_json(read_json_object(path / NORMALIZATION), path / NORMALIZATION),
        training=config.get("training", {}),
        metrics=read_json_object(path / METRICS_FILE),
        provenance=read_json_object(path / PROVENANCE),
    )
