"""Binned split-conformal intervals: size classes, equal scenario weights, and the files they are kept in."""

import json

import numpy as np
import pytest

from ndtwin.errors import DatasetError
from ndtwin.scenario import PortConfig, Scheduling, Topology
from ndtwin.scenario.bounds import flow_bounds
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.twin.catalog import SHIPPED_MODELS
from ndtwin.twin.qt import QueueingTheoryTwin
from ndtwin.whatif.anchor import AnchoredIntervals
from ndtwin.whatif.intervals import Intervals, calibrate, propagation_s

SP3 = PortConfig(Scheduling.SP, buffers=(32, 32, 32), tos_to_queue=(0, 1, 2))
TWIN = QueueingTheoryTwin()


def ring(n: int) -> Topology:
    return Topology.from_edges(n, [(i, (i + 1) % n, 1e5) for i in range(n)], prop_delay_s=0.001, port=SP3)


def coverage_by_size(intervals: Intervals, runs) -> dict[int, float]:
    hits: dict[int, list[np.ndarray]] = {}
    for scenario, pred, truth in runs:
        bounds = intervals.bounds(scenario, pred)
        delay = truth["delay_s"].to_numpy()
        hits.setdefault(scenario.topology.n_nodes, []).append(
            (delay >= bounds["delay_s_lo"].to_numpy()) & (delay <= bounds["delay_s_hi"].to_numpy())
        )
    return {n: float(np.concatenate(h).mean()) for n, h in hits.items()}


def ring_runs(seed: int, sizes: dict[int, float], per_size: int):
    """``(scenario, prediction, truth)`` on rings of the given sizes: truth = prediction · exp(N(0, σ)) on the delay
    beyond propagation (σ per size) and · exp(N(0, 2σ)) on the delay variance."""
    rng = np.random.default_rng(seed)
    runs = []
    for k in range(per_size):
        for n, sigma in sizes.items():
            scenario = all_pairs_scenario(ring(n), max_utilization=rng.uniform(0.3, 0.9), seed=seed * 100 + k)
            pred = TWIN.predict(scenario)
            truth = pred.copy()
            fixed = propagation_s(scenario)
            truth["delay_s"] = fixed + (pred["delay_s"] - fixed) * np.exp(rng.normal(0, sigma, len(pred)))
            truth["delay_var_s2"] = pred["delay_var_s2"] * np.exp(rng.normal(0, 2 * sigma, len(pred)))
            runs.append((scenario, pred, truth))
    return runs


def test_size_classes_give_each_network_size_its_own_quantiles(tmp_path):
    sizes = {5: 0.30, 12: 0.05}
    runs = ring_runs(seed=5, sizes=sizes, per_size=10)
    held_out = ring_runs(seed=6, sizes=sizes, per_size=10)
    by_size = calibrate(runs, edges=(), tos_groups=1, size_edges=(8,))
    assert by_size.n_bins == 2 and by_size.quantiles["delay_s"][0][1] > 3 * by_size.quantiles["delay_s"][1][1]
    covered = coverage_by_size(by_size, held_out)
    assert all(0.85 <= c <= 0.95 for c in covered.values()), covered
    pooled = coverage_by_size(calibrate(runs, edges=(), tos_groups=1), held_out)
    assert pooled[5] < 0.85 and pooled[12] > 0.95, pooled
    assert Intervals.load(by_size.save(tmp_path)) == by_size


def test_every_scenario_weighs_the_same_whatever_its_number_of_flows():
    small, large = ring_runs(seed=7, sizes={5: 0.05}, per_size=20), ring_runs(seed=8, sizes={12: 0.3}, per_size=20)
    # one size class: the 12-node rings have 6.6× the flows of the 5-node ones but count as much
    intervals = calibrate(small + large, edges=(), tos_groups=1, size_edges=())
    covered = coverage_by_size(intervals, ring_runs(seed=9, sizes={5: 0.05, 12: 0.3}, per_size=20))
    assert covered[5] > 0.97 and covered[12] < 0.85, covered  # flow weights would give the 12-node rings ~0.88


def test_shipped_interval_files_load():
    default = SHIPPED_MODELS / "default"
    intervals = Intervals.load(default / "intervals.json")  # version 4
    assert intervals.size_edges == (15,) and intervals.tos_groups == 3 and intervals.n_bins == 24
    anchored = AnchoredIntervals.load(default / "intervals_anchored.json")  # version 2, intervals of version 5
    assert anchored.intervals.size_edges == (15,) and set(anchored.spread_reference) == {"delay_s", "delay_var_s2"}


def test_old_files_load_and_retired_variants_are_refused(tmp_path):
    runs = ring_runs(seed=1, sizes={5: 0.1}, per_size=4)
    current = calibrate(runs, provenance={"data": "synthetic"})
    path = current.save(tmp_path)
    assert Intervals.load(path) == current
    data = json.loads(path.read_text())
    old = {k: v for k, v in data.items() if k not in ("version", "size_edges")}  # version 1: one size class
    old["quantiles"] = {m: q[: len(q) // 2] for m, q in old["quantiles"].items()}
    path.write_text(json.dumps(old))
    assert Intervals.load(path).size_edges == () and Intervals.load(path).n_bins == current.n_bins // 2
    path.write_text(json.dumps({**data, "version": 4, "scales": {}, "spread": None, "load_edges": []}))
    assert Intervals.load(path) == current  # empty fields of retired variants: accepted
    path.write_text(json.dumps({**data, "version": 6}))
    with pytest.raises(DatasetError, match="intervals.json: version: expected 1 to 5, got 6"):
        Intervals.load(path)
    for name, value in (("scales", {"delay_s": {}}), ("spread", {"floor": 0.1}), ("load_edges", [0.5])):
        path.write_text(json.dumps({**data, name: value}))
        with pytest.raises(DatasetError, match=f"intervals.json: {name}: .* no longer supported"):
            Intervals.load(path)
    path.write_text(json.dumps({**data, "quantiles": {"delay_s": [[-0.1, 0.1]]}}))
    with pytest.raises(DatasetError, match=r"quantiles.delay_s: expected 24 bins, got 1"):
        Intervals.load(path)


def test_calibrate_help_fits_on_one_screen():
    from typer.testing import CliRunner

    from ndtwin.cli.main import app

    result = CliRunner().invoke(app, ["whatif", "calibrate", "--help"], env={"COLUMNS": "120", "TERMINAL_WIDTH": "120"})
    assert result.exit_code == 0 and "--coverage" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 120
    assert len(result.output.splitlines()) <= 40
    for retired in ("--adaptive", "--cross-fit", "--spread-model", "--size-edges", "--load-edges", "--equal-scenarios"):
        assert retired not in result.output


def test_upper_ends_never_exceed_the_physical_bounds():
    fifo_ring = Topology.from_edges(6, [(i, (i + 1) % 6, 1e5) for i in range(6)], prop_delay_s=0.001)
    runs = []
    for k, sigma in enumerate((3.0, 3.0, 3.0)):  # residuals far wider than any buffer allows
        scenario = all_pairs_scenario(fifo_ring, max_utilization=0.8, seed=k)
        pred = TWIN.predict(scenario)
        truth = pred.copy()
        fixed = propagation_s(scenario)
        rng = np.random.default_rng(k)
        truth["delay_s"] = fixed + (pred["delay_s"] - fixed) * np.exp(rng.normal(0, sigma, len(pred)))
        truth["delay_var_s2"] = pred["delay_var_s2"] * np.exp(rng.normal(0, sigma, len(pred)))
        runs.append((scenario, pred, truth))
    intervals = calibrate(runs, edges=(), tos_groups=1, size_edges=())
    scenario, pred, _ = runs[0]
    physical = flow_bounds(scenario)
    unbounded = propagation_s(scenario) + (pred["delay_s"] - propagation_s(scenario)) * np.exp(
        intervals.quantiles["delay_s"][0][1]
    )
    assert (unbounded > physical.delay_s).any()  # the cap is exercised
    got = intervals.bounds(scenario, pred)
    for metric, ceiling in (("delay_s", physical.delay_s), ("delay_var_s2", physical.delay_var_s2)):
        assert (got[f"{metric}_hi"] <= ceiling * (1 + 1e-12)).all()
        assert (got[f"{metric}_hi"] >= pred[metric]).all()
