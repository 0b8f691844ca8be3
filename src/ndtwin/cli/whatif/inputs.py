"""What the ``whatif`` commands read from the command line: scenarios, topologies, load lists and perturbations,
with errors in the command line's words (options and node names). The parsing itself is ``ndtwin.whatif.inputs``."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import typer

from ndtwin.errors import ScenarioError, check_number
from ndtwin.generate.topologies import resolve_sources
from ndtwin.scenario import Scenario, Topology
from ndtwin.whatif import inputs
from ndtwin.whatif.perturb import Compose, Outcome

OPTION_NAMES = {
    "scale": "--scale",
    "capacities": "--capacity",
    "weights": "--weight",
    "fail_links": "--fail-link",
    "fail_nodes": "--fail-node",
    "paths": "--path",
    "drop_disconnected": "--drop-disconnected",
}


def load_scenario(path: Path, sample_id: str | None, load: float, seed: int) -> Scenario:
    """A GraphML/GML topology file → all-pairs traffic with the busiest link at ``load`` (the reader's notes printed
    to stderr); a dataset → its first sample, or the one with ``sample_id``."""
    if inputs.is_topology_file(path):
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always")
            scenario = inputs.topology_scenario(path, load=load, seed=seed)
        for note in notes:
            typer.echo(f"note: {note.message}", err=True)
        return scenario
    return inputs.dataset_sample(path, sample_id).scenario


def topology_of(entry: str, seed: int) -> tuple[str, Topology]:
    """A topology file, or ``powerlaw:N`` or ``backbone:N`` (a random graph drawn with ``seed``), with its name."""
    sources = resolve_sources((entry,))
    if len(sources) != 1:
        raise ScenarioError("--topology", "one topology file, powerlaw:N or backbone:N", entry)
    return sources[0].draw(np.random.default_rng(seed))


def parse_loads(text: str) -> tuple[float, ...]:
    """``--loads``: comma-separated busiest-link utilisations."""
    return tuple(check_number("--loads", v, minimum=0, strict=True) for v in text.split(","))


def checked_perturbation(scenario: Scenario, **options: object) -> tuple[Compose, Outcome]:
    """The command-line options (keywords of ``ndtwin.whatif.inputs.checked_perturbation``) as one Perturbation with
    its outcome on ``scenario``; errors name the options."""
    return inputs.checked_perturbation(scenario, **options, names=OPTION_NAMES)  # type: ignore[arg-type]
