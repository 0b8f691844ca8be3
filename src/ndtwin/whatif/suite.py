"""What-if suites: baseline scenarios on a topology and perturbed versions of them, all simulated.

``build_suite`` draws baseline scenarios on a topology (traffic, capacities and ports like ``ndtwin generate``, at
several loads), perturbs each in every family (traffic up/down, link failure, capacity change, weight change,
port scheduling/buffer change) and simulates everything. Every baseline is simulated twice with different seeds
(the repeat measures the simulator's noise). With reference runs, every baseline and case is simulated once more,
with an independent seed, long enough for ``reference_packets`` packets of the baseline's slowest flow
(REFERENCE_PACKETS by default, 4× the suite's runs): ``ndtwin.whatif.validate`` judges interval coverage against
them; and every baseline once more for that time, with a seed of its own, standing in for the measured baseline
anchored answers (``ndtwin.whatif.anchor``) start from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ndtwin.data.sample import Sample
from ndtwin.errors import ScenarioError, check_int, check_number
from ndtwin.generate.scenario_draw import draw_scenario
from ndtwin.generate.spec import GenerationSpec
from ndtwin.parallel import ordered_map
from ndtwin.scenario import Scenario, Topology
from ndtwin.sim import simulate
from ndtwin.sim.simulate import run_window
from ndtwin.whatif.perturb import (
    FailLink,
    Perturbation,
    PerturbationError,
    ScaleTraffic,
    SetCapacity,
    SetPort,
    SetWeight,
)

DEFAULT_LOADS = (0.5, 0.8)
WARMUP_FRACTION = 0.1  # simulate()'s default
REPEAT_SEED_OFFSET = 7919  # simulator seed offset of the repeated baseline runs
REFERENCE_SEED_OFFSET = 104729  # simulator seed offset of the reference runs coverage is judged against
MEASUREMENT_SEED_OFFSET = 1299709  # simulator seed offset of the baseline runs anchored answers start from
REFERENCE_PACKETS = 1600  # packets per flow of the reference runs coverage is judged against
PERTURBATION_KINDS = ("traffic_scale", "link_failure", "capacity_change", "weight_change", "port_change")


@dataclass(frozen=True)
class SuiteCase:
    """One perturbed scenario, simulated; ``baseline`` indexes ``Suite.baselines``, ``origin`` maps its flows to
    the baseline's (−1: no baseline flow)."""

    kind: str
    description: str
    baseline: int
    sample: Sample
    origin: np.ndarray


@dataclass(frozen=True)
class Suite:
    """Simulated baselines, their repeats with another simulator seed, perturbed cases, the reference runs
    of the baselines and cases (in that order) and the baselines' measurement runs, as long as their references
    with a seed of their own (both empty without reference runs)."""

    name: str
    baselines: tuple[Sample, ...]
    repeats: tuple[Sample, ...]
    cases: tuple[SuiteCase, ...]
    seed: int
    packets_per_flow: int
    references: tuple[Sample, ...] = ()
    reference_packets: int | None = None
    measurements: tuple[Sample, ...] = ()


def suite_samples(suite: Suite) -> list[Sample]:
    """Every simulated scenario of a suite: baselines, repeats and perturbed cases."""
    return [*suite.baselines, *suite.repeats, *(case.sample for case in suite.cases)]


def _simulate_job(job: tuple[Scenario, float, int]) -> Sample:
    scenario, duration_s, seed = job
    return simulate(scenario, duration_s=duration_s, seed=seed)


def suite_perturbations(scenario: Scenario, per_type: int, rng: np.random.Generator) -> list[Perturbation]:
    """``per_type`` perturbations of each kind in PERTURBATION_KINDS on links that carry traffic, alternating
    between making things worse and better (e.g. traffic ×1.25 / ×0.75, capacity ×0.5 / ×2)."""
    topo = scenario.topology
    used = np.unique(scenario.hops.link)
    physical = sorted({(min(topo.src[i], topo.dst[i]), max(topo.src[i], topo.dst[i])) for i in used})
    picks = [physical[i] for i in rng.permutation(len(physical))]
    perturbations: list[Perturbation] = []
    for k in range(per_type):
        worse = k % 2 == 0
        perturbations.append(ScaleTraffic(1.25 if worse else 0.75))
        failure = next(
            (FailLink(int(u), int(v)) for u, v in picks if _keeps_routes(FailLink(int(u), int(v)), scenario)), None
        )
        if failure is not None:
            perturbations.append(failure)
        u, v = (int(n) for n in picks[0])
        perturbations.append(SetCapacity(u, v, topo.links[topo.link_id(u, v)].capacity_bps * (0.5 if worse else 2.0)))
        u, v = (int(n) for n in picks[1 % len(picks)])
        perturbations.append(SetWeight(u, v, topo.links[topo.link_id(u, v)].weight * (4.0 if worse else 0.25)))
        perturbations.append(SetPort(buffer_scale=0.5) if worse else SetPort(scheduling="FIFO"))
        picks = picks[1:] + picks[:1]
    return perturbations


def _keeps_routes(failure: FailLink, scenario: Scenario) -> bool:
    try:
        failure.apply(scenario)
    except PerturbationError:
        return False
    return True


def build_suite(
    topology: Topology,
    *,
    per_type: int = 2,
    loads: Sequence[float] = DEFAULT_LOADS,
    seed: int = 0,
    packets_per_flow: int = 400,
    workers: int = 1,
    name: str = "suite",
    reference_packets: int | None = REFERENCE_PACKETS,
) -> Suite:
    """Baselines on ``topology`` (one per load: traffic, capacities and ports drawn as ``ndtwin generate`` does,
    rates scaled so the busiest link's utilisation is the load), ``per_type`` perturbations of each kind per
    baseline. Everything is simulated for the time the baseline needs for ``packets_per_flow`` packets of its slowest
    flow; a baseline and its perturbations share that time and a simulator seed, and each baseline is also
    re-simulated with another seed to measure the simulator's noise. With ``reference_packets``, every baseline
    and case is also simulated, with an independent seed, for the time the baseline needs for that many packets
    of its slowest flow: the reference interval coverage is judged against; every baseline once more for that time,
    with a seed of its own: the measurement anchored answers start from."""
    per_type = check_int("per_type", per_type, minimum=1)
    packets_per_flow = check_int("packets_per_flow", packets_per_flow, minimum=1)
    if reference_packets is not None:
        reference_packets = check_int("reference_packets", reference_packets, minimum=1)
    if not loads:
        raise ScenarioError("loads", "at least one busiest-link utilisation")
    rng = np.random.default_rng(seed)
    baselines, cases = [], []
    for i, load in enumerate(loads):
        check_number(f"loads[{i}]", load, minimum=0, strict=True)
        drawn = draw_scenario(topology, GenerationSpec(), rng)
        scenario = replace(drawn.scenario, traffic=drawn.scenario.traffic.scaled(load / drawn.intensity))
        baselines.append(scenario)
        for p in suite_perturbations(scenario, per_type, rng):
            outcome = p.outcome(scenario)
            cases.append((p.kind, p.describe(), i, outcome.scenario, outcome.origin))
    sim_seeds = [seed * 1000 + i for i in range(len(baselines))]
    durations = [run_window(s, packets_per_flow, None, WARMUP_FRACTION).end_s for s in baselines]
    jobs = [(s, durations[i], sim_seeds[i]) for i, s in enumerate(baselines)]
    jobs += [(s, durations[i], sim_seeds[i] + REPEAT_SEED_OFFSET) for i, s in enumerate(baselines)]
    jobs += [(c[3], durations[c[2]], sim_seeds[c[2]]) for c in cases]
    if reference_packets is not None:
        long = [run_window(s, reference_packets, None, WARMUP_FRACTION).end_s for s in baselines]
        jobs += [(s, long[i], sim_seeds[i] + REFERENCE_SEED_OFFSET) for i, s in enumerate(baselines)]
        jobs += [(c[3], long[c[2]], sim_seeds[c[2]] + REFERENCE_SEED_OFFSET) for c in cases]
        jobs += [(s, long[i], sim_seeds[i] + MEASUREMENT_SEED_OFFSET) for i, s in enumerate(baselines)]
    samples = [sample for _, sample in ordered_map(_simulate_job, jobs, workers=workers)]
    n, scored = len(baselines), len(baselines) + len(cases)
    return Suite(
        name=name,
        baselines=tuple(samples[:n]),
        repeats=tuple(samples[n : 2 * n]),
        cases=tuple(
            SuiteCase(kind, text, b, sample, origin)
            for (kind, text, b, _, origin), sample in zip(cases, samples[2 * n : n + scored])
        ),
        seed=seed,
        packets_per_flow=packets_per_flow,
        references=tuple(samples[n + scored : n + 2 * scored]),
        reference_packets=reference_packets,
        measurements=tuple(samples[n + 2 * scored :]),
    )
