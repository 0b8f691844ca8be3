"""What-if answers built from arrays equal the straightforward pandas construction: the frames (values and dtypes),
the summary and the JSON form, on perturbations that keep, reroute, drop, remove and add flows."""

import math

import numpy as np
import pandas as pd
import pytest

from ndtwin.scenario import Flow, PortConfig, Scheduling, Topology
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.twin.base import PREDICTED_COLUMNS
from ndtwin.twin.qt import QueueingTheoryTwin
from ndtwin.whatif import AddFlows, FailLink, RemoveFlows, ScaleTraffic, SetCapacity
from ndtwin.whatif.analysis import _link_frame, json_safe, records, what_if
from ndtwin.whatif.inputs import checked_perturbation
from ndtwin.whatif.intervals import calibrate

SP3 = PortConfig(Scheduling.SP, buffers=(32, 32, 32), tos_to_queue=(0, 1, 2))


def _same(a, b) -> bool:
    """Equal values of equal types, NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def test_records_are_json_safe_pandas_records() -> None:
    rng = np.random.default_rng(0)
    for n in (0, 1, 7):
        frame = pd.DataFrame(
            {
                "x": rng.choice([0.5, np.nan, np.inf, -np.inf, 1e-9], size=n),
                "i": rng.integers(-5, 5, size=n),
                "b": rng.random(n) > 0.5,
                "s": [f"n{k}→" for k in range(n)],
                "o": pd.Series([np.float64(k / 3) if k % 2 else np.int64(k) for k in range(n)], dtype=object),
                "f32": rng.random(n).astype(np.float32),
            }
        )
        assert _same(records(frame), json_safe(frame.to_dict("records")))
        assert _same(records(frame, nan_as_none=False), frame.to_dict("records"))
        rows = np.arange(n)[::-2]
        assert _same(records(frame, rows, ["s", "x"]), json_safe(frame.iloc[rows][["s", "x"]].to_dict("records")))


def _reference(twin, scenario, perturbation, intervals, budget, top):
    """The answer built the straightforward way: pandas frames column by column, reindex, nlargest, to_dict."""
    outcome = perturbation.outcome(scenario)
    after_scenario, origin = outcome.scenario, outcome.origin

    def framed(pred, sc, when):
        frame = pred[list(PREDICTED_COLUMNS)].reset_index(drop=True).add_suffix(f"_{when}")
        bounds = intervals.bounds(sc, pred)
        for metric in intervals.quantiles:
            frame[f"{metric}_{when}_lo"], frame[f"{metric}_{when}_hi"] = bounds[f"{metric}_lo"], bounds[f"{metric}_hi"]
        return frame

    def identity(sc, indices):
        names, flows = sc.topology.node_names, sc.traffic.flows
        columns = {"src": [names[flows[i].src] for i in indices], "dst": [names[flows[i].dst] for i in indices]}
        return pd.DataFrame(
            columns | {"tos": [flows[i].tos for i in indices], "rate_bps": [flows[i].rate_bps for i in indices]}
        )

    before = framed(twin.predict(scenario), scenario, "before")
    after = framed(twin.predict(after_scenario), after_scenario, "after")
    matched = before.reindex(np.where(origin >= 0, origin, -1)).reset_index(drop=True)
    head = pd.DataFrame({"flow": np.arange(len(origin)), "baseline_flow": origin})
    flows = pd.concat([head, identity(after_scenario, np.arange(len(origin))), matched, after], axis=1)
    for metric in PREDICTED_COLUMNS:
        flows[f"{metric}_delta"] = flows[f"{metric}_after"] - flows[f"{metric}_before"]
    gone_ids = np.setdiff1d(np.arange(scenario.n_flows), origin)
    gone = pd.concat([pd.DataFrame({"baseline_flow": gone_ids}), identity(scenario, gone_ids)], axis=1)
    gone["reason"] = ["disconnected" if i in set(outcome.dropped) else "removed" for i in gone_ids]
    links = _link_frame(scenario, after_scenario)
    keep = ["flow", "src", "dst", "tos", "delay_s_before", "delay_s_after", "delay_s_delta"]
    label = flows["src"].astype(str) + "→" + flows["dst"].astype(str)
    violating = flows["delay_s_after"] > budget
    summary = {
        "n_flows_before": len(before),
        "n_flows_after": len(flows),
        "worst_by_delay": flows.nlargest(top, "delay_s_after")[keep].to_dict("records"),
        "worst_by_delay_increase": flows.nlargest(top, "delay_s_delta")[keep].to_dict("records"),
        "most_loaded_links": links.nlargest(top, "utilization_after").to_dict("records"),
        "sla": {
            "delay_budget_s": budget,
            "violations_before": int((before["delay_s_before"] > budget).sum()),
            "violations_after": int(violating.sum()),
            "new_violations": label[violating & ~(flows["delay_s_before"] > budget)].tolist(),
            "possible_violations_after": int((flows["delay_s_after_hi"] > budget).sum()),
            "certain_violations_after": int((flows["delay_s_after_lo"] > budget).sum()),
        },
    }
    return flows, gone, links, summary


@pytest.mark.parametrize(
    ("perturbation", "kinds"),
    [
        (ScaleTraffic(1.5), set()),
        (FailLink(3, 4, drop_disconnected=True), {"disconnected"}),
        (RemoveFlows(pairs=((0, 1),)) + AddFlows((Flow(1, 4, 2e3, tos=2),)) + FailLink(0, 2), {"removed", "added"}),
        (SetCapacity(0, 1, 5e4), set()),
    ],
    ids=["scale", "drop", "remove-add-reroute", "capacity"],
)
def test_what_if_equals_the_straightforward_construction(perturbation, kinds) -> None:
    topology = Topology.from_edges(
        5, [(0, 1, 1e5), (1, 2, 1e5), (2, 3, 1e5), (3, 0, 1e5), (0, 2, 1e5), (3, 4, 1e5)], port=SP3
    )
    scenario = all_pairs_scenario(topology, max_utilization=0.6, seed=1)
    twin = QueueingTheoryTwin()
    pred = twin.predict(scenario)
    rng = np.random.default_rng(1)
    intervals = calibrate([(scenario, pred, pred * np.exp(rng.normal(0, 0.2, size=pred.shape))) for _ in range(40)])
    budget, top = float(pred["delay_s"].median()), 4
    result = what_if(twin, scenario, perturbation, intervals=intervals, delay_budget_s=budget, top=top)
    flows, gone, links, summary = _reference(twin, scenario, perturbation, intervals, budget, top)
    added = {"added"} if (result.flows["baseline_flow"] < 0).any() else set()
    assert set(result.gone["reason"]) | added == kinds  # the case covers what it is meant to
    pd.testing.assert_frame_equal(result.flows, flows, check_exact=True)
    pd.testing.assert_frame_equal(result.gone, gone, check_exact=True)
    pd.testing.assert_frame_equal(result.links, links, check_exact=True)
    assert _same(result.summary, summary)
    expected = {
        name: json_safe(frame.to_dict("records"))
        for name, frame in (("flows", flows), ("gone", gone), ("links", links))
    }
    answer = result.to_dict()
    assert _same({name: answer[name] for name in expected}, expected)
    assert _same(answer["summary"], json_safe(summary))


def test_checked_perturbation_finds_the_outcome_what_if_would() -> None:
    topology = Topology.from_edges(5, [(0, 1, 1e5), (1, 2, 1e5), (2, 3, 1e5), (3, 0, 1e5), (3, 4, 1e5)], port=SP3)
    topology = Topology(("a", "b", "c", "d", "e"), topology.links)
    scenario = all_pairs_scenario(topology, max_utilization=0.6, seed=1)
    perturbation, outcome = checked_perturbation(
        scenario, scale=1.2, capacities=["a-b=5e4"], fail_links=["d-e"], drop_disconnected=True
    )
    again = perturbation.outcome(scenario)
    assert outcome.scenario == again.scenario and outcome.dropped == again.dropped and outcome.dropped
    np.testing.assert_array_equal(outcome.origin, again.origin)
    twin = QueueingTheoryTwin()
    given = what_if(twin, scenario, perturbation, outcome=outcome, delay_budget_s=0.01)
    found = what_if(twin, scenario, perturbation, delay_budget_s=0.01)
    pd.testing.assert_frame_equal(given.flows, found.flows, check_exact=True)
    assert _same(given.to_dict(), found.to_dict())
