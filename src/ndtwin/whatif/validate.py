"""Trust validation: does a twin get the *direction and size of changes* right?

``score_twin`` compares the twin's predicted per-flow change of mean delay with the simulated one on a what-if
suite (``ndtwin.whatif.suite``).

A change is measured as ``Δ = log(delay_after / delay_before)`` per flow present before and after. The simulator's
noise on Δ is estimated per flow as ``noise_scale · sqrt(se_before² + se_after²)``, with ``se`` the relative
standard error of a flow's mean delay as if its packets were independent (``sqrt(var / n) / mean``) and
``noise_scale`` measured on the suite itself: every baseline is simulated twice with different seeds, and
``noise_scale`` makes the independent-packet error match the spread seen between those two runs (queueing delays
of consecutive packets are correlated, so the independent-packet error is too small on its own). A baseline and its
perturbed versions share the simulated time and seed, so their difference is if anything less noisy than this
estimate, which treats them as independent. Flows whose simulated |Δ| is below ``noise_z`` times their noise have
no reliable sign: they are left out of Sign Agreement and counted (``n_below_noise``); every flow counts in the
correlation, slope, MAE and R² of Δ.

Interval coverage (``coverage90``) is the share of per-flow mean delays inside the twin's 90 % interval, over the
baselines and perturbed cases. The intervals are for a flow's mean delay itself, not for one short, noisy run of
the simulator, so coverage is judged against the suite's *reference runs* when it has them, else against its own
runs. The JSON report names the runs coverage was judged against and their length (``coverage_reference``). The
flows of one baseline and of its perturbed versions share a traffic draw, so their errors move together and a
suite's coverage is only as precise as its number of baselines allows: ``coverage90_range`` is a cluster-bootstrap
90 % interval of it (baselines resampled with their perturbed cases).

Anchored answers (``ndtwin.whatif.anchor``) are judged too when the model has anchored intervals and the suite has
measurement runs: the perturbed cases' anchored predictions are judged against their reference runs
(``coverage90_anchored``; the baselines themselves are measured, not predicted, and do not count).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ndtwin.data.metrics import r2
from ndtwin.data.sample import Sample
from ndtwin.twin.base import Twin
from ndtwin.whatif.analysis import json_safe
from ndtwin.whatif.anchor import AnchorCase, AnchoredIntervals, anchor, anchored_intervals_of
from ndtwin.whatif.intervals import Intervals, intervals_of
from ndtwin.whatif.suite import Suite


@dataclass(frozen=True)
class DeltaScores:
    """How well predicted changes Δ match simulated ones over a set of flows."""

    n_flows: int
    n_below_noise: int
    sign_agreement: float
    delta_corr: float
    delta_slope: float
    delta_mae: float
    delta_mae_rel: float
    delta_r2: float


@dataclass(frozen=True)
class TrustReport:
    """Scores of a twin on a suite: overall and per perturbation kind, plus interval coverage."""

    model: str
    suite: str
    overall: DeltaScores
    by_perturbation: dict[str, DeltaScores]
    coverage90: float | None  # share of reference mean delays inside the 90 % interval (None: no intervals)
    coverage90_range: tuple[float, float] | None = None  # its cluster-bootstrap 90 % interval (None: < 2 baselines)
    coverage_by_metric: dict[str, float] = field(default_factory=dict)
    coverage90_cases: float | None = None  # coverage90 over the perturbed cases only
    coverage90_anchored: float | None = None  # the same for anchored answers (None: not judged)
    coverage90_anchored_range: tuple[float, float] | None = None
    coverage_runs: str = "suite"  # runs coverage is judged against: "reference" runs or the "suite" runs
    coverage_packets_per_flow: int | None = None  # their length (packets of the baseline's slowest flow)
    noise_scale: float = 1.0
    noise_z: float = 2.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``ndtwin whatif validate --json`` (NaN → None)."""
        return json_safe(
            {
                "model": self.model,
                "suite": self.suite,
                **asdict(self.overall),
                "coverage90": self.coverage90,
                "coverage90_range": list(self.coverage90_range) if self.coverage90_range else None,
                "coverage_by_metric": self.coverage_by_metric,
                "coverage90_cases": self.coverage90_cases,
                "coverage90_anchored": self.coverage90_anchored,
                "coverage90_anchored_range": list(self.coverage90_anchored_range)
                if self.coverage90_anchored_range
                else None,
                "coverage_reference": {
                    "runs": self.coverage_runs,
                    "packets_per_flow": self.coverage_packets_per_flow,
                },
                "noise_scale": self.noise_scale,
                "noise_z": self.noise_z,
                "by_perturbation": {kind: asdict(scores) for kind, scores in self.by_perturbation.items()},
            }
        )


def delta_scores(pred: np.ndarray, sim: np.ndarray, noise: np.ndarray, *, noise_z: float = 2.0) -> DeltaScores:
    """Scores of predicted changes ``pred`` against simulated ``sim`` (same units, e.g. log ratios); ``noise`` is
    the simulated change's standard error per flow. Non-finite entries are ignored."""
    pred, sim, noise = (np.asarray(a, dtype=float) for a in (pred, sim, noise))
    ok = np.isfinite(pred) & np.isfinite(sim)
    pred, sim, noise = pred[ok], sim[ok], noise[ok]
    signed = np.abs(sim) >= noise_z * np.nan_to_num(noise, nan=np.inf)
    agree = np.sign(pred[signed]) == np.sign(sim[signed])
    error = np.abs(pred - sim)
    mean_change = float(np.mean(np.abs(sim))) if sim.size else float("nan")
    varying = sim.size > 1 and np.std(sim) > 0 and np.std(pred) > 0
    return DeltaScores(
        n_flows=int(sim.size),
        n_below_noise=int((~signed).sum()),
        sign_agreement=float(agree.mean()) if agree.size else float("nan"),
        delta_corr=float(np.corrcoef(pred, sim)[0, 1]) if varying else float("nan"),
        delta_slope=float(np.cov(sim, pred)[0, 1] / np.var(sim, ddof=1)) if varying else float("nan"),
        delta_mae=float(error.mean()) if sim.size else float("nan"),
        delta_mae_rel=float(error.mean() / mean_change) if sim.size and mean_change > 0 else float("nan"),
        delta_r2=r2(sim, pred),
    )


def relative_standard_error(sample: Sample) -> np.ndarray:
    """Per flow: standard error of the simulated mean delay relative to it, as if packets were independent."""
    labels = sample.flow_labels
    delivered = labels["pkts_per_s"].to_numpy() * (1.0 - labels["loss"].to_numpy()) * float(sample.meta["sim_time_s"])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(labels["delay_var_s2"].to_numpy() / delivered) / labels["delay_s"].to_numpy()


def noise_scale(suite: Suite) -> float:
    """Ratio of the seed-to-seed spread of baseline log delays to the independent-packet standard error."""
    spread, expected = [], []
    for first, second in zip(suite.baselines, suite.repeats):
        diff = np.log(second.flow_labels["delay_s"].to_numpy() / first.flow_labels["delay_s"].to_numpy())
        var = relative_standard_error(first) ** 2 + relative_standard_error(second) ** 2
        ok = np.isfinite(diff) & np.isfinite(var)
        spread.append(diff[ok] ** 2)
        expected.append(var[ok])
    total = float(np.sum(np.concatenate(expected))) if expected else 0.0
    return math.sqrt(float(np.sum(np.concatenate(spread))) / total) if total > 0 else 1.0


def score_twin(
    twin: Twin,
    suite: Suite,
    *,
    intervals: Intervals | None = None,
    anchored: AnchoredIntervals | None = None,
    noise_z: float = 2.0,
) -> TrustReport:
    """Score ``twin``'s predicted changes of per-flow mean delay on ``suite`` (see the module docstring), and the
    coverage of its 90 % intervals (``intervals``, or those stored with the twin's model; none → None) judged
    against the suite's reference runs, or its own runs when it has none; with anchored intervals (``anchored`` or
    the model's) and measurement runs in the suite, that of its anchored answers too."""
    intervals = intervals if intervals is not None else intervals_of(twin)
    anchored = anchored if anchored is not None else anchored_intervals_of(twin)
    scale = noise_scale(suite)
    base_pred = [twin.predict(b.scenario) for b in suite.baselines]
    base_se = [relative_standard_error(b) for b in suite.baselines]
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    inside: dict[str, list[np.ndarray]] = {}
    predictions = list(base_pred)
    for case in suite.cases:
        pred = twin.predict(case.sample.scenario)
        predictions.append(pred)
        kept = case.origin >= 0
        origin = case.origin[kept]
        before_sim = suite.baselines[case.baseline].flow_labels["delay_s"].to_numpy()[origin]
        before_pred = base_pred[case.baseline]["delay_s"].to_numpy()[origin]
        after_sim = case.sample.flow_labels["delay_s"].to_numpy()[kept]
        after_pred = pred["delay_s"].to_numpy()[kept]
        with np.errstate(divide="ignore", invalid="ignore"):
            sim_delta = np.log(after_sim / before_sim)
            pred_delta = np.log(after_pred / before_pred)
        noise = scale * np.hypot(base_se[case.baseline][origin], relative_standard_error(case.sample)[kept])
        parts.setdefault(case.kind, []).append((pred_delta, sim_delta, noise))
    references = suite.references or (*suite.baselines, *(case.sample for case in suite.cases))
    clusters = [*range(len(suite.baselines)), *(case.baseline for case in suite.cases)]
    if intervals is not None:
        for sample, pred in zip(references, predictions):
            bounds = intervals.bounds(sample.scenario, pred)
            for metric in intervals.quantiles:
                inside.setdefault(metric, []).append(_inside(sample, bounds, metric))
    by_kind = {kind: delta_scores(*_joined(p), noise_z=noise_z) for kind, p in parts.items()}
    everything = [triple for p in parts.values() for triple in p]
    coverage = {metric: float(np.concatenate(hits).mean()) for metric, hits in inside.items()}
    delay_range = cluster_bootstrap_range(inside["delay_s"], clusters) if "delay_s" in inside else None
    anchored_hits = (
        _anchored_delay_hits(suite, base_pred, predictions[len(base_pred) :], anchored)
        if anchored is not None and suite.measurements
        else []
    )
    return TrustReport(
        model=twin.name,
        suite=suite.name,
        overall=delta_scores(*_joined(everything), noise_z=noise_z),
        by_perturbation=by_kind,
        coverage90=coverage.get("delay_s"),
        coverage90_range=delay_range,
        coverage_by_metric=coverage,
        coverage90_cases=float(np.concatenate(inside["delay_s"][len(base_pred) :]).mean())
        if "delay_s" in inside and suite.cases
        else None,
        coverage90_anchored=float(np.concatenate(anchored_hits).mean()) if anchored_hits else None,
        coverage90_anchored_range=cluster_bootstrap_range(anchored_hits, [c.baseline for c in suite.cases])
        if anchored_hits
        else None,
        noise_scale=scale,
        noise_z=noise_z,
        coverage_runs="reference" if suite.references else "suite",
        coverage_packets_per_flow=suite.reference_packets if suite.references else suite.packets_per_flow,
    )


def _inside(sample: Sample, bounds: pd.DataFrame, metric: str) -> np.ndarray:
    """Per flow with a finite simulated value: whether it lies inside its interval."""
    truth = sample.flow_labels[metric].to_numpy()
    ok = np.isfinite(truth)
    return (truth[ok] >= bounds[f"{metric}_lo"].to_numpy()[ok]) & (truth[ok] <= bounds[f"{metric}_hi"].to_numpy()[ok])


def _anchored_delay_hits(
    suite: Suite, base_pred: Sequence[pd.DataFrame], case_pred: Sequence[pd.DataFrame], anchored: AnchoredIntervals
) -> list[np.ndarray]:
    """Per perturbed case: which reference mean delays lie inside the anchored answer's interval, the answer
    anchored on the baseline's measurement run."""
    hits = []
    for case, pred, reference in zip(suite.cases, case_pred, suite.references[len(suite.baselines) :]):
        b = case.baseline
        measured = AnchorCase(
            suite.baselines[b].scenario,
            base_pred[b],
            suite.measurements[b].flow_labels,
            case.sample.scenario,
            pred,
            case.origin,
        )
        hits.append(_inside(reference, anchored.bounds(measured, anchor(measured, anchored.weights)), "delay_s"))
    return hits


def cluster_bootstrap_range(
    hits: Sequence[np.ndarray], clusters: Sequence[int], *, level: float = 0.9, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile interval (``level``) of the share of True in ``hits`` when whole clusters are resampled with
    replacement: ``hits[i]`` is one scenario's per-flow outcomes and ``clusters[i]`` the cluster it belongs to.
    None with fewer than two clusters."""
    ids = sorted(set(clusters))
    if len(ids) < 2:
        return None
    position = {c: k for k, c in enumerate(ids)}
    inside, total = np.zeros(len(ids)), np.zeros(len(ids))
    for outcome, cluster in zip(hits, clusters):
        inside[position[cluster]] += np.count_nonzero(outcome)
        total[position[cluster]] += outcome.size
    draws = np.random.default_rng(seed).integers(0, len(ids), size=(resamples, len(ids)))
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = inside[draws].sum(axis=1) / total[draws].sum(axis=1)
    shares = shares[np.isfinite(shares)]
    if shares.size == 0:
        return None
    tail = (1 - level) / 2
    return float(np.quantile(shares, tail)), float(np.quantile(shares, 1 - tail))


def _joined(triples: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not triples:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    return tuple(np.concatenate([t[k] for t in triples]) for k in range(3))  # type: ignore[return-value]


def merge_reports(reports: Sequence[TrustReport]) -> pd.DataFrame:
    """One row per report and scope (overall and each perturbation kind), for side-by-side tables."""
    rows = []
    for report in reports:
        for scope, scores in [("overall", report.overall), *report.by_perturbation.items()]:
            rows.append({"model": report.model, "suite": report.suite, "scope": scope, **asdict(scores)})
    return pd.DataFrame(rows)
