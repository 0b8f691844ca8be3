"""A running emulation whose traffic follows a schedule of phases, read while it runs.

The network is built for the first phase; at each later phase's start the agents switch every flow to that phase's
time law and rate (same flows, paths and packet sizes). While the traffic runs, :meth:`LiveEmulation.counters`
returns the agents' cumulative per-flow counters (packets sent; packets received and their summed one-way delay),
which the agents rewrite every ``live_period_s``.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

from ndtwin.emulate.cpu import CpuMonitor, cores
from ndtwin.emulate.network import LiveNetwork
from ndtwin.emulate.run import (
    STARTUP_S,
    EmulationSettings,
    children_cpu_s,
    collect_agents,
    cpu_report,
    launch_agent,
    longest_queueing_s,
    prepare,
)
from ndtwin.emulate.sources import DELAY_BUCKETS_S, agent_configs
from ndtwin.errors import ScenarioError
from ndtwin.scenario import Scenario

LIVE_PERIOD_S = 0.25


def prepare_phases(phases: Sequence[Scenario], settings: EmulationSettings) -> tuple[list[Scenario], float]:
    """Every phase as emulated (one capacity scale) and that scale; ScenarioError, before anything is built, when a
    phase carries more packets/s than the host is trusted with or its flows differ from the first phase's."""
    prepared = [prepare(phase, settings) for phase in phases]
    first = prepared[0][0]
    for index, (emulated, _) in enumerate(prepared[1:], start=1):
        same = [(f.src, f.dst, f.tos) for f in emulated.traffic.flows] == [
            (f.src, f.dst, f.tos) for f in first.traffic.flows
        ]
        if not same or emulated.topology.n_nodes != first.topology.n_nodes:
            raise ScenarioError(f"phase {index}", "the same topology and flows as the first phase", "other flows")
    return [emulated for emulated, _ in prepared], prepared[0][1]


class LiveEmulation:
    """Context manager: builds the network, starts the agents with the phase schedule, tears everything down on
    exit (also on errors, Ctrl-C and SIGTERM). ``phases[i]`` runs for ``durations_s[i]`` seconds."""

    def __init__(self, phases: Sequence[Scenario], durations_s: Sequence[float], settings: EmulationSettings) -> None:
        if len(phases) != len(durations_s) or not phases:
            raise ScenarioError("phases", "one duration per phase, at least one phase", len(durations_s))
        self.phases, self.capacity_scale = prepare_phases(phases, settings)
        self.durations_s = [float(d) for d in durations_s]
        self.settings = settings
        self._stack = ExitStack()
        self._agents: list = []
        self._configs: list[dict] = []

    @property
    def scenario(self) -> Scenario:
        """The first phase as emulated (topology, routing and flows of every phase)."""
        return self.phases[0]

    def __enter__(self) -> LiveEmulation:
        try:
            network = self._stack.enter_context(LiveNetwork(self.phases[0]))
            self.folder = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="ndtwin-live-")))
            self.start_ns = time.time_ns() + int(STARTUP_S * 1e9)
            starts, at = [], self.start_ns
            for duration in self.durations_s:
                starts.append(at)
                at += int(duration * 1e9)
            self.phase_starts_ns, self.end_ns = starts, at
            self._configs = agent_configs(
                self.phases[0],
                network.layout,
                start_ns=self.start_ns,
                warmup_ns=self.start_ns,
                end_ns=self.end_ns,
                drain_ns=int((0.5 + longest_queueing_s(self.phases[0])) * 1e9),
                seed=self.settings.seed,
                phases=list(zip(starts[1:], self.phases[1:])),
            )
            self._used_before = children_cpu_s()
            for node, config in enumerate(self._configs):
                config.update(out=str(self.folder / f"node{node}.json"), live=str(self.folder / f"live-{node}.json"))
                config.update(live_buckets_s=DELAY_BUCKETS_S, live_period_s=LIVE_PERIOD_S)
                path = self.folder / f"node{node}.config.json"
                path.write_text(json.dumps(config))
                self._agents.append(launch_agent(network.layout.namespace(node), path))
            self._stack.callback(self._stop_agents)
            self._monitor = self._stack.enter_context(CpuMonitor())
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stack.close()

    def counters(self) -> dict:
        """The agents' latest counters merged: ``sent`` {flow: packets}, ``received`` {flow: [packets, delay sum
        ns, per-bucket packets...]} (flows as ints; nodes whose agent has not written yet are missing)."""
        sent: dict[int, int] = {}
        received: dict[int, list[int]] = {}
        for node in range(len(self._configs)):
            try:
                record = json.loads((self.folder / f"live-{node}.json").read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                continue
            sent.update({int(flow): n for flow, n in record["sent"].items()})
            received.update({int(flow): counts for flow, counts in record["received"].items()})
        return {"sent": sent, "received": received}

    def finish(self) -> dict:
        """Wait for the agents to drain and stop; the CPU report of the run (as ``emulate``'s ``cpu``)."""
        timeout_s = max(0.0, (self.end_ns - time.time_ns()) / 1e9) + longest_queueing_s(self.phases[0]) + 30
        results = collect_agents(self._agents, self._configs, timeout_s=timeout_s)
        agents_s = children_cpu_s() - self._used_before
        share = agents_s / (cores() * (time.time_ns() - self.start_ns) / 1e9)
        return cpu_report(self._monitor.samples, results, self.phases[0], share)

    def _stop_agents(self) -> None:
        for agent in self._agents:
            if agent.poll() is None:
                agent.kill()
            agent.wait()
