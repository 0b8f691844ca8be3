"""``ndtwin whatif``: what-if analysis (``run``), its trust validation (``validate``) and interval calibration
(``calibrate``)."""

from __future__ import annotations

import dataclasses
import json
import sys
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import typer

from ndtwin.cli.common import fail
from ndtwin.cli.progress import console
from ndtwin.data.load import open_samples
from ndtwin.data.sample import Sample
from ndtwin.data.topology_io import read_topology
from ndtwin.errors import DatasetError, ScenarioError, check_int, check_number
from ndtwin.generate.topologies import TOPOLOGY_SUFFIXES, resolve_sources
from ndtwin.scenario import Scenario, Topology
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.twin.catalog import SHIPPED, SHIPPED_MODELS, load_twin
from ndtwin.whatif.perturb import Compose, FailLink, FailNode, ScaleTraffic, SetCapacity, SetPath, SetWeight
from ndtwin.whatif.validate import REFERENCE_PACKETS

whatif_app = typer.Typer(no_args_is_help=True, help="What-if analysis and trust validation.")


def load_scenario(path: Path, sample_id: str | None, load: float, seed: int) -> Scenario:
    """A GraphML/GML topology file → all-pairs traffic with the busiest link at ``load``; a dataset → its first
    sample, or the one with ``sample_id``."""
    if path.suffix.lower() in TOPOLOGY_SUFFIXES:
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always")
            topology = read_topology(path)
        for note in notes:
            typer.echo(f"note: {note.message}", err=True)
        return all_pairs_scenario(topology, max_utilization=load, seed=seed)
    return dataset_sample(path, sample_id).scenario


def dataset_sample(path: Path, sample_id: str | None) -> Sample:
    """A dataset's first sample, or the one with ``sample_id``."""
    for sample in open_samples(path):
        if sample_id is None or sample.sample_id == sample_id:
            return sample
    raise DatasetError(path, "no samples" if sample_id is None else f"no sample with id {sample_id!r}")


def _node(text: str, topology: Topology) -> int | None:
    """A node given by name, or by index when no node has that name; None if neither."""
    if text in topology.node_names:
        return topology.node_names.index(text)
    if text.isdigit() and int(text) < topology.n_nodes:
        return int(text)
    return None


def parse_link(text: str, topology: Topology, option: str) -> tuple[str, str]:
    """``U-V`` (node names or indices; names may contain '-') → node names."""
    for i, char in enumerate(text):
        if char == "-":
            u, v = _node(text[:i], topology), _node(text[i + 1 :], topology)
            if u is not None and v is not None:
                return topology.node_names[u], topology.node_names[v]
    raise ScenarioError(option, "U-V with two nodes of the topology (names or indices)", text)


def parse_assignment(text: str, topology: Topology, option: str) -> tuple[str, str, float]:
    """``U-V=VALUE`` → (u, v, value)."""
    link, sep, value = text.rpartition("=")
    if not sep:
        raise ScenarioError(option, "U-V=VALUE", text)
    u, v = parse_link(link, topology, option)
    return u, v, check_number(option, value, minimum=0, strict=True)


def build_perturbation(scenario: Scenario, *, scale: float | None, fail_links: list[str], fail_nodes: list[str],
                       capacities: list[str], weights: list[str], paths: list[str],
                       drop_disconnected: bool) -> Compose:  # fmt: skip
    """The command-line options as one composed Perturbation (in the order: traffic, capacities, weights,
    failures, paths)."""
    topo = scenario.topology
    steps = [ScaleTraffic(scale)] if scale is not None else []
    steps += [SetCapacity(*parse_assignment(c, topo, "--capacity")) for c in capacities]
    steps += [SetWeight(*parse_assignment(w, topo, "--weight")) for w in weights]
    steps += [FailLink(*parse_link(f, topo, "--fail-link"), drop_disconnected=drop_disconnected) for f in fail_links]
    for node in fail_nodes:
        index = _node(node, topo)
        if index is None:
            raise ScenarioError("--fail-node", "a node of the topology (name or index)", node)
        steps.append(FailNode(topo.node_names[index], drop_disconnected=drop_disconnected))
    for path in paths:
        nodes = [_node(n.strip(), topo) for n in path.split(",")]
        if any(n is None for n in nodes):
            raise ScenarioError("--path", "comma-separated nodes of the topology", path)
        steps.append(SetPath(tuple(topo.node_names[n] for n in nodes)))
    if not steps:
        raise ScenarioError(
            "perturbation", "at least one of --scale, --capacity, --weight, --fail-link, --fail-node, --path"
        )
    return Compose(tuple(steps))


@whatif_app.command("run")
def run_command(
    source: Path = typer.Argument(..., help="A native dataset, a datanetAPI tree, or a GraphML/GML topology file."),
    model: str = typer.Option(
        "default", "--model", "-m", help="'qt', 'default', 'attention', 'testbed' or a model directory."
    ),
    sample: str | None = typer.Option(None, "--sample", help="Sample id in a dataset (default: the first)."),
    load: float = typer.Option(
        0.7, "--load", help="Topology file: busiest link's utilisation of the all-pairs traffic."
    ),
    seed: int = typer.Option(0, "--seed", help="Topology file: seed of the all-pairs traffic."),
    scale: float | None = typer.Option(None, "--scale", help="Multiply every flow's rate."),
    fail_links: list[str] = typer.Option([], "--fail-link", help="Fail link U-V (both directions); repeatable."),
    fail_nodes: list[str] = typer.Option([], "--fail-node", help="Fail a node; repeatable."),
    capacities: list[str] = typer.Option([], "--capacity", help="U-V=BPS: set a link's capacity; repeatable."),
    weights: list[str] = typer.Option([], "--weight", help="U-V=W: set a link's routing weight; repeatable."),
    paths: list[str] = typer.Option([], "--path", help="A,B,C: explicit path of the A→C flows; repeatable."),
    drop_disconnected: bool = typer.Option(False, "--drop-disconnected", help="Drop flows a failure disconnects."),
    budget_ms: float | None = typer.Option(None, "--budget-ms", help="Delay budget for SLA violation counts."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    png: Path | None = typer.Option(None, "--png", help="Also write a figure to this PNG file."),
    top: int = typer.Option(5, "--top", help="Flows and links listed in the summary."),
    anchored: bool = typer.Option(
        False,
        "--anchored",
        help="Dataset sample: take its per-flow labels as the "
        "measured baseline and anchor the predictions after the change on them (needs a "
        "model with intervals_anchored.json).",
    ),
) -> None:
    """Predict per-flow delay, jitter and loss before and after a change, with 90 % intervals when the model has
    calibrated ones; with --anchored, start from the sample's measured values instead of predicting them."""
    from ndtwin.whatif.analysis import what_if
    from ndtwin.whatif.report import plot_png, render_table, to_json

    try:
        if anchored and source.suffix.lower() in TOPOLOGY_SUFFIXES:
            raise ScenarioError(
                "--anchored",
                "a dataset whose sample carries measured per-flow delay, jitter and loss (not a topology file)",
                str(source),
            )
        measured_sample = dataset_sample(source, sample) if anchored else None
        scenario = measured_sample.scenario if measured_sample else load_scenario(source, sample, load, seed)
        perturbation = build_perturbation(
            scenario,
            scale=scale,
            fail_links=fail_links,
            fail_nodes=fail_nodes,
            capacities=capacities,
            weights=weights,
            paths=paths,
            drop_disconnected=drop_disconnected,
        )
        budget = None if budget_ms is None else check_number("--budget-ms", budget_ms, minimum=0, strict=True) / 1e3
        result = what_if(
            load_twin(model),
            scenario,
            perturbation,
            delay_budget_s=budget,
            top=top,
            measured=measured_sample.flow_labels if measured_sample else None,
        )
    except (DatasetError, ScenarioError) as error:
        fail(error)
    if png is not None:
        plot_png(result, png)
    if as_json:
        sys.stdout.write(to_json(result) + "\n")
        return
    console.print(render_table(result))
    if png is not None:
        console.print(f"plot: {png}")


def topology_of(entry: str, seed: int) -> tuple[str, Topology]:
    """A topology file, or ``powerlaw:N`` or ``backbone:N`` (a random graph drawn with ``seed``), with its name."""
    sources = resolve_sources((entry,))
    if len(sources) != 1:
        raise ScenarioError("--topology", "one topology file, powerlaw:N or backbone:N", entry)
    return sources[0].draw(np.random.default_rng(seed))


def _loads(text: str) -> tuple[float, ...]:
    return tuple(check_number("--loads", v, minimum=0, strict=True) for v in text.split(","))


Edge = TypeVar("Edge", int, float)


def _class_edges(option: str, text: str, value: Callable[[str, str], Edge], expected: str) -> tuple[Edge, ...]:
    """Comma-separated class edges (empty: none), each checked by ``value(option, item)``; ScenarioError naming
    ``option`` unless they increase."""
    edges = tuple(value(option, item) for item in text.split(",") if item.strip())
    if list(edges) != sorted(set(edges)):
        raise ScenarioError(option, f"increasing {expected}", text)
    return edges


@whatif_app.command("validate")
def validate_command(
    topology: str = typer.Option(
        ..., "--topology", help="A GraphML/GML file, powerlaw:N or backbone:N (drawn with --seed)."
    ),
    models: list[str] = typer.Option(["default"], "--model", "-m", help="Model(s) to score; repeat to compare."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    out: Path | None = typer.Option(None, "--out", help="Model directory to write grade.json into (one model)."),
    per_type: int = typer.Option(2, "--per-type", help="Perturbations of each kind per baseline."),
    loads: str = typer.Option("0.5,0.8", "--loads", help="Busiest-link utilisations of the baselines."),
    packets: int = typer.Option(400, "--packets", help="Simulated packets per flow."),
    reference_packets: int = typer.Option(
        REFERENCE_PACKETS,
        "--reference-packets",
        help="Packets per flow of the reference runs interval coverage is judged "
        "against (0: judge it against the --packets runs).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the suite (traffic, perturbations, simulator)."),
    workers: int = typer.Option(1, "--workers", help="Simulation processes."),
    suite_cache: Path | None = typer.Option(
        None,
        "--suite-cache",
        help="Directory keeping simulated suites: a suite simulated before with the same settings is read from it.",
    ),
    excellent_mae: float = typer.Option(0.25, help="Largest relative delta MAE for Excellent."),
    excellent_r2: float = typer.Option(0.9, help="Smallest delta R² for Excellent."),
    good_mae: float = typer.Option(0.5, help="Largest relative delta MAE for Good."),
    good_r2: float = typer.Option(0.7, help="Smallest delta R² for Good."),
) -> None:
    """Simulate a suite of perturbations on a topology and score how well models predict the changes."""
    from ndtwin.whatif.grade import GradeBounds, grade, write_grade
    from ndtwin.whatif.report import trust_table
    from ndtwin.whatif.suite_cache import cached_suite
    from ndtwin.whatif.validate import score_twin

    try:
        if out is not None and len(models) != 1:
            raise ScenarioError("--out", "exactly one --model to grade", models)
        bounds = GradeBounds(excellent_mae, excellent_r2, good_mae, good_r2)
        twins = [load_twin(m) for m in models]
        name, topo = topology_of(topology, seed)
        with console.status(f"simulating the what-if suite on {name}…"):
            suite, _ = cached_suite(
                suite_cache,
                topo,
                per_type=per_type,
                loads=_loads(loads),
                seed=seed,
                packets_per_flow=packets,
                workers=workers,
                name=name,
                reference_packets=reference_packets or None,
            )
        reports = [score_twin(twin, suite) for twin in twins]
        if out is not None:
            write_grade(out, reports[0], bounds)
    except (DatasetError, ScenarioError) as error:
        fail(error)
    results = [{**r.to_dict(), "grade": grade(r, bounds)} for r in reports]
    if as_json:
        print(json.dumps(results[0] if len(results) == 1 else {"models": results}))
        return
    for report, result in zip(reports, results):
        console.print(trust_table(report, result["grade"]))
    if out is not None:
        console.print(f"grade written to {out / 'grade.json'}")


@whatif_app.command("calibrate")
def calibrate_command(
    model: str = typer.Argument(
        ..., help="'default', 'attention', 'testbed' or a model directory: intervals.json goes there."
    ),
    topologies: list[str] = typer.Option(
        ...,
        "--topology",
        help="Calibration topology (file, powerlaw:N or backbone:N); repeatable. Must not be one the model trained on.",
    ),
    per_type: int = typer.Option(2, "--per-type", help="Perturbations of each kind per baseline."),
    loads: list[str] = typer.Option(
        ["0.3,0.5,0.7,0.9"],
        "--loads",
        help="Busiest-link utilisations of the "
        "baselines; repeat for one more suite per topology at other loads, e.g. "
        "--loads 0.3,0.5,0.7,0.9 --loads 0.4,0.6,0.8.",
    ),
    packets: int = typer.Option(400, "--packets", help="Simulated packets per flow."),
    seed: int = typer.Option(1, "--seed", help="Seed of the calibration suites."),
    workers: int = typer.Option(1, "--workers", help="Simulation processes."),
    suite_cache: Path | None = typer.Option(
        None,
        "--suite-cache",
        help="Directory keeping simulated suites: a suite simulated before with the same settings is read from it.",
    ),
    coverage: float = typer.Option(0.9, "--coverage", help="Target coverage of the intervals."),
    adaptive: bool = typer.Option(
        False,
        "--adaptive/--binned",
        help="Adaptive: normalised conformal intervals "
        "(a per-flow difficulty model fitted on every other --topology, quantiles on the "
        "rest; file version 2). Binned: one width per utilisation × ToS bin (version 1; "
        "the shipped intervals).",
    ),
    cross_fit: bool = typer.Option(
        False,
        "--cross-fit/--halves",
        help="Adaptive: scale each --topology's residuals "
        "by a difficulty model fitted on all the others (and store one fitted on all), or "
        "fit it on every other --topology and take the quantiles on the rest.",
    ),
    bins: bool = typer.Option(
        True, "--bins/--no-bins", help="Take quantiles per utilisation × ToS bin (always on with --binned)."
    ),
    size_edges: str = typer.Option(
        "",
        "--size-edges",
        help="Node counts splitting the bins into network-size classes, e.g. 15,32 (file version 3); empty: one class.",
    ),
    load_edges: str = typer.Option(
        "",
        "--load-edges",
        help="Busiest-link utilisations splitting the bins into "
        "network-load classes, e.g. 0.35,0.45,…,0.85 (file version 5); empty: one class.",
    ),
    equal_scenarios: bool = typer.Option(
        False,
        "--equal-scenarios/--equal-flows",
        help="Weight every calibration scenario equally, or every calibration flow (the shipped intervals).",
    ),
    spread_model: Path | None = typer.Option(
        None,
        "--spread-model",
        help="A second model trained like this one "
        "(e.g. another ensemble member): the delay intervals widen where the "
        "two disagree (binned only; file version 4). Copied into the model "
        "directory as spread-model/.",
    ),
    spread_floor: float = typer.Option(
        0.01,
        "--spread-floor",
        help="With --spread-model: added to every flow's "
        "disagreement, as a share of its median on the calibration flows.",
    ),
    anchor_spread: bool = typer.Option(
        True,
        "--anchor-spread/--anchor-fixed",
        help="Anchored intervals: widths "
        "that scale with the twin's residuals on the measured baseline (the shipped "
        "ones), or one width per bin.",
    ),
) -> None:
    """Calibrate split-conformal intervals of a model on simulated what-if suites and store them with it
    (intervals.json), and binned ones for answers anchored on a measured baseline (intervals_anchored.json; each
    baseline's repeat run, with a seed of its own, stands in for the measurement)."""
    from ndtwin.whatif.anchor import AnchorCase, calibrate_anchored
    from ndtwin.whatif.intervals import DEFAULT_EDGES, DEFAULT_TOS_GROUPS, calibrate
    from ndtwin.whatif.spread import SpreadScale, install_second_model
    from ndtwin.whatif.suite_cache import cached_suite
    from ndtwin.whatif.validate import suite_samples

    model_dir = SHIPPED_MODELS / model if model in SHIPPED else Path(model)
    try:
        sizes = _class_edges(
            "--size-edges", size_edges, lambda name, v: check_int(name, v, minimum=1), "node counts, e.g. 15,32"
        )
        network_loads = _class_edges(
            "--load-edges",
            load_edges,
            lambda name, v: check_number(name, v, minimum=0, strict=True),
            "utilisations, e.g. 0.4,0.6,0.8",
        )
        load_sets = [_loads(text) for text in loads]
        if len(set(load_sets)) != len(load_sets):  # the same suite twice would count its flows twice
            raise ScenarioError("--loads", "different load sets when repeated", loads)
        if spread_model is not None and (adaptive or not spread_model.is_dir()):
            raise ScenarioError("--spread-model", "a model directory, with --binned intervals", str(spread_model))
        twin = load_twin(str(model_dir))
        runs, groups, used, anchor_cases, anchor_truths = [], [], [], [], []
        for k, entry in enumerate(topologies):
            name, topo = topology_of(entry, seed + k)
            for load_set in load_sets:
                with console.status(f"simulating the calibration suite on {name}…"):
                    suite, _ = cached_suite(
                        suite_cache,
                        topo,
                        per_type=per_type,
                        loads=load_set,
                        seed=seed + k,
                        packets_per_flow=packets,
                        workers=workers,
                        name=name,
                        reference_packets=None,
                    )
                samples = suite_samples(suite)
                predictions = [twin.predict(s.scenario) for s in samples]
                runs += [(s.scenario, p, s.flow_labels) for s, p in zip(samples, predictions)]
                groups += [k] * len(samples)
                first_case = 2 * len(suite.baselines)  # suite_samples: baselines, repeats, cases
                for case, prediction in zip(suite.cases, predictions[first_case:]):
                    b = case.baseline
                    anchor_cases.append(
                        AnchorCase(
                            suite.baselines[b].scenario,
                            predictions[b],
                            suite.repeats[b].flow_labels,
                            case.sample.scenario,
                            prediction,
                            case.origin,
                        )
                    )
                    anchor_truths.append(case.sample.flow_labels)
            used.append({"topology": entry, "name": name, "seed": seed + k})
        trained = (
            json.loads((model_dir / "provenance.json").read_text()) if (model_dir / "provenance.json").is_file() else {}
        )
        provenance = {
            "method": (
                (
                    "normalised conformal, cross-fitted: each --topology's residuals divided by a log-linear "
                    "difficulty model fitted on the other ones, quantiles on all, stored model fitted on all"
                    if cross_fit
                    else "normalised split conformal: log-linear difficulty model fitted on the 1st, 3rd, … --topology, "
                    "quantiles of residual / difficulty on the 2nd, 4th, …"
                )
                if adaptive
                else "split conformal, residual quantiles per path-utilisation × ToS bin"
            )
            + (f", bins split by network size at {', '.join(map(str, sizes))} nodes" if sizes else "")
            + (
                f", bins split by busiest-link utilisation at {', '.join(map(str, network_loads))}"
                if network_loads
                else ""
            )
            + (", every scenario weighted equally" if equal_scenarios else "")
            + (
                f", delay residuals divided by the disagreement with a second model ({spread_model}) + {spread_floor} × "
                "its median"
                if spread_model
                else ""
            ),
            "model_trained_with": trained.get("command"),
            "calibration_suites": used,
            "loads": [list(load_set) for load_set in load_sets],  # one suite per topology and load set
            "per_type": per_type,
            "packets_per_flow": packets,
            "n_scenarios": len(runs),
            "n_flows": int(sum(len(r[2]) for r in runs)),
            "command": f"ndtwin whatif calibrate {model} "
            + " ".join(f"--topology {t}" for t in topologies)
            + f" --per-type {per_type} "
            + " ".join(f"--loads {text}" for text in loads)
            + f" --packets {packets} --seed {seed} --coverage {coverage}"
            + (" --adaptive" + (" --cross-fit" if cross_fit else " --halves") if adaptive else " --binned")
            + (" --bins" if bins else " --no-bins")
            + (" --equal-scenarios" if equal_scenarios else " --equal-flows")
            + (f" --size-edges {','.join(map(str, sizes))}" if sizes else "")
            + (f" --load-edges {','.join(map(str, network_loads))}" if network_loads else "")
            + (f" --spread-model {spread_model} --spread-floor {spread_floor}" if spread_model else "")
            + (" --anchor-spread" if anchor_spread else " --anchor-fixed"),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        binned = bins or not adaptive
        intervals = calibrate(
            runs,
            coverage=coverage,
            provenance=provenance,
            adaptive=adaptive,
            groups=groups,
            equal_scenarios=equal_scenarios,
            cross_fit=cross_fit,
            size_edges=sizes,
            load_edges=network_loads,
            edges=DEFAULT_EDGES if binned else (),
            tos_groups=DEFAULT_TOS_GROUPS if binned else 1,
            spread_model=spread_model,
            spread_floor=spread_floor,
        )
        if intervals.spread is not None:  # the second model moves in with the intervals, once they are calibrated
            moved = SpreadScale(intervals.spread.floor, install_second_model(spread_model, model_dir))
            intervals = dataclasses.replace(intervals, spread=moved)
        anchored_provenance = {
            **provenance,
            "method": "answers anchored on the measured baseline (see ndtwin.whatif.anchor), split conformal, "
            "residual quantiles per path-utilisation × ToS bin"
            + (f", bins split by network size at {', '.join(map(str, sizes))} nodes" if sizes else "")
            + (
                f", bins split by busiest-link utilisation at {', '.join(map(str, network_loads))}"
                if network_loads
                else ""
            )
            + (", every scenario weighted equally" if equal_scenarios else "")
            + (", widths scaled by the twin's residual spread on the measured baseline" if anchor_spread else ""),
            "measurement": f"each baseline's repeat run ({packets} packets of the slowest flow, a seed of its own)",
            "n_scenarios": len(anchor_cases),
            "n_flows": int(sum(len(t) for t in anchor_truths)),
        }
        anchored = calibrate_anchored(
            anchor_cases,
            anchor_truths,
            scale_by_spread=anchor_spread,
            coverage=coverage,
            provenance=anchored_provenance,
            equal_scenarios=equal_scenarios,
            size_edges=sizes,
            load_edges=network_loads,
        )
        path = intervals.save(model_dir)
        anchored_path = anchored.save(model_dir)
    except (DatasetError, ScenarioError) as error:
        fail(error)
    console.print(f"wrote {path} ({provenance['n_scenarios']} simulated scenarios, {provenance['n_flows']} flows)")
    console.print(
        f"wrote {anchored_path} (anchoring weights "
        + ", ".join(f"{m} {w:.2f}" for m, w in anchored.weights.items())
        + ")"
    )
