"""Tabular twins: gradient-boosted trees (XGBoost) or a small MLP (torch) over per-flow path features.

Both learn the targets of ``ndtwin.tabular.features`` and are Twins (``predict(scenario)``); their delay and
delay variance are held within the scenario's physical bounds (``ndtwin.scenario.bounds``). A model directory
holds ``tabular.json`` (format, kind, feature names, input scaling, training record) and the fitted model:
``delay.json`` / ``jitter.json`` / ``loss.json`` (XGBoost) or ``weights.safetensors`` (MLP).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import expit

from ndtwin.data.sample import Sample
from ndtwin.errors import DatasetError, ScenarioError, check_int
from ndtwin.scenario import Scenario
from ndtwin.tabular.features import FEATURES, TARGETS, flow_features, from_targets, training_table

FORMAT = "ndtwin-tabular"
MANIFEST = "tabular.json"
Kind = Literal["xgboost", "dnn"]
KINDS = ("xgboost", "dnn")
HIDDEN = (64, 64)


def is_tabular_dir(path: str | Path) -> bool:
    """True if ``path`` holds a tabular model's manifest."""
    try:
        return json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


class TabularTwin:
    """A fitted tabular model. ``models`` are three XGBoost boosters (by target) or one torch MLP.

    Features are clipped to ``input_range`` (``min``/``max`` per feature over the training data) and predicted
    targets to ``target_range`` (per target, the training [min, max]): outside the training regime a model applies
    the correction it learned at the edge of that regime to the queueing-theory reference, instead of
    extrapolating (a tree ensemble does so by construction; an MLP would extrapolate linearly).
    """

    def __init__(self, kind: Kind, models: Any, input_range: dict[str, list[float]],
                 target_range: dict[str, list[float]], scaling: dict[str, list[float]] | None = None,
                 record: dict[str, Any] | None = None, name: str | None = None) -> None:  # fmt: skip
        if kind not in KINDS:
            raise ScenarioError("kind", f"one of {list(KINDS)}", kind)
        self.kind = kind
        self.models = models
        self.input_range = input_range
        self.target_range = target_range
        self.scaling = scaling
        self.record = record or {}
        self.name = name or f"tabular:{kind}"

    def predict(self, scenario: Scenario) -> pd.DataFrame:
        """One row per flow (traffic order): delay_s, delay_var_s2 and loss."""
        features = flow_features(scenario)
        x = features[list(FEATURES)].to_numpy(dtype=np.float32)
        x = np.clip(x, np.float32(self.input_range["min"]), np.float32(self.input_range["max"]))
        if self.kind == "xgboost":
            import xgboost

            matrix = xgboost.DMatrix(x)
            outputs = [self.models[t].predict(matrix).astype(float) for t in TARGETS]
        else:
            outputs = list(_mlp_outputs(self.models, self.scaling, x).T)
        clipped = [np.clip(values, *self.target_range[t]) for t, values in zip(TARGETS, outputs)]
        prediction = from_targets(features, *clipped)
        physical = scenario.bounds  # per flow, what the buffers and capacities allow
        prediction["delay_s"] = np.minimum(prediction["delay_s"], physical.delay_s)
        prediction["delay_var_s2"] = np.minimum(prediction["delay_var_s2"], physical.delay_var_s2)
        return prediction

    def save(self, path: str | Path) -> Path:
        """Write the model directory (created if needed)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.kind == "xgboost":
            for target in TARGETS:
                self.models[target].save_model(str(path / f"{_file_stem(target)}.json"))
        else:
            from safetensors.torch import save_file

            save_file(
                {k: v.contiguous() for k, v in self.models.state_dict().items()}, str(path / "weights.safetensors")
            )
        manifest = {
            "format": FORMAT,
            "version": 1,
            "kind": self.kind,
            "features": list(FEATURES),
            "targets": list(TARGETS),
            "hidden": list(HIDDEN),
            "input_range": self.input_range,
            "target_range": self.target_range,
            "scaling": self.scaling,
            "record": self.record,
        }
        (path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> TabularTwin:
        """Read a model directory; DatasetError naming the file if it is missing or does not fit."""
        path = Path(path)
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise DatasetError(path / MANIFEST, f"expected a tabular model manifest ({error})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise DatasetError(path / MANIFEST, f"expected format {FORMAT!r}")
        if manifest.get("features") != list(FEATURES):
            raise DatasetError(path / MANIFEST, "features of this version of ndtwin (retrain the model)")
        kind = manifest.get("kind")
        if kind == "xgboost":
            models = {t: _load_booster(path / f"{_file_stem(t)}.json") for t in TARGETS}
        elif kind == "dnn":
            models = _load_mlp(path / "weights.safetensors", tuple(manifest.get("hidden", HIDDEN)))
        else:
            raise DatasetError(path / MANIFEST, f"kind one of {list(KINDS)}, got {kind!r}")
        target_range, input_range = manifest.get("target_range"), manifest.get("input_range")
        if not isinstance(target_range, dict) or set(target_range) != set(TARGETS):
            raise DatasetError(path / MANIFEST, f"a target_range for each of {list(TARGETS)}")
        if not isinstance(input_range, dict) or any(
            len(input_range.get(k, ())) != len(FEATURES) for k in ("min", "max")
        ):
            raise DatasetError(path / MANIFEST, f"an input_range with min and max of {len(FEATURES)} features")
        return cls(
            kind,
            models,
            input_range,
            target_range,
            manifest.get("scaling"),
            manifest.get("record"),
            name=f"tabular:{path.name}",
        )


def fit_tabular(samples: list[Sample], kind: Kind = "xgboost", *, seed: int = 0, epochs: int = 300,
                trees: int = 400) -> TabularTwin:  # fmt: skip
    """Fit a tabular twin on labelled samples (every flow with a measured delay is a row)."""
    if kind not in KINDS:
        raise ScenarioError("kind", f"one of {list(KINDS)}", kind)
    check_int("seed", seed)
    x, y = training_table(samples)
    record = {"samples": len(samples), "flows": len(x), "seed": seed}
    target_range = {t: [float(y[t].min()), float(y[t].max())] for t in TARGETS}
    features = x[list(FEATURES)].to_numpy(dtype=np.float32)
    input_range = {"min": features.min(axis=0).tolist(), "max": features.max(axis=0).tolist()}
    if kind == "xgboost":
        boosters = _fit_boosters(features, y, seed, check_int("trees", trees, minimum=1))
        return TabularTwin(kind, boosters, input_range, target_range, record=record | {"trees": trees})
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-6
    scaling = {"mean": mean.tolist(), "std": std.tolist()}
    model = _fit_mlp(
        (features - mean) / std,
        y[list(TARGETS)].to_numpy(dtype=np.float32),
        seed,
        check_int("epochs", epochs, minimum=1),
    )
    return TabularTwin(kind, model, input_range, target_range, scaling, record | {"epochs": epochs})


def _file_stem(target: str) -> str:
    return {"log_delay_ratio": "delay", "log_jitter_ratio": "jitter", "loss": "loss"}[target]


def _fit_boosters(x: np.ndarray, y: pd.DataFrame, seed: int, trees: int) -> dict[str, Any]:
    import xgboost

    params = {"max_depth": 6, "eta": 0.05, "subsample": 0.8, "colsample_bytree": 0.8, "nthread": 1, "seed": seed}
    return {
        target: xgboost.train(params, xgboost.DMatrix(x, label=y[target].to_numpy(dtype=np.float32)), trees)
        for target in TARGETS
    }


def _load_booster(path: Path) -> Any:
    import xgboost

    try:
        return xgboost.Booster(params={"nthread": 1}, model_file=str(path))
    except xgboost.core.XGBoostError as error:
        raise DatasetError(path, f"expected an XGBoost model ({error})") from None


def _mlp(hidden: tuple[int, ...]) -> Any:
    import torch

    layers: list[torch.nn.Module] = []
    width = len(FEATURES)
    for size in hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.SiLU()]
        width = size
    layers.append(torch.nn.Linear(width, len(TARGETS)))
    return torch.nn.Sequential(*layers)


def _fit_mlp(x: np.ndarray, y: np.ndarray, seed: int, epochs: int) -> Any:
    """Adam on mean squared error (delay and jitter log-ratios) plus binary cross-entropy (loss, a logit output);
    mini-batches of 512 flows, one torch thread."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = _mlp(HIDDEN)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    inputs, outputs = torch.tensor(x), torch.tensor(y)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(inputs), generator=generator).split(512):
            pred = model(inputs[batch])
            target = outputs[batch]
            loss = torch.nn.functional.mse_loss(
                pred[:, :2], target[:, :2]
            ) + torch.nn.functional.binary_cross_entropy_with_logits(pred[:, 2], target[:, 2])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def _mlp_outputs(model: Any, scaling: dict[str, list[float]] | None, x: np.ndarray) -> np.ndarray:
    import torch

    if scaling is None:
        raise ScenarioError("tabular model", "input scaling for the dnn kind")
    scaled = (x - np.asarray(scaling["mean"], dtype=np.float32)) / np.asarray(scaling["std"], dtype=np.float32)
    with torch.inference_mode():
        out = model(torch.from_numpy(scaled.astype(np.float32))).double().numpy()
    out[:, 2] = expit(out[:, 2])
    return out


def _load_mlp(path: Path, hidden: tuple[int, ...]) -> Any:
    from safetensors.torch import load_file

    model = _mlp(hidden)
    try:
        model.load_state_dict(load_file(str(path)))
    except (RuntimeError, OSError) as error:
        raise DatasetError(path, f"weights that fit the model ({error})") from None
    return model.eval()
