"""What-if inputs from plain values (files, ``U-V=VALUE`` strings): the scenario to work on and the perturbation.

Shared by ``ndtwin whatif run`` and the service; errors name the field as the caller calls it (``names``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ndtwin.data.load import open_samples
from ndtwin.data.sample import Sample
from ndtwin.data.topology_io import read_topology
from ndtwin.errors import DatasetError, ScenarioError, check_number
from ndtwin.generate.topologies import TOPOLOGY_SUFFIXES
from ndtwin.scenario import Scenario, Topology
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.whatif.perturb import (
    Compose,
    FailLink,
    FailNode,
    Outcome,
    Perturbation,
    PerturbationError,
    ScaleTraffic,
    SetCapacity,
    SetPath,
    SetWeight,
)

PERTURBATION_FIELDS = ("scale", "capacities", "weights", "fail_links", "fail_nodes", "paths")


def is_topology_file(path: Path) -> bool:
    """Whether ``path`` names a GraphML/GML topology file (by its suffix)."""
    return path.suffix.lower() in TOPOLOGY_SUFFIXES


def topology_scenario(path: Path, *, load: float, seed: int, capacity_bps: float | None = None,
                      max_nodes: int | None = None) -> Scenario:  # fmt: skip
    """All-pairs traffic on the topology file ``path`` with the busiest link at ``load`` (links without a speed get
    ``capacity_bps``, else the reader's default); ScenarioError for a topology of more than ``max_nodes`` nodes. The
    reader's notes are issued as TopologyWarnings."""
    topology = read_topology(path) if capacity_bps is None else read_topology(path, default_capacity_bps=capacity_bps)
    if max_nodes is not None and topology.n_nodes > max_nodes:
        raise ScenarioError("topology", f"at most {max_nodes} nodes (all-pairs traffic)", topology.n_nodes)
    return all_pairs_scenario(topology, max_utilization=load, seed=seed)


def dataset_sample(path: Path, sample_id: str | None) -> Sample:
    """A dataset's first sample, or the one with ``sample_id``."""
    for sample in open_samples(path):
        if sample_id is None or sample.sample_id == sample_id:
            return sample
    raise DatasetError(path, "no samples" if sample_id is None else f"no sample with id {sample_id!r}")


def find_node(text: str, topology: Topology) -> int | None:
    """A node given by name, or by index when no node has that name; None if neither."""
    if text in topology.node_names:
        return topology.node_names.index(text)
    if text.isdigit() and int(text) < topology.n_nodes:
        return int(text)
    return None


def parse_link(text: str, topology: Topology, field: str) -> tuple[str, str]:
    """``U-V`` (node names or indices; names may contain '-') → the node names of the link U → V."""
    names, ends = topology.node_names, None
    for i, char in enumerate(text):
        if char == "-":
            u, v = find_node(text[:i], topology), find_node(text[i + 1 :], topology)
            if u is not None and v is not None:
                if topology.link_id(u, v) is not None:
                    return names[u], names[v]
                ends = ends or (names[u], names[v])
    if ends is not None:
        raise ScenarioError(field, f"a link of the topology, but no link joins {ends[0]} to {ends[1]}", text)
    raise ScenarioError(field, "U-V with two nodes of the topology (names or indices)", text)


def parse_assignment(text: str, topology: Topology, field: str) -> tuple[str, str, float]:
    """``U-V=VALUE`` → (u, v, value)."""
    link, sep, value = text.rpartition("=")
    if not sep:
        raise ScenarioError(field, "U-V=VALUE", text)
    u, v = parse_link(link, topology, field)
    return u, v, check_number(field, value, minimum=0, strict=True)


def build_perturbation(scenario: Scenario, **inputs: Any) -> Compose:
    """The perturbation of ``checked_perturbation`` (same keywords) alone."""
    return checked_perturbation(scenario, **inputs)[0]


def checked_perturbation(scenario: Scenario, *, scale: float | None = None, fail_links: Sequence[str] = (),
                         fail_nodes: Sequence[str] = (), capacities: Sequence[str] = (), weights: Sequence[str] = (),
                         paths: Sequence[str] = (), drop_disconnected: bool = False,
                         names: Mapping[str, str] | None = None) -> tuple[Compose, Outcome]:  # fmt: skip
    """The inputs as one composed Perturbation (in the order: traffic, capacities, weights, failures, paths), each
    step checked on ``scenario`` (a ScenarioError names the input and its value), with its outcome on ``scenario``
    found while checking.

    ``names`` maps the keyword names (``PERTURBATION_FIELDS`` and ``drop_disconnected``) to the names errors use,
    e.g. command-line options; by default errors use the keyword and the index of the bad item (``fail_links[2]``)."""
    topo = scenario.topology

    def field(key: str, index: int | None = None) -> str:
        if names is not None:
            return names.get(key, key)
        return key if index is None else f"{key}[{index}]"

    steps: list[tuple[str, Perturbation]] = []
    if scale is not None:
        steps.append(
            (f"{field('scale')} {scale:g}", ScaleTraffic(check_number(field("scale"), scale, minimum=0, strict=True)))
        )
    for i, text in enumerate(capacities):
        steps.append(
            (f"{field('capacities', i)} {text}", SetCapacity(*parse_assignment(text, topo, field("capacities", i))))
        )
    for i, text in enumerate(weights):
        steps.append((f"{field('weights', i)} {text}", SetWeight(*parse_assignment(text, topo, field("weights", i)))))
    for i, text in enumerate(fail_links):
        link = parse_link(text, topo, field("fail_links", i))
        steps.append((f"{field('fail_links', i)} {text}", FailLink(*link, drop_disconnected=drop_disconnected)))
    for i, node in enumerate(fail_nodes):
        index = find_node(node, topo)
        if index is None:
            raise ScenarioError(field("fail_nodes", i), "a node of the topology (name or index)", node)
        failure = FailNode(topo.node_names[index], drop_disconnected=drop_disconnected)
        steps.append((f"{field('fail_nodes', i)} {node}", failure))
    for i, path in enumerate(paths):
        nodes = [find_node(n.strip(), topo) for n in path.split(",")]
        if any(n is None for n in nodes):
            raise ScenarioError(field("paths", i), "comma-separated nodes of the topology", path)
        steps.append((f"{field('paths', i)} {path}", SetPath(tuple(topo.node_names[n] for n in nodes))))
    if not steps:
        raise ScenarioError("perturbation", "at least one of " + ", ".join(field(k) for k in PERTURBATION_FIELDS))
    outcome = _check_steps(scenario, steps, field("drop_disconnected"))
    return Compose(tuple(step for _, step in steps)), outcome


def _check_steps(scenario: Scenario, steps: list[tuple[str, Perturbation]], drop_name: str) -> Outcome:
    """Apply the steps in order (as ``Compose`` does); the first that cannot be applied raises a ScenarioError
    naming its input."""
    result = Outcome.unchanged_flows(scenario)
    for label, step in steps:
        try:
            result = result.then(step.outcome(result.scenario))
        except PerturbationError as error:
            raise ScenarioError(label, error.expected.replace("drop_disconnected=True", drop_name)) from None
    return result
