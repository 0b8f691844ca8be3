"""The public entry point: simulate a Scenario packet by packet and return a labelled Sample."""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np

from ndtwin.data.sample import Sample
from ndtwin.errors import ScenarioError, check_int, check_number
from ndtwin.scenario import Scenario
from ndtwin.sim import kernel
from ndtwin.sim.labels import flow_labels, link_labels, queue_labels
from ndtwin.sim.plan import build_plan

DEFAULT_PACKETS_PER_FLOW = 1000
SOURCE = "ndtwin-sim"


class RunWindow(NamedTuple):
    """Sources run on ``[0, end_s)``; packets generated from ``warmup_s`` on are measured."""

    warmup_s: float
    end_s: float

    @property
    def measured_s(self) -> float:
        return self.end_s - self.warmup_s


def run_window(scenario: Scenario, packets_per_flow: int | None, duration_s: float | None,
               warmup_fraction: float) -> RunWindow:  # fmt: skip
    """Generation horizon: ``duration_s``, or long enough for the slowest flow to generate about
    ``packets_per_flow`` measured packets (the default when neither is given)."""
    fraction = check_number("warmup_fraction", warmup_fraction, minimum=0)
    if fraction >= 1:
        raise ScenarioError("warmup_fraction", "a fraction in [0, 1)", warmup_fraction)
    if duration_s is not None and packets_per_flow is not None:
        raise ScenarioError("duration_s", "either duration_s or packets_per_flow, not both", duration_s)
    if duration_s is not None:
        end = check_number("duration_s", duration_s, minimum=0, strict=True)
    else:
        wanted = DEFAULT_PACKETS_PER_FLOW if packets_per_flow is None else packets_per_flow
        wanted = check_int("packets_per_flow", wanted, minimum=1)
        if scenario.n_flows == 0:
            raise ScenarioError("traffic.flows", "at least one flow (or give duration_s)")
        slowest = min(flow.pkts_per_s for flow in scenario.traffic.flows)
        end = wanted / slowest / (1.0 - fraction)
    return RunWindow(fraction * end, end)


def simulate(
    scenario: Scenario,
    *,
    packets_per_flow: int | None = None,
    duration_s: float | None = None,
    warmup_fraction: float = 0.1,
    seed: int = 0,
) -> Sample:
    """Simulate ``scenario`` and return its labels (see ``ndtwin.sim.kernel`` for the model).

    Sources generate packets for ``duration_s`` seconds, or long enough for the slowest flow to send about
    ``packets_per_flow`` packets after warm-up. Packets generated during the first ``warmup_fraction`` of
    that time are simulated but not counted; the network then drains so every counted packet is either
    delivered or dropped. Deterministic for a given ``seed``.
    """
    seed = check_int("seed", seed, maximum=2**32 - 1)
    window = run_window(scenario, packets_per_flow, duration_s, warmup_fraction)
    plan = build_plan(scenario)
    expected = int(1.1 * window.measured_s * sum(flow.pkts_per_s for flow in scenario.traffic.flows)) + 1024
    flow_stats, queue_stats, rec_flow, _, rec_delay, _ = kernel.run(
        *plan, window.warmup_s, window.end_s, seed, expected
    )
    return labelled_sample(
        scenario, window, seed, flow_stats, queue_stats, rec_flow, rec_delay, source=SOURCE, id_prefix="sim"
    )


def labelled_sample(
    scenario: Scenario,
    window: RunWindow,
    seed: int,
    flow_stats: np.ndarray,
    queue_stats: np.ndarray,
    rec_flow: np.ndarray,
    rec_delay: np.ndarray,
    *,
    source: str,
    id_prefix: str,
    meta: dict | None = None,
) -> Sample:
    """The Sample of a simulation run from its counters (kernel ``F_*`` / ``Q_*`` columns) and the flow and delay
    of every delivered measured packet; its id is ``<id_prefix>-<scenario digest>-seed<seed>``, and ``meta`` adds
    to the run's id, source, seed and window."""
    span = window.measured_s
    return Sample(
        scenario,
        flow_labels(scenario.n_flows, flow_stats, rec_flow, rec_delay, span),
        link_labels(scenario, queue_stats, span),
        queue_labels(scenario, queue_stats, span),
        meta={
            "sample_id": f"{id_prefix}-{_digest(scenario)}-seed{seed}",
            "source": source,
            "seed": seed,
            "sim_time_s": span,
            "warmup_s": window.warmup_s,
            **(meta or {}),
        },
    )


def _digest(scenario: Scenario) -> str:
    """A short stable fingerprint of the scenario's definition."""
    return hashlib.blake2b(repr(scenario).encode(), digest_size=6).hexdigest()
