"""Per-window delay model of one measured connection (robust-ndt data), saved as a model directory.

Gradient-boosted trees (xgboost, one thread) on physics-informed features of a 1-s window — utilisation of the
bottleneck (received traffic / min link capacity), loss fraction, packet size, path length, propagation delay —
plus the connection's own history: the mean measured delay of its earlier labelled elements, and the window's
traffic context inside its element (100 windows of one connection, all measured before the element is predicted):
its traffic, the previous window's and the mean of the last five relative to the element's mean traffic, and the
element's mean utilisation. A TCP sender backs off when its queue builds up, so a dip of the received traffic below
the element's level marks the delay spikes that break an SLA budget. The target is log(delay), so relative errors
count alike for millisecond and second delays.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from ndtwin.data.robust_ndt import MEASUREMENT_COLUMNS
from ndtwin.errors import DatasetError

HISTORY_COLUMN = "flow_mean_delay_s"
ELEMENT_TRAFFIC_COLUMN = "element_mean_traffic_kbps"
PREVIOUS_TRAFFIC_COLUMN = "previous_traffic_kbps"
TRAILING_TRAFFIC_COLUMN = "trailing_traffic_kbps"
TRAILING_WINDOWS = 5
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
    "traffic_vs_element",
    "previous_traffic_vs_element",
    "trailing_traffic_vs_element",
    "element_utilisation",
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


def with_element_context(frame: pd.DataFrame, order: str) -> pd.DataFrame:
    """``frame`` plus each window's traffic context inside its element (one ``(flow_id, order)`` group, rows in
    window order): the element's mean traffic, the previous window's traffic (its own for the first window) and the
    mean traffic of the last :data:`TRAILING_WINDOWS` windows up to it."""
    traffic = frame["traffic_kbps"].astype(float)
    groups = traffic.groupby([frame["flow_id"], frame[order]], sort=False)
    position = groups.cumcount().to_numpy()
    total = groups.cumsum()
    before = total.groupby([frame["flow_id"], frame[order]], sort=False).shift(TRAILING_WINDOWS).fillna(0.0)
    return frame.assign(
        **{
            ELEMENT_TRAFFIC_COLUMN: groups.transform("mean").to_numpy(),
            PREVIOUS_TRAFFIC_COLUMN: groups.shift(1).fillna(traffic).to_numpy(),
            TRAILING_TRAFFIC_COLUMN: (total - before).to_numpy() / np.minimum(position + 1, TRAILING_WINDOWS),
        }
    )


def model_frame(frame: pd.DataFrame, order: str) -> pd.DataFrame:
    """``frame`` with everything the model reads besides the measurements: flow history and element context."""
    return with_element_context(with_flow_history(frame, order), order)


def flow_history(labelled: pd.DataFrame, order: str = "step") -> pd.Series:
    """Each flow's mean delay over all its labelled elements (indexed by flow_id)."""
    if labelled.empty:
        return pd.Series(dtype=float, name=HISTORY_COLUMN)
    return _element_means(labelled, order).groupby("flow_id")["element_delay_s"].mean().rename(HISTORY_COLUMN)


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input features of each window (``frame`` needs the measurement columns plus the history and
    element-context columns of :func:`model_frame`)."""
    missing = [
        c
        for c in (
            *MEASUREMENT_COLUMNS,
            HISTORY_COLUMN,
            ELEMENT_TRAFFIC_COLUMN,
            PREVIOUS_TRAFFIC_COLUMN,
            TRAILING_TRAFFIC_COLUMN,
        )
        if c not in frame.columns
    ]
    if missing:
        raise ValueError(f"window frame: missing column(s) {', '.join(missing)}")
    traffic = frame["traffic_kbps"].to_numpy(float)
    element = np.maximum(frame[ELEMENT_TRAFFIC_COLUMN].to_numpy(float), 1e-9)
    capacity_kbps = frame["min_link_capacity_mbps"].to_numpy(float) * 1e3
    sent_kbps = frame["loss_pkts_per_s"].to_numpy(float) * frame["packet_size_bytes"].to_numpy(float) * 8e-3
    out = pd.DataFrame(
        {
            "traffic_kbps": traffic,
            "utilisation": traffic / capacity_kbps,
            "loss_pkts_per_s": frame["loss_pkts_per_s"].to_numpy(float),
            "loss_fraction": sent_kbps / np.maximum(traffic + sent_kbps, 1e-9),
            "packet_size_bytes": frame["packet_size_bytes"].to_numpy(float),
            "path_length": frame["path_length"].to_numpy(float),
            "propag_delay_s": frame["propag_delay_s"].to_numpy(float),
            "min_link_capacity_mbps": frame["min_link_capacity_mbps"].to_numpy(float),
            "log_flow_mean_delay_s": np.log(frame[HISTORY_COLUMN].to_numpy(float)),
            "traffic_vs_element": traffic / element,
            "previous_traffic_vs_element": frame[PREVIOUS_TRAFFIC_COLUMN].to_numpy(float) / element,
            "trailing_traffic_vs_element": frame[TRAILING_TRAFFIC_COLUMN].to_numpy(float) / element,
            "element_utilisation": element / capacity_kbps,
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
        cls, frame: pd.DataFrame, *, warm_from: WindowDelayModel | None = None, rounds: int | None = None
    ) -> WindowDelayModel:
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
        config = {
            "kind": KIND,
            "features": list(FEATURES),
            "target": "log(delay_s)",
            "low_s": self.low_s,
            "high_s": self.high_s,
        }
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> WindowDelayModel:
        """Read a model directory written by :meth:`save`."""
        directory = Path(directory)
        config_path = directory / CONFIG_FILE
        try:
            config = json.loads(config_path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise DatasetError(config_path, f"unreadable model config ({error})") from None
        if config.get("kind") != KIND:
            raise DatasetError(config_path, f"kind: expected {KIND!r}, got {config.get('kind')!r}")
        if config.get("features") != list(FEATURES):
            raise DatasetError(config_path, f"features: expected {list(FEATURES)}, got {config.get('features')!r}")
        booster = xgb.Booster()
        try:
            booster.load_model(directory / BOOSTER_FILE)
        except xgb.core.XGBoostError as error:
            raise DatasetError(directory / BOOSTER_FILE, f"unreadable booster ({error})") from None
        return cls(booster, float(config["low_s"]), float(config["high_s"]))
