"""The self-adaptive twin on a live emulated network: a schedule of traffic phases, the loop on its windows.

Each phase is the topology's all-pairs traffic (as in ``ndtwin demo``, the same flows and relative rates in every
phase) with one time law and the busiest link at one load, run for a number of seconds. The emulation
(:class:`~ndtwin.emulate.live.LiveEmulation`) switches the sources at each phase's start while
:class:`~ndtwin.ops.loop.OperatingLoop` runs on the windows it produces (:class:`~ndtwin.ops.live_stream.LiveStream`),
retraining in the background and never waiting for a job. Besides the loop's figures, the result holds
``detection_delay_s`` (per pattern change, seconds to the first drift alarm after it) and the run's CPU report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ndtwin.emulate.live import LiveEmulation
from ndtwin.emulate.run import EmulationSettings
from ndtwin.errors import ScenarioError, check_number
from ndtwin.ops.live_stream import LiveStream, detection_delays
from ndtwin.ops.loop import LoopSettings, OperatingLoop
from ndtwin.scenario import Topology
from ndtwin.scenario.generate import all_pairs_scenario
from ndtwin.scenario.traffic import TimeDistribution

ON_OFF_S = (0.5, 1.0)  # mean ON and OFF periods of the on-off law (the rate while ON is three times the mean)
LAWS = {
    "poisson": TimeDistribution.poisson,
    "cbr": TimeDistribution.cbr,
    "onoff": lambda: TimeDistribution.on_off(*ON_OFF_S),
}


@dataclass(frozen=True)
class Phase:
    """``law`` (poisson, onoff or cbr) at busiest-link utilisation ``load`` for ``duration_s`` seconds."""

    law: str
    load: float
    duration_s: float

    def __post_init__(self) -> None:
        if self.law not in LAWS:
            raise ScenarioError("--phase", f"a time law among {', '.join(LAWS)}", self.law)
        check_number("--phase load", self.load, minimum=0, strict=True)
        check_number("--phase seconds", self.duration_s, minimum=0, strict=True)


DEFAULT_PHASES = (Phase("poisson", 0.5, 60.0), Phase("onoff", 0.5, 60.0), Phase("poisson", 0.85, 60.0))


def parse_phase(text: str) -> Phase:
    """``LAW:LOAD:SECONDS``, e.g. ``onoff:0.6:60``."""
    parts = text.split(":")
    if len(parts) != 3:
        raise ScenarioError("--phase", "LAW:LOAD:SECONDS, e.g. onoff:0.6:60", text)
    try:
        load, seconds = float(parts[1]), float(parts[2])
    except ValueError:
        raise ScenarioError("--phase", "LAW:LOAD:SECONDS with numbers for LOAD and SECONDS", text) from None
    return Phase(parts[0], load, seconds)


def live_settings(n_flows: int) -> LoopSettings:
    """Loop settings for ``n_flows`` windows per step: KSWIN over about ten steps, background retraining that the
    loop never waits for."""
    return LoopSettings(
        kswin_window=10 * n_flows, kswin_stat=3 * n_flows, adapt_steps=20, background=True, wait_for_retrain=False
    )


def operate_live(
    topology: Topology,
    name: str,
    phases: Sequence[Phase],
    state_dir: str | Path,
    *,
    window_s: float = 2.0,
    train_s: float = 30.0,
    capacity_bps: float = 2e6,
    seed: int = 0,
    on_step: Callable[[int, str], None] | None = None,
) -> dict:
    """Run the phases on an emulated ``topology`` (as root) and the operating loop on its windows; the loop's
    figures plus ``detection_delay_s``, ``phases``, ``windows_per_pattern``, ``mean_delay_s_per_pattern``, ``capacity_scale`` and ``cpu``.
    ScenarioError for phases the host cannot carry (before anything is built), HostError when it cannot emulate."""
    check_number("window_s", window_s, minimum=0, strict=True)
    durations = [max(1, round(p.duration_s / window_s)) * window_s for p in phases]
    scenarios = [all_pairs_scenario(topology, max_utilization=p.load, seed=seed, time=LAWS[p.law]()) for p in phases]
    names = [f"{p.law}@{p.load:g}" for p in phases]
    patterns = [n if names.count(n) == 1 else f"{n}#{i}" for i, n in enumerate(names)]
    settings = EmulationSettings(duration_s=sum(durations), capacity_bps=capacity_bps, seed=seed)
    emulation = LiveEmulation(scenarios, durations, settings)  # checks the packet rates before building
    stream = LiveStream(emulation, patterns, window_s=window_s, train_s=train_s, name=f"live-{name}")
    with emulation, stream:

        def record(step: int, event: str) -> None:
            stream.record_done(step, event)
            if on_step:
                on_step(step, event)

        loop = OperatingLoop(stream, state_dir, live_settings(emulation.scenario.n_flows))
        result = loop.run(on_step=record)
        cpu = emulation.finish()
        served = loop.served_windows()
    concept = stream.concept_of_step(served["step"].to_numpy())
    result.update(
        detection_delay_s=detection_delays(stream, result["drifts_detected"]),
        change_steps=list(stream.concept_starts[1:-1]),
        phases=[
            {"pattern": n, "law": p.law, "load": p.load, "seconds": d} for n, p, d in zip(patterns, phases, durations)
        ],
        windows_per_pattern={n: int((concept == i).sum()) for i, n in enumerate(patterns)},
        mean_delay_s_per_pattern={n: float(served["delay_s"][concept == i].mean()) for i, n in enumerate(patterns)},
        window_s=window_s,
        train_s=stream.train_windows * window_s,
        capacity_scale=emulation.capacity_scale,
        cpu_saturated=cpu["saturated"],
        cpu=cpu,
    )
    return result
