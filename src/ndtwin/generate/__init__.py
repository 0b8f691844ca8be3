"""Labelled dataset generation at scale: random scenarios drawn from a GenerationSpec, simulated in parallel."""

from ndtwin.generate.run import draw_run_scenario, generate_sample, pending_indices, run_generation, sample_id
from ndtwin.generate.scenario_draw import DrawnScenario, draw_scenario
from ndtwin.generate.spec import GenerationSpec
from ndtwin.generate.topologies import draw_topology, resolve_sources

__all__ = [
    "DrawnScenario",
    "GenerationSpec",
    "draw_run_scenario",
    "draw_scenario",
    "draw_topology",
    "generate_sample",
    "pending_indices",
    "resolve_sources",
    "run_generation",
    "sample_id",
]
