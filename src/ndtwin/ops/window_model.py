"""Per-window delay model of one measured connection (robust-ndt data), saved as a model directory.

Gradient-boosted trees (xgboost, one thread) on physics-informed features of a 1-s window — utilisation of the
bottleneck (received traffic / min link capacity), loss fraction, packet size, path length, propagation delay —
plus the connection's own history: the mean measured delay of its earlier labelled elements. The target is
log(delay), so relative errors count alike for millisecond and second delays.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from ndtwin.errors import DatasetError

HISTORY_COLUMN = "flow_mean_delay_s"
FEATURES = (
    "traffic_kbps",
    "utilisation",
    "loss_pkts_per_s",
    "loss_fraction",
    "packet_size_bytes",
    "path_length",
    "propag_delay_s",
    "min_link_capacity_mbps",
    "log_flow_mean_delay_s",
)
BOOSTER_FILE = "booster.json"
CONFIG_FILE = "config.json"
KIND = "robust_ndt_window_delay"
PARAMS = {"max_depth": 6, "eta": 0.05, "subsample": 0.8, "nthread": 1, "seed": 0, "objective": "reg:squarederror"}
INITIAL_ROUNDS = 300
SCRATCH_ROUNDS = 200
WARM_ROUNDS = 100


def _element_means(frame: pd.DataFrame, order: str) -> pd.DataFrame:
    """Mean measured delay of every (flow, element), sorted by flow then ``order``."""
    means = frame.groupby(["flow_id", order], sort=True)["delay_s"].mean()
    return means.rename("element_delay_s").reset_index()


def with_flow_history(frame: pd.DataFrame, order: str) -> pd.DataFrame:
    """``frame`` plus the flow's mean delay over its elements earlier in ``order`` (NaN for its first element)."""
    means = _element_means(frame, order)
    earlier = means.groupby("flow_id")["element_delay_s"].transform(lambda s: s.shift(1).expanding().mean())
    means[HISTORY_COLUMN] = earlier
    return frame.drop(columns=[HISTORY_COLUMN], errors="ignore").merge(
        means[["flow_id", order, HISTORY_COLUMN]], on=["flow_id", order], how="left"
    )


def flow_history(labelled: pd.DataFrame, order: str = "step") -> pd.Series:
    """Each flow's mean delay over all its labelled elements (indexed by flow_id)."""
    if labelled.empty:
        return pd.Series(dtype=float, name=HISTORY_COLUMN)
    return _element_means(labelled, order).groupby("flow_id")["element_delay_s"].mean().rename(HISTORY_COLUMN)


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input features of each window (``frame`` needs the measurement and history columns)."""
    missing = [c for c in ("traffic_kbps", "loss_pkts_per_s", "packet_size_bytes", "path_length", "propag_delay_s",
                           "min_link_capacity_mbps", HISTORY_COLUMN) if c not in frame.columns]
    if missing:
        raise ValueError(f"window frame: missing column(s) {', '.join(missing)}")
    traffic = frame["traffic_kbps"].to_numpy(float)
    sent_kbps = frame["loss_pkts_per_s"].to_numpy(float) * frame["packet_size_bytes"].to_numpy(float) * 8e-3
    out = pd.DataFrame(
        {
            "traffic_kbps": traffic,
            "utilisation": traffic / 1e3 / frame["min_link_capacity_mbps"].to_numpy(float),
            "loss_pkts_per_s": frame["loss_pkts_per_s"].to_numpy(float),
            "loss_fraction": sent_kbps / np.maximum(traffic + sent_kbps, 1e-9),
            "packet_size_bytes": frame["packet_size_bytes"].to_numpy(float),
            "path_length": frame["path_length"].to_numpy(float),
            "propag_delay_s": frame["propag_delay_s"].to_numpy(float),
            "min_link_capacity_mbps": frame["min_link_capacity_mbps"].to_numpy(float),
            "log_flow_mean_delay_s": np.log(frame[HISTORY_COLUMN].to_numpy(float)),
        }
    )
    return out[list(FEATURES)]


@dataclass
class WindowDelayModel:
    """Boosted trees predicting a window's mean delay (s); predictions are clipped to [low_s, high_s]."""

    booster: xgb.Booster
    low_s: float
    high_s: float

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, *, warm_from: "WindowDelayModel | None" = None, rounds: int | None = None
    ) -> "WindowDelayModel":
        """Train on labelled windows (with history); ``warm_from`` continues boosting that model's trees."""
        delay = frame["delay_s"].to_numpy(float)
        keep = np.isfinite(delay) & (delay > 0)
        if not keep.any():
            raise ValueError("window frame: no positive delay_s label to train on")
        data = xgb.DMatrix(features(frame[keep]), label=np.log(delay[keep]))
        low, high = float(delay[keep].min()) / 2, float(delay[keep].max()) * 2
        if warm_from is None:
            booster = xgb.train(PARAMS, data, rounds or SCRATCH_ROUNDS)
        else:
            booster = xgb.train(PARAMS, data, rounds or WARM_ROUNDS, xgb_model=warm_from.booster.copy())
            low, high = min(low, warm_from.low_s), max(high, warm_from.high_s)
        return cls(booster, low, high)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted mean delay (s) of each window."""
        log_delay = self.booster.predict(xgb.DMatrix(features(frame)))
        return np.clip(np.exp(log_delay.astype(float)), self.low_s, self.high_s)

    def save(self, directory: str | Path) -> Path:
        """Write the model directory (booster + config) and return it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(directory / BOOSTER_FILE)
        config = {"kind": KIND, "features": list(FEATURES), "target": "log(delay_s)", "low_s": self.low_s,
                  "high_s": self.high_s}
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "WindowDelayModel":
        """Read a model directory written by :meth:`save`."""
        directory = Path(directory)
        config_path = directory / CONFIG_FILE
        try:
            config = json.loads(config_path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise DatasetError(config_path, f"unreadable model config ({error})") from None
        if config.get("kind") != KIND:
            raise DatasetError(config_path, f"kind: expected {KIND!r}, got {config.get('kind')!r}")
        booster = xgb.Booster()
        try:
            booster.load_model(directory / BOOSTER_FILE)
        except xgb.core.XGBoostError as error:
            raise DatasetError(directory / BOOSTER_FILE, f"unreadable booster ({error})") from None
        return cls(booster, float(config["low_s"]), float(config["high_s"]))
