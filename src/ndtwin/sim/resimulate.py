"""Re-simulate the scenarios of existing samples, e.g. to check the simulator against another's labels."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial

from ndtwin.data.sample import Sample
from ndtwin.errors import ScenarioError
from ndtwin.parallel import ordered_map
from ndtwin.scenario import Scenario
from ndtwin.sim.plan import build_plan

BACKENDS = ("ndtwin", "ns3")


@dataclass(frozen=True)
class SimSettings:
    """Which simulator runs, and for how long (see ``ndtwin.sim.simulate.simulate``)."""

    backend: str = "ndtwin"
    packets_per_flow: int | None = None
    duration_s: float | None = None
    warmup_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ScenarioError("backend", f"one of {', '.join(BACKENDS)}", self.backend)


def simulate_with(settings: SimSettings, scenario: Scenario) -> Sample:
    """Simulate ``scenario`` on the backend ``settings`` names."""
    if settings.backend == "ns3":
        from ndtwin.sim.ns3_backend import simulate_ns3 as run
    else:
        from ndtwin.sim.simulate import simulate as run
    return run(
        scenario,
        packets_per_flow=settings.packets_per_flow,
        duration_s=settings.duration_s,
        warmup_fraction=settings.warmup_fraction,
        seed=settings.seed,
    )


def check_simulable(settings: SimSettings, samples: Iterable[Sample]) -> int:
    """How many samples there are; ScenarioError naming the first one whose scenario the backend cannot simulate
    (its scheduler, time or size law). Nothing is simulated, so a run can be refused before it starts."""
    count = 0
    for sample in samples:
        try:
            build_plan(sample.scenario)
            if settings.backend == "ns3":
                from ndtwin.sim.ns3_backend import check_supported

                check_supported(sample.scenario)
        except ScenarioError as error:
            source = sample.meta.get("source")
            where = f"sample {sample.sample_id}" + (f" ({source})" if source else "")
            raise ScenarioError(f"{where}: {error.field}", error.expected, error.got) from None
        count += 1
    return count


def _resimulate_one(settings: SimSettings, sample: Sample) -> Sample:
    simulated = simulate_with(settings, sample.scenario)
    simulated.meta["resimulated_from"] = sample.meta.get("sample_id")
    return simulated


def resimulate(samples: Iterable[Sample], settings: SimSettings, *, workers: int) -> Iterator[tuple[Sample, Sample]]:
    """Yield ``(sample, simulated)`` pairs in input order, simulating on ``workers`` processes."""
    yield from ordered_map(partial(_resimulate_one, settings), samples, workers=workers)
