"""What-if answers: a twin's per-flow predictions before and after a perturbation, with intervals and a summary."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ndtwin.errors import ScenarioError, check_number
from ndtwin.scenario import Scenario
from ndtwin.scenario.generate import link_loads_bps
from ndtwin.twin.base import PREDICTED_COLUMNS, Twin
from ndtwin.whatif.anchor import AnchorCase, AnchoredIntervals, anchor, anchored_intervals_of
from ndtwin.whatif.intervals import Intervals, intervals_of
from ndtwin.whatif.perturb import Outcome, Perturbation

NO_INTERVALS = "no intervals: this model has no calibrated intervals.json"


@dataclass(frozen=True)
class WhatIfResult:
    """The answer to "what if ``perturbation`` happened?".

    ``flows``: one row per flow after the perturbation (``baseline_flow`` −1 for added flows) with, per metric
    (``delay_s``, ``delay_var_s2`` = jitter, ``loss``), ``<metric>_before``, ``<metric>_after``, ``<metric>_delta``
    and, with intervals, ``<metric>_{before,after}_{lo,hi}``. ``gone``: baseline flows removed or dropped because
    a failure disconnected them (``reason``). ``links``: offered utilisation of every link before and after.
    ``summary``: worst flows, SLA violations against ``delay_budget_s`` and the most loaded links. ``anchored``:
    the values before are measured and those after anchored on them (``ndtwin.whatif.anchor``).
    """

    model: str
    perturbation: str
    flows: pd.DataFrame
    gone: pd.DataFrame
    links: pd.DataFrame
    summary: dict[str, Any]
    delay_budget_s: float | None = None
    interval_note: str | None = None
    coverage: float | None = None
    anchored: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (NaN → None)."""
        head = json_safe(
            {
                "model": self.model,
                "perturbation": self.perturbation,
                "anchored_on_measured_baseline": self.anchored,
                "delay_budget_s": self.delay_budget_s,
                "interval_coverage": self.coverage,
                "interval_note": self.interval_note,
                "summary": self.summary,
            }
        )
        return head | {name: records(getattr(self, name)) for name in ("flows", "gone", "links")}


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and NaN or infinities as None, recursively."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _column_values(values: np.ndarray, nan_as_none: bool) -> list[Any]:
    """A column as Python values, as ``DataFrame.to_dict`` gives them (``nan_as_none``: and ``json_safe``)."""
    if values.dtype.kind == "f" and nan_as_none:
        finite = np.isfinite(values)
        items = values.tolist()
        return items if finite.all() else [v if ok else None for v, ok in zip(items, finite.tolist())]
    if values.dtype.kind in "iubf":
        return values.tolist()
    items = [v.item() if isinstance(v, np.generic) else v for v in values]
    return [json_safe(v) for v in items] if nan_as_none else items


def records(
    frame: pd.DataFrame, rows: np.ndarray | None = None, columns: list[str] | None = None, *, nan_as_none: bool = True
) -> list[dict[str, Any]]:
    """``frame.to_dict("records")``, passed through ``json_safe`` when ``nan_as_none``, built column by column: the
    rows at positions ``rows`` (all by default) and the ``columns`` (all by default)."""
    names = list(frame.columns) if columns is None else columns
    arrays = [frame[name].to_numpy() for name in names]
    if rows is not None:
        arrays = [array[rows] for array in arrays]
    keys = [str(name) for name in names]
    return [dict(zip(keys, row)) for row in zip(*(_column_values(array, nan_as_none) for array in arrays))]


def _with_bounds(
    pred: pd.DataFrame,
    scenario: Scenario,
    intervals: Intervals | None,
    when: str,
    widths: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """``pred``'s metrics suffixed with ``when``, and their interval bounds (``widths``: see ``Intervals.bounds``)
    when there are intervals; columns by name."""
    columns = {f"{metric}_{when}": pred[metric].to_numpy() for metric in PREDICTED_COLUMNS}
    if intervals is not None:
        bounds = intervals.bound_columns(scenario, pred, widths)
        for metric in intervals.quantiles:
            columns[f"{metric}_{when}_lo"] = bounds[f"{metric}_lo"]
            columns[f"{metric}_{when}_hi"] = bounds[f"{metric}_hi"]
    return columns


def _matched(before: dict[str, np.ndarray], origin: np.ndarray) -> dict[str, np.ndarray]:
    """The rows ``origin`` of the columns ``before``; a row of NaN where ``origin`` is −1 (an added flow)."""
    added = origin < 0
    rows = np.where(added, 0, origin)
    matched = {}
    for name, values in before.items():
        values = values[rows]  # a copy
        if added.any():
            values = values if values.dtype.kind == "f" else values.astype(float)
            values[added] = np.nan
        matched[name] = values
    return matched


def _flow_identity(scenario: Scenario, indices: np.ndarray) -> dict[str, list[Any]]:
    names, flows = scenario.topology.node_names, scenario.traffic.flows
    return {
        "src": [names[flows[i].src] for i in indices],
        "dst": [names[flows[i].dst] for i in indices],
        "tos": [flows[i].tos for i in indices],
        "rate_bps": [flows[i].rate_bps for i in indices],
    }


def _link_frame(before: Scenario, after: Scenario) -> pd.DataFrame:
    """Offered utilisation of each link before and after (NaN where the link does not exist)."""
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    for scenario, when in ((before, "before"), (after, "after")):
        names = scenario.topology.node_names
        utilization = link_loads_bps(scenario) / scenario.topology.capacity_bps
        for link, value in zip(scenario.topology.links, utilization):
            row = rows.setdefault((link.src, link.dst), {"link": f"{names[link.src]}→{names[link.dst]}"})
            row[f"utilization_{when}"] = float(value)
            row[f"capacity_bps_{when}"] = link.capacity_bps
    return pd.DataFrame(list(rows.values())).reindex(
        columns=["link", "capacity_bps_before", "capacity_bps_after", "utilization_before", "utilization_after"]
    )


def what_if(
    twin: Twin,
    scenario: Scenario,
    perturbation: Perturbation,
    *,
    delay_budget_s: float | None = None,
    intervals: Intervals | None = None,
    top: int = 5,
    measured: pd.DataFrame | None = None,
    anchored: AnchoredIntervals | None = None,
    outcome: Outcome | None = None,
) -> WhatIfResult:
    """Predict ``scenario`` before and after ``perturbation`` with ``twin``; 90 % intervals from ``intervals`` or
    those stored with the twin's model (none → no interval columns and a note saying so).

    ``measured``: the baseline's measured per-flow ``delay_s``, ``delay_var_s2`` and ``loss`` (one row per flow of
    ``scenario``, in its order): the values before are those, and the predictions after are anchored on them with
    ``anchored`` or the anchored intervals stored with the model (required).

    ``outcome``: ``perturbation.outcome(scenario)`` when the caller has it already (``checked_perturbation`` finds
    it while checking the inputs), not computed again."""
    if not isinstance(perturbation, Perturbation):
        raise ScenarioError("perturbation", "a Perturbation, e.g. FailLink('A', 'B') + ScaleTraffic(1.2)", perturbation)
    if delay_budget_s is not None:
        delay_budget_s = check_number("delay_budget_s", delay_budget_s, minimum=0, strict=True)
    outcome = outcome if outcome is not None else perturbation.outcome(scenario)
    after_scenario, origin = outcome.scenario, outcome.origin
    if measured is None:
        intervals = intervals if intervals is not None else intervals_of(twin)
        before = _with_bounds(twin.predict(scenario), scenario, intervals, "before")
        after = _with_bounds(twin.predict(after_scenario), after_scenario, intervals, "after")
    else:
        anchored = anchored if anchored is not None else anchored_intervals_of(twin)
        if anchored is None:
            raise ScenarioError(
                "measured baseline",
                "a model with anchored intervals (intervals_anchored.json, written by `ndtwin whatif calibrate`)",
                twin.name,
            )
        case = AnchorCase(
            scenario, twin.predict(scenario), measured, after_scenario, twin.predict(after_scenario), origin
        )
        answer = anchor(case, anchored.weights)
        intervals = anchored.intervals
        before = _with_bounds(case.measured_before, scenario, None, "before")
        after = _with_bounds(answer, after_scenario, intervals, "after", anchored.widths(case))
    n_after = len(origin)
    columns = {
        "flow": np.arange(n_after),
        "baseline_flow": origin,
        **_flow_identity(after_scenario, np.arange(n_after)),
        **_matched(before, origin),
        **after,
    }
    for metric in PREDICTED_COLUMNS:
        columns[f"{metric}_delta"] = columns[f"{metric}_after"] - columns[f"{metric}_before"]
    flows = pd.DataFrame(columns)
    gone_ids = np.setdiff1d(np.arange(scenario.n_flows), origin)
    dropped = set(outcome.dropped)
    gone = pd.DataFrame(
        {
            "baseline_flow": gone_ids,
            **_flow_identity(scenario, gone_ids),
            "reason": ["disconnected" if i in dropped else "removed" for i in gone_ids],
        }
    )
    links = _link_frame(scenario, after_scenario)
    return WhatIfResult(
        model=twin.name,
        perturbation=perturbation.describe(),
        flows=flows,
        gone=gone,
        links=links,
        summary=_summary(flows, before["delay_s_before"], links, delay_budget_s, top),
        delay_budget_s=delay_budget_s,
        interval_note=None if intervals is not None else NO_INTERVALS,
        coverage=intervals.coverage if intervals is not None else None,
        anchored=measured is not None,
    )


def _largest(values: np.ndarray, top: int) -> np.ndarray:
    """Positions of the ``top`` largest ``values``, largest first, ties and NaN (last) in row order: the rows of
    ``DataFrame.nlargest``, without its per-call overhead."""
    return np.argsort(-np.asarray(values, dtype=float), kind="stable")[:top]  # NaN sorts last


def _summary(
    flows: pd.DataFrame, baseline_delay_s: np.ndarray, links: pd.DataFrame, budget: float | None, top: int
) -> dict[str, Any]:
    """Worst flows, most loaded links and SLA counts of the answer's ``flows`` (``baseline_delay_s``: the delay
    before of every baseline flow, gone ones too)."""
    keep = ["flow", "src", "dst", "tos", "delay_s_before", "delay_s_after", "delay_s_delta"]
    summary: dict[str, Any] = {
        "n_flows_before": len(baseline_delay_s),
        "n_flows_after": len(flows),
        "worst_by_delay": records(flows, _largest(flows["delay_s_after"].to_numpy(), top), keep, nan_as_none=False),
        "worst_by_delay_increase": records(
            flows, _largest(flows["delay_s_delta"].to_numpy(), top), keep, nan_as_none=False
        ),
        "most_loaded_links": records(links, _largest(links["utilization_after"].to_numpy(), top), nan_as_none=False),
    }
    if budget is not None:
        after, before = flows["delay_s_after"].to_numpy(), flows["delay_s_before"].to_numpy()
        violating = after > budget
        sla = {
            "delay_budget_s": budget,
            "violations_before": int((baseline_delay_s > budget).sum()),
            "violations_after": int(violating.sum()),
            "new_violations": [
                f"{src}→{dst}"
                for src, dst in zip(*(flows[end].to_numpy()[violating & ~(before > budget)] for end in ("src", "dst")))
            ],
        }
        if "delay_s_after_hi" in flows:
            sla["possible_violations_after"] = int((flows["delay_s_after_hi"] > budget).sum())
            sla["certain_violations_after"] = int((flows["delay_s_after_lo"] > budget).sum())
        summary["sla"] = sla
    return summary
