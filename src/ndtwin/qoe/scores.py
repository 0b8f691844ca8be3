"""QoE scores (MOS, 1–5) of five application profiles from RTT, jitter and loss, and the ITU-T G.107 E-model.

Profile score: each metric is mapped linearly onto 1–5 between a "best" value (score 5, or better) and a "worst"
value (score 1, or worse) — RTT 20 ms → 400 ms, jitter 0 → 50 ms, loss 0 → 10 % — and the three scores are
weighted by the profile (weights sum to 1). A pair with no RTT (every packet lost) scores 1 on RTT and jitter.

VoIP uses the E-model instead (G.107 with default parameters, R0 − Is = 93.2, A = 0): one-way delay
Ta = RTT/2 + 2·jitter (a jitter buffer of twice the jitter), delay impairment Id = 0.024·Ta + 0.11·(Ta − 177.3)·H(Ta
− 177.3) (ms), equipment impairment of G.711 with packet-loss concealment Ie = 0, Bpl = 25.1, random loss
(BurstR = 1): Ie,eff = Ie + (95 − Ie)·Ppl / (Ppl/BurstR + Bpl) with Ppl in percent; R → MOS by G.107 Annex B.

Classes on MOS: good ≥ 4.0, fair ≥ 3.1, poor below (R = 80 and R = 60 for VoIP).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

GOOD_MOS, FAIR_MOS = 4.0, 3.1
BEST_WORST = {"rtt_s": (0.020, 0.400), "jitter_s": (0.0, 0.050), "loss_share": (0.0, 0.10)}


@dataclass(frozen=True)
class Profile:
    """Weights of an application on RTT, loss and jitter."""

    rtt: float
    loss: float
    jitter: float


PROFILES: dict[str, Profile] = {
    "web": Profile(rtt=0.5, loss=0.3, jitter=0.2),
    "video": Profile(rtt=0.2, loss=0.5, jitter=0.3),
    "voip": Profile(rtt=0.3, loss=0.2, jitter=0.5),
    "gaming": Profile(rtt=0.6, loss=0.2, jitter=0.2),
    "file_transfer": Profile(rtt=0.1, loss=0.8, jitter=0.1),
}


def metric_score(name: str, values: ArrayLike) -> np.ndarray:
    """1–5 score of one metric (``rtt_s``, ``jitter_s`` or ``loss_share``); NaN scores 1."""
    best, worst = BEST_WORST[name]
    x = np.asarray(values, dtype=float)
    score = 1.0 + 4.0 * np.clip((worst - x) / (worst - best), 0.0, 1.0)
    return np.where(np.isfinite(x), score, 1.0)


def profile_mos(app: str, rtt_s: ArrayLike, jitter_s: ArrayLike, loss_share: ArrayLike) -> np.ndarray:
    """The weighted 1–5 score of a profile (``voip`` included, for comparison with the E-model)."""
    p = PROFILES[app]
    return (
        p.rtt * metric_score("rtt_s", rtt_s)
        + p.loss * metric_score("loss_share", loss_share)
        + p.jitter * metric_score("jitter_s", jitter_s)
    )


def e_model_r(rtt_s: ArrayLike, jitter_s: ArrayLike, loss_share: ArrayLike) -> np.ndarray:
    """The E-model's transmission rating R of G.711 with PLC; a missing RTT or jitter counts as 0 delay."""
    rtt_ms = np.nan_to_num(np.asarray(rtt_s, dtype=float)) * 1e3
    jitter_ms = np.nan_to_num(np.asarray(jitter_s, dtype=float)) * 1e3
    ta = rtt_ms / 2 + 2 * jitter_ms
    delay_impairment = 0.024 * ta + 0.11 * (ta - 177.3) * (ta > 177.3)
    ppl = 100.0 * np.clip(np.asarray(loss_share, dtype=float), 0.0, 1.0)
    ie, bpl, burst_r = 0.0, 25.1, 1.0
    equipment = ie + (95.0 - ie) * ppl / (ppl / burst_r + bpl)
    return 93.2 - delay_impairment - equipment


def r_to_mos(r: ArrayLike) -> np.ndarray:
    """G.107 Annex B: MOS = 1 + 0.035 R + 7·10⁻⁶ R (R − 60)(100 − R), clipped to 1 (R ≤ 0) and 4.5 (R ≥ 100)."""
    r = np.asarray(r, dtype=float)
    mos = 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)
    return np.where(r <= 0, 1.0, np.where(r >= 100, 4.5, mos))


def mos(app: str, rtt_s: ArrayLike, jitter_s: ArrayLike, loss_share: ArrayLike) -> np.ndarray:
    """MOS of an application: the E-model for ``voip``, the weighted profile score otherwise."""
    if app not in PROFILES:
        raise ValueError(f"app: expected one of {', '.join(PROFILES)}, got {app!r}")
    if app == "voip":
        return r_to_mos(e_model_r(rtt_s, jitter_s, loss_share))
    return profile_mos(app, rtt_s, jitter_s, loss_share)


def qoe_class(mos_values: ArrayLike) -> np.ndarray:
    """``good`` / ``fair`` / ``poor`` per MOS value."""
    m = np.asarray(mos_values, dtype=float)
    return np.where(m >= GOOD_MOS, "good", np.where(m >= FAIR_MOS, "fair", "poor"))
