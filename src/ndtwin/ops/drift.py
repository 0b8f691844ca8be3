"""Drift detectors: tiny composable classes with ``update(x) -> bool``, ``drift_detected`` and ``reset()``.

``detections`` lists the indices (0-based count of updates) at which a drift was detected. ``reset()`` forgets
the statistical reference (for instance after a new model is promoted) but keeps the update count and the
detections, so indices stay those of the whole stream.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from river.drift import ADWIN, KSWIN


class DriftDetector:
    """Base class: subclasses implement ``_step(x) -> bool`` (one observation) and ``_forget()``."""

    def __init__(self) -> None:
        self.detections: list[int] = []
        self.n_updates = 0
        self._drift = False

    @property
    def drift_detected(self) -> bool:
        """Whether the last update detected a drift."""
        return self._drift

    def update(self, x: Any) -> bool:
        """Feed one observation; return whether a drift is detected at this update."""
        self._drift = bool(self._step(x))
        if self._drift:
            self.detections.append(self.n_updates)
        self.n_updates += 1
        return self._drift

    def reset(self) -> None:
        """Forget the reference window; keep ``n_updates`` and ``detections``."""
        self._forget()
        self._drift = False

    def _step(self, x: Any) -> bool:
        raise NotImplementedError

    def _forget(self) -> None:
        raise NotImplementedError


class KswinDetector(DriftDetector):
    """Distribution drift of one feature (no labels needed): river's KSWIN (Kolmogorov–Smirnov windowing).

    Each update once ``window_size`` values are seen compares the last ``stat_size`` values with a random
    sample of ``stat_size`` older ones; a drift is a KS p-value ``<= alpha`` (and statistic > 0.1). The tests are
    repeated at every update, so a stationary stream still raises about one false alarm per ``1 / alpha``
    updates at most (fewer in practice, as consecutive tests share most values). The window slides: a shift is
    visible only while the window still holds values from before it (about ``window_size - stat_size``
    updates); a shift not detected by then is the new normal. After each alarm river empties the window, so
    the detector is blind for the next ``window_size`` updates (a shift then is often missed). Feed it per-step
    aggregates (e.g. the mean rate of a window of flows) rather than raw noisy values, so that shifts are large
    relative to the noise.
    """

    def __init__(
        self, alpha: float = 0.005, window_size: int = 100, stat_size: int = 30, seed: int | None = None
    ) -> None:
        super().__init__()
        if not 0 < alpha < 1:
            raise ValueError(f"alpha: expected a number in (0, 1), got {alpha!r}")
        if stat_size < 2 or window_size < 2 * stat_size:
            raise ValueError(
                "window_size, stat_size: expected stat_size >= 2 and window_size >= 2 * stat_size, "
                f"got {window_size}, {stat_size}"
            )
        self.alpha, self.window_size, self.stat_size, self.seed = alpha, window_size, stat_size, seed
        self._forget()

    def _step(self, x: Any) -> bool:
        self._kswin.update(_finite(x))
        return self._kswin.drift_detected

    def _forget(self) -> None:
        self._kswin = KSWIN(alpha=self.alpha, window_size=self.window_size, stat_size=self.stat_size, seed=self.seed)


class ResidualDetector(DriftDetector):
    """Performance drift: the model's prediction error grows. Feed one non-negative residual per update,
    e.g. the mean |relative error| of a window's flows (see :func:`relative_error`).

    Uses river's ADWIN rather than Page-Hinkley: ADWIN sizes its reference window itself and cuts it where the
    means of the two parts differ by more than a bound with a false-alarm rate ``delta``, while Page-Hinkley
    needs a hand-set threshold and tolerance per error level. ADWIN's bound assumes values in [0, 1] and has a
    term that does not shrink with the variance, so on raw relative errors of a good model (0.01–0.3) it barely
    reacts; residuals are therefore divided by the reference level, the mean of the first ``reference_size``
    residuals after the start or a :meth:`reset` (the error of the model while it was fresh), and clipped at
    ``clip`` times that level so one flow with a near-zero label cannot dominate. ADWIN reports changes both
    ways; only increases count as drift here, as a model getting better needs no retraining. ``clock`` is how
    often (in updates) ADWIN looks for a cut.
    """

    def __init__(self, delta: float = 0.002, clock: int = 4, reference_size: int = 30, clip: float = 10.0) -> None:
        super().__init__()
        if not 0 < delta < 1:
            raise ValueError(f"delta: expected a number in (0, 1), got {delta!r}")
        if clock < 1 or reference_size < 1 or not clip > 0:
            raise ValueError(
                f"clock, reference_size, clip: expected positive values, got {clock}, {reference_size}, {clip}"
            )
        self.delta, self.clock, self.reference_size, self.clip = delta, clock, reference_size, clip
        self._forget()

    @property
    def reference_level(self) -> float | None:
        """Mean residual of the reference period (None until it is complete)."""
        return self._scale

    @property
    def relative_level(self) -> float | None:
        """Mean residual of ADWIN's current window, in units of the reference level (None before it exists)."""
        return None if self._scale is None else float(self._adwin.estimation)

    def _step(self, x: Any) -> bool:
        value = _finite(x)
        if value < 0:
            raise ValueError(f"residual: expected a non-negative number, got {value!r}")
        if self._scale is None:
            self._reference.append(value)
            if len(self._reference) < self.reference_size:
                return False
            self._scale = max(float(np.mean(self._reference)), 1e-12)
            return any(self._feed(v) for v in self._reference)
        return self._feed(value)

    def _feed(self, value: float) -> bool:
        before = self._adwin.estimation
        self._adwin.update(min(value / self._scale, self.clip))
        return self._adwin.drift_detected and self._adwin.estimation > before

    def _forget(self) -> None:
        self._adwin = ADWIN(delta=self.delta, clock=self.clock)
        self._reference: list[float] = []
        self._scale: float | None = None


class MultivariateDetector(DriftDetector):
    """One :class:`KswinDetector` per feature of a mapping (or sequence) input; drift when any fires.

    Each feature is tested at ``alpha / n_features`` (Bonferroni), so the family-wise false-alarm rate per
    update stays at ``alpha``. ``features`` fixes the keys (or the length of a sequence input); when None they
    are taken from the first update. ``fired`` lists the features (keys or positions) that fired at the last update.
    """

    def __init__(
        self,
        features: Sequence[str] | int | None = None,
        alpha: float = 0.005,
        window_size: int = 100,
        stat_size: int = 30,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.alpha, self.window_size, self.stat_size, self.seed = alpha, window_size, stat_size, seed
        self.fired: list = []
        self._members: dict[Any, KswinDetector] = {}
        self._keyed: bool | None = None
        if features is not None:
            counted = isinstance(features, int)
            self._build(list(range(features)) if counted else list(features), keyed=not counted)

    @property
    def features(self) -> list:
        """The features watched (empty until the first update when not given)."""
        return list(self._members)

    def _build(self, keys: list, *, keyed: bool) -> None:
        if not keys:
            raise ValueError("features: expected at least one feature")
        alpha = self.alpha / len(keys)
        self._keyed = keyed
        self._members = {
            key: KswinDetector(alpha, self.window_size, self.stat_size, None if self.seed is None else self.seed + i)
            for i, key in enumerate(keys)
        }

    def _values(self, x: Any) -> dict:
        keyed = isinstance(x, Mapping)
        if not self._members:
            self._build(list(x) if keyed else list(range(len(x))), keyed=keyed)
        if keyed != self._keyed:
            kind = "mapping" if self._keyed else "sequence"
            raise ValueError(f"x: expected a {kind} of feature values, got {type(x).__name__}")
        if keyed:
            missing = [key for key in self._members if key not in x]
            if missing:
                raise ValueError(f"x: missing feature {missing[0]!r} (expected {self.features})")
            return {key: x[key] for key in self._members}
        values = list(np.ravel(np.asarray(x, dtype=float)))
        if len(values) != len(self._members):
            raise ValueError(f"x: expected {len(self._members)} feature values, got {len(values)}")
        return dict(zip(self._members, values))

    def _step(self, x: Any) -> bool:
        values = self._values(x)
        self.fired = [key for key, member in self._members.items() if member.update(values[key])]
        return bool(self.fired)

    def _forget(self) -> None:
        self.fired = []
        for member in self._members.values():
            member.reset()


class AnyOf(DriftDetector):
    """Drift when any member detects one; every member is updated at every step.

    With a list, every member gets the same ``x``; with a mapping ``{name: detector}``, member ``name`` gets
    ``x[name]`` (so a traffic detector and a residual detector share one update), and a value of None skips that
    member for this update (e.g. no labels yet). ``fired`` lists the members (names or list positions) that fired
    at the last update.
    """

    def __init__(self, detectors: Sequence[DriftDetector] | Mapping[str, DriftDetector]) -> None:
        super().__init__()
        self._keyed = isinstance(detectors, Mapping)
        self.members: dict[Any, DriftDetector] = dict(detectors) if self._keyed else dict(enumerate(detectors))
        if not self.members:
            raise ValueError("detectors: expected at least one drift detector")
        self.fired: list = []

    def _step(self, x: Any) -> bool:
        if self._keyed:
            if not isinstance(x, Mapping):
                raise ValueError(f"x: expected a mapping with keys {list(self.members)}, got {type(x).__name__}")
            missing = [name for name in self.members if name not in x]
            if missing:
                expected = f"expected keys {list(self.members)}; None skips a member"
                raise ValueError(f"x: missing input {missing[0]!r} ({expected})")
            inputs = {name: x[name] for name in self.members if x[name] is not None}
        else:
            inputs = {name: x for name in self.members}
        self.fired = [name for name, value in inputs.items() if self.members[name].update(value)]
        return bool(self.fired)

    def _forget(self) -> None:
        self.fired = []
        for member in self.members.values():
            member.reset()


def relative_error(predicted: Any, observed: Any, *, floor: float = 1e-9) -> float:
    """Mean |predicted − observed| / max(|observed|, floor) over arrays (or scalars): a residual to feed
    :class:`ResidualDetector`."""
    predicted, observed = np.asarray(predicted, dtype=float), np.asarray(observed, dtype=float)
    if predicted.shape != observed.shape or predicted.size == 0:
        raise ValueError(
            f"predicted, observed: expected equal non-empty shapes, got {predicted.shape} and {observed.shape}"
        )
    return float(np.mean(np.abs(predicted - observed) / np.maximum(np.abs(observed), floor)))


def _finite(x: Any) -> float:
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"x: expected a finite number, got {x!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"x: expected a finite number, got {x!r}")
    return value
