"""What the ``whatif`` commands read from the command line: scenarios, topologies, load lists and perturbations,
with errors in the command line's words (options and node names)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import typer

from ndtwin.data.load import open_samples
from ndtwin.data.sample import Sample
from ndtwin.data.topology_io import read_topology
from ndtwin.errors import DatasetError, ScenarioError, check_number
from ndtwin.generate.topologies import TOPOLOGY_SUFFIXES, resolve_sources
from ndtwin.scenario import Scenario, Topology
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.whatif.perturb import (
    Compose,
    FailLink,
    FailNode,
    Perturbation,
    PerturbationError,
    ScaleTraffic,
    SetCapacity,
    SetPath,
    SetWeight,
)


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


def topology_of(entry: str, seed: int) -> tuple[str, Topology]:
    """A topology file, or ``powerlaw:N`` or ``backbone:N`` (a random graph drawn with ``seed``), with its name."""
    sources = resolve_sources((entry,))
    if len(sources) != 1:
        raise ScenarioError("--topology", "one topology file, powerlaw:N or backbone:N", entry)
    return sources[0].draw(np.random.default_rng(seed))


def parse_loads(text: str) -> tuple[float, ...]:
    """``--loads``: comma-separated busiest-link utilisations."""
    return tuple(check_number("--loads", v, minimum=0, strict=True) for v in text.split(","))


def _node(text: str, topology: Topology) -> int | None:
    """A node given by name, or by index when no node has that name; None if neither."""
    if text in topology.node_names:
        return topology.node_names.index(text)
    if text.isdigit() and int(text) < topology.n_nodes:
        return int(text)
    return None


def parse_link(text: str, topology: Topology, option: str) -> tuple[str, str]:
    """``U-V`` (node names or indices; names may contain '-') → the node names of link U → V."""
    names, ends = topology.node_names, None
    for i, char in enumerate(text):
        if char == "-":
            u, v = _node(text[:i], topology), _node(text[i + 1 :], topology)
            if u is not None and v is not None:
                if topology.link_id(u, v) is not None:
                    return names[u], names[v]
                ends = ends or (names[u], names[v])
    if ends is not None:
        raise ScenarioError(option, f"a link of the topology, but no link joins {ends[0]} to {ends[1]}", text)
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
    failures, paths), each step checked on ``scenario``: ScenarioError naming the option and its value."""
    topo = scenario.topology
    steps: list[tuple[str, Perturbation]] = []
    if scale is not None:
        steps.append((f"--scale {scale:g}", ScaleTraffic(check_number("--scale", scale, minimum=0, strict=True))))
    steps += [(f"--capacity {c}", SetCapacity(*parse_assignment(c, topo, "--capacity"))) for c in capacities]
    steps += [(f"--weight {w}", SetWeight(*parse_assignment(w, topo, "--weight"))) for w in weights]
    steps += [
        (f"--fail-link {f}", FailLink(*parse_link(f, topo, "--fail-link"), drop_disconnected=drop_disconnected))
        for f in fail_links
    ]
    for node in fail_nodes:
        index = _node(node, topo)
        if index is None:
            raise ScenarioError("--fail-node", "a node of the topology (name or index)", node)
        steps.append((f"--fail-node {node}", FailNode(topo.node_names[index], drop_disconnected=drop_disconnected)))
    for path in paths:
        nodes = [_node(n.strip(), topo) for n in path.split(",")]
        if any(n is None for n in nodes):
            raise ScenarioError("--path", "comma-separated nodes of the topology", path)
        steps.append((f"--path {path}", SetPath(tuple(topo.node_names[n] for n in nodes))))
    if not steps:
        raise ScenarioError(
            "perturbation", "at least one of --scale, --capacity, --weight, --fail-link, --fail-node, --path"
        )
    _check_steps(scenario, steps)
    return Compose(tuple(step for _, step in steps))


def _check_steps(scenario: Scenario, steps: list[tuple[str, Perturbation]]) -> None:
    """Apply the steps in order; the first that cannot be applied raises a ScenarioError naming its option."""
    for option, step in steps:
        try:
            scenario = step.apply(scenario)
        except PerturbationError as error:
            expected = error.expected.replace("drop_disconnected=True", "--drop-disconnected")
            raise ScenarioError(option, expected) from None
