"""Run a Scenario on an emulated network and measure it: build, start one agent per node, collect, tear down."""

from __future__ import annotations

import ctypes
import json
import resource
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ndtwin.data.sample import Sample
from ndtwin.emulate.counters import queue_counters
from ndtwin.emulate.cpu import CpuMonitor, cores
from ndtwin.emulate.host import HostError, in_namespace
from ndtwin.emulate.measure import emulated_sample
from ndtwin.emulate.network import LiveNetwork
from ndtwin.emulate.scaled import emulated_scenario
from ndtwin.emulate.sources import DELAY_BUCKETS_S, agent_configs
from ndtwin.errors import ScenarioError, check_int, check_number
from ndtwin.scenario import Scenario
from ndtwin.sim.simulate import RunWindow

AGENT = Path(__file__).with_name("agent.py")
DEFAULT_CAPACITY_BPS = 2e6
MAX_PACKETS_PER_S = 3000.0  # bench/emulate_abilene.py: 2,700 packets/s kept the delays, 4,100 did not
STARTUP_S = 1.5  # agents start their sources together this long after launch
SATURATED_BUSY = 0.9  # host busy share above which the run is flagged
PR_SET_PDEATHSIG = 1
EXPORTER_LINGER_S = 2.5  # the exporter stays up this long after the traffic, for a last scrape


@dataclass(frozen=True)
class EmulationSettings:
    """How long to run (``duration_s``, first ``warmup_fraction`` not measured), the fastest link's emulated
    capacity, the seed of the sources, and the packet rate the host is trusted to carry."""

    duration_s: float = 30.0
    warmup_fraction: float = 0.1
    capacity_bps: float = DEFAULT_CAPACITY_BPS
    seed: int = 0
    max_packets_per_s: float = MAX_PACKETS_PER_S

    def __post_init__(self) -> None:
        check_number("duration_s", self.duration_s, minimum=0, strict=True)
        check_number("capacity_bps", self.capacity_bps, minimum=0, strict=True)
        check_number("max_packets_per_s", self.max_packets_per_s, minimum=0, strict=True)
        check_int("seed", self.seed, maximum=2**32 - 1)
        if not 0 <= self.warmup_fraction < 1:
            raise ScenarioError("warmup_fraction", "a fraction in [0, 1)", self.warmup_fraction)


@dataclass(frozen=True)
class Emulation:
    """A run's Sample (of the scenario as emulated), the scale applied and how busy the host was."""

    sample: Sample
    capacity_scale: float
    cpu: dict

    @property
    def cpu_saturated(self) -> bool:
        return bool(self.cpu["saturated"])


def prepare(scenario: Scenario, settings: EmulationSettings) -> tuple[Scenario, float]:
    """The scenario as it will be emulated and its capacity scale; ScenarioError (before anything is built) when
    its total packet rate exceeds what the host is trusted to carry."""
    emulated, scale = emulated_scenario(scenario, settings.capacity_bps)
    rate = sum(flow.pkts_per_s for flow in emulated.traffic.flows)
    if rate > settings.max_packets_per_s:
        raise ScenarioError(
            "capacity_bps",
            f"a capacity whose traffic stays below {settings.max_packets_per_s:g} packets/s in total "
            f"({rate:.0f} packets/s at {settings.capacity_bps:g} bit/s; lower it proportionally)",
            settings.capacity_bps,
        )
    return emulated, scale


def emulate(
    scenario: Scenario, settings: EmulationSettings = EmulationSettings(), *, exporter_port: int | None = None
) -> Emulation:
    """Emulate ``scenario`` (scaled, see ``emulated_scenario``) for ``settings.duration_s`` and measure every flow.
    With ``exporter_port``, a Prometheus exporter serves the live counters on ``127.0.0.1:exporter_port`` while the
    traffic runs (and ``EXPORTER_LINGER_S`` after, for a last scrape).

    HostError when the host cannot emulate; ScenarioError for a scenario it cannot carry. Everything created is
    removed before returning, also on errors and interrupts.
    """
    emulated, scale = prepare(scenario, settings)
    window = RunWindow(settings.warmup_fraction * settings.duration_s, settings.duration_s)
    drain_s = 0.5 + longest_queueing_s(emulated)
    with LiveNetwork(emulated) as network, tempfile.TemporaryDirectory(prefix="ndtwin-emulate-") as folder:
        start_ns = time.time_ns() + int(STARTUP_S * 1e9)
        configs = agent_configs(
            emulated,
            network.layout,
            start_ns=start_ns,
            warmup_ns=start_ns + int(window.warmup_s * 1e9),
            end_ns=start_ns + int(window.end_s * 1e9),
            drain_ns=int(drain_s * 1e9),
            seed=settings.seed,
        )
        agents = []
        used_before = children_cpu_s()
        for node, config in enumerate(configs):
            config["out"] = str(Path(folder) / f"node{node}.json")
            if exporter_port is not None:
                config["live"], config["live_buckets_s"] = str(Path(folder) / f"live-{node}.json"), DELAY_BUCKETS_S
            path = Path(folder) / f"node{node}.config.json"
            path.write_text(json.dumps(config))
            agents.append(launch_agent(network.layout.namespace(node), path))
        exporter = (
            _exporter(emulated, network, Path(folder), exporter_port) if exporter_port is not None else nullcontext()
        )
        with CpuMonitor() as monitor, exporter:
            _sleep_until(start_ns + int(window.warmup_s * 1e9))
            before = queue_counters(emulated, network.layout)
            _sleep_until(start_ns + int(window.end_s * 1e9))
            after = queue_counters(emulated, network.layout)
            results = collect_agents(agents, configs, timeout_s=drain_s + 30)
            if exporter_port is not None:
                time.sleep(EXPORTER_LINGER_S)
        agents_s = children_cpu_s() - used_before
        cpu = cpu_report(monitor.samples, results, emulated, agents_s / (cores() * (time.time_ns() - start_ns) / 1e9))
    run_id = network.layout.run_id
    meta = {"sample_id": f"emu-{run_id}-seed{settings.seed}", "run_id": run_id, "capacity_scale": scale, "cpu": cpu}
    meta["settings"] = asdict(settings)
    sample = emulated_sample(emulated, window, settings.seed, results, after - before, meta)
    return Emulation(sample, scale, cpu)


def _exporter(scenario: Scenario, network: LiveNetwork, folder: Path, port: int) -> AbstractContextManager:
    """The exporter of the run (prometheus-client is needed only then)."""
    from ndtwin.emulate.exporter import EmulationCollector, Exporter

    return Exporter(EmulationCollector(scenario, network.layout, folder), port)


def longest_queueing_s(scenario: Scenario) -> float:
    """An upper bound of any packet's time in the network: every buffer on its path full of largest packets."""
    largest = max(max(flow.size.sizes_bits) for flow in scenario.traffic.flows)
    per_link = np.array([
        sum(link.port.buffers) * (1.0 if link.port.buffer_unit == "bits" else largest) / link.capacity_bps + largest / link.capacity_bps
        for link in scenario.topology.links
    ])  # fmt: skip
    hops = scenario.hops
    return float(np.bincount(hops.flow, per_link[hops.link], minlength=scenario.n_flows).max(initial=0.0))


def _die_with_parent() -> None:
    """In the agent, before exec: be killed when this process dies, even by SIGKILL."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def launch_agent(namespace: str, config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        in_namespace(namespace, [sys.executable, str(AGENT), str(config)]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent,
    )


def _sleep_until(deadline_ns: int) -> None:
    while (left := deadline_ns - time.time_ns()) > 0:
        time.sleep(min(left / 1e9, 0.5))


def collect_agents(agents: list[subprocess.Popen], configs: list[dict], timeout_s: float) -> list[dict]:
    """Every agent's results; HostError naming the node of an agent that failed."""
    results = []
    for node, (agent, config) in enumerate(zip(agents, configs)):
        try:
            _, errors = agent.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            agent.kill()
            raise HostError(f"the traffic agent of node {node} did not finish") from None
        if agent.returncode != 0:
            raise HostError(f"the traffic agent of node {node} failed: {errors.strip()[-2000:]}")
        results.append(json.loads(Path(config["out"]).read_text()))
    return results


def children_cpu_s() -> float:
    """CPU seconds (user + system) of the waited-for child processes: the agents, and the kernel forwarding done
    in their context."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_report(samples: list[float], results: list[dict], scenario: Scenario, agents_share: float) -> dict:
    """Host busy share during the run (all processes, this run's and others'), the share of the host's CPU the
    agents used (sending, receiving and the forwarding done in their context) and the sources' lateness. The
    run is flagged saturated when the host was busy above
    ``SATURATED_BUSY`` on average, or the sources' 99th-percentile lateness exceeded the smallest packet's
    transmission time on the fastest link (the traffic then no longer follows its law)."""
    busy = np.asarray(samples) if samples else np.array([np.nan])
    late_p99 = max((r["late_p99_s"] for r in results), default=0.0)
    smallest = min(min(flow.size.sizes_bits) for flow in scenario.traffic.flows)
    tx_min = smallest / float(scenario.topology.capacity_bps.max())
    reasons = ["host busy"] * bool(np.nanmean(busy) > SATURATED_BUSY) + ["sources late"] * bool(late_p99 > tx_min)
    return {
        "cores": cores(),
        "busy_mean": float(np.nanmean(busy)),
        "busy_max": float(np.nanmax(busy)),
        "headroom": float(1.0 - np.nanmean(busy)),
        "emulation_share": float(agents_share),
        "source_late_p50_s": float(np.median([r["late_p50_s"] for r in results])),
        "source_late_p99_s": float(late_p99),
        "smallest_transmission_s": tx_min,
        "udp_receive_errors": int(sum(r["udp_receive_errors"] for r in results)),
        "refused_sends": int(sum(sum(r["refused"]) for r in results)),
        "negative_delays": int(sum(r["negative_delays"] for r in results)),
        "saturated": bool(reasons),
        "saturated_because": reasons,
    }
