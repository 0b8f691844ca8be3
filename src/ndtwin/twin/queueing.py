"""Closed forms of the M/M/1/K queue, vectorised and numerically stable for any load.

``rho = λ/μ`` is the offered load and ``k`` the system size (waiting places + the packet in service).
The stationary law is a truncated geometric, ``p_n ∝ rho**n`` on ``0..k``; by PASTA an accepted arrival
sees ``n`` with probability ``∝ rho**n`` on ``0..k-1``. Every formula is written in ``x = |ln rho|`` with
``expm1``, mirrored for ``rho > 1`` and replaced by a Taylor series near ``rho = 1``, so that it stays
accurate for ``rho → 0``, ``rho → 1``, ``rho ≫ 1`` and huge ``k``. ``k`` may be fractional: the formulas are
analytic in ``k`` and interpolate between integer system sizes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

# Below this value of (number of states × |ln rho|) the truncated-geometric moments use their Taylor series.
_SERIES_LIMIT = 1e-2
_TINY = 1e-300


class MM1KStats(NamedTuple):
    """Stationary M/M/1/K quantities, each an array of the broadcast shape of ``rho`` and ``k``."""

    blocking: np.ndarray  # probability that an arrival finds the system full (the loss ratio)
    log_acceptance: np.ndarray  # ln(1 − blocking), accurate when blocking → 1
    mean_in_system: np.ndarray  # time-average number in system
    seen_mean: np.ndarray  # mean number in system found by an accepted arrival
    seen_var: np.ndarray  # variance of that number


def _head_mean(x: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Mean of ``P(n) ∝ exp(-x n)`` on ``n = 0..states-1`` (x ≥ 0)."""
    y = states * x
    series = y < _SERIES_LIMIT
    xs = np.where(series, 1.0, x)
    ys = np.where(series, 1.0, y)
    direct = np.exp(-xs) / -np.expm1(-xs) - states * np.exp(-ys) / -np.expm1(-ys)
    taylor = (states - 1) / 2 - (states**2 - 1) * x / 12 + (states**4 - 1) * x**3 / 720
    return np.where(series, taylor, direct)


def _head_var(x: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Variance of ``P(n) ∝ exp(-x n)`` on ``n = 0..states-1`` (x ≥ 0)."""
    y = states * x
    series = y < _SERIES_LIMIT
    xs = np.where(series, 1.0, x)
    ys = np.where(series, 1.0, y)
    direct = np.exp(-xs) / np.expm1(-xs) ** 2 - states**2 * np.exp(-ys) / np.expm1(-ys) ** 2
    taylor = (states**2 - 1) / 12 - (states**4 - 1) * x**2 / 240 + (states**6 - 1) * x**4 / 6048
    return np.maximum(np.where(series, taylor, direct), 0.0)


def _truncated_geometric_moments(log_rho: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``P(n) ∝ rho**n`` on ``n = 0..states-1``; rho > 1 is mirrored onto 1/rho."""
    x = np.abs(log_rho)
    head = _head_mean(x, states)
    mean = np.where(log_rho > 0, states - 1 - head, head)
    return mean, _head_var(x, states)


def mm1k_blocking(rho: ArrayLike, k: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """M/M/1/K blocking probability and ln(1 − blocking), for load ``rho ≥ 0`` and size ``k ≥ 1``."""
    rho, k = np.broadcast_arrays(np.asarray(rho, dtype=float), np.asarray(k, dtype=float))
    log_rho = np.log(np.maximum(rho, _TINY))
    x = np.maximum(np.abs(log_rho), _TINY)
    above = log_rho > 0
    # With s = min(rho, 1/rho): p_k = s**k (1 − s) / (1 − s**(k+1)) below rho = 1, (1 − s) / (1 − s**(k+1)) above;
    # 1 − p_k = (1 − s**k) / (1 − s**(k+1)) below, s times that above. Each is taken where it is well conditioned.
    denominator = np.expm1(-(k + 1) * x)
    blocking = np.exp(np.where(above, 0.0, -k * x)) * np.expm1(-x) / denominator
    acceptance = np.exp(np.where(above, -x, 0.0)) * np.expm1(-k * x) / denominator
    log_acceptance = np.where(
        blocking < 0.5, np.log1p(-np.minimum(blocking, 0.5)), np.log(np.maximum(acceptance, _TINY))
    )
    return blocking, log_acceptance


def mm1k_stats(rho: ArrayLike, k: ArrayLike) -> MM1KStats:
    """M/M/1/K blocking, acceptance, time-average and arrival-seen occupancy for load ``rho ≥ 0`` and size ``k ≥ 1``."""
    rho, k = np.broadcast_arrays(np.asarray(rho, dtype=float), np.asarray(k, dtype=float))
    blocking, log_acceptance = mm1k_blocking(rho, k)
    log_rho = np.log(np.maximum(rho, _TINY))
    mean_in_system, _ = _truncated_geometric_moments(log_rho, k + 1)
    seen_mean, seen_var = _truncated_geometric_moments(log_rho, k)
    return MM1KStats(blocking, log_acceptance, mean_in_system, seen_mean, seen_var)


def waiting_moments(stats: MM1KStats, service_rate: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of an accepted packet's wait before its service, at ``service_rate`` packets/s.

    A packet that finds ``n`` in system waits ``Erlang(n, μ)`` (memoryless residual service): mean ``n/μ``,
    variance ``n/μ²``; mixing over the arrival-seen law adds ``Var(n)/μ²``. Its sojourn adds an independent
    ``Exp(μ)`` service: ``+ 1/μ`` to the mean and ``+ 1/μ²`` to the variance.
    """
    mu = np.asarray(service_rate, dtype=float)
    return stats.seen_mean / mu, (stats.seen_mean + stats.seen_var) / mu**2
