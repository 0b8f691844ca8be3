"""Single-failure analysis: which one link failure hurts most (disconnected pairs, SLA violations, mean delay)."""

from __future__ import annotations

from dataclasses import dataclass

from ndtwin.optimize.objective import Oracle, Sla, effective_delay_s
from ndtwin.optimize.planning import LinkPair, physical_links
from ndtwin.scenario import Scenario
from ndtwin.whatif.perturb import FailLink


@dataclass(frozen=True)
class FailureImpact:
    """What failing one physical link (both directions) does. Disconnected flows are dropped from the delay
    figures and counted in ``disconnected_pairs`` / ``dropped_flows``; rerouted flows take shortest paths."""

    link: LinkPair
    disconnected_pairs: int
    dropped_flows: int
    mean_delay_s: float
    mean_effective_delay_s: float
    violations: int | None  # SLA-violating flows among those still connected (None without an SLA)


def impact(scenario: Scenario, oracle: Oracle, sla: Sla | None, link: LinkPair | None) -> FailureImpact:
    """The figures of ``scenario`` with ``link`` failed (as it is when ``link`` is None)."""
    if link is None:
        failed, dropped = scenario, ()
    else:
        outcome = FailLink(*link, drop_disconnected=True).outcome(scenario)
        failed, dropped = outcome.scenario, outcome.dropped
    frame = oracle(failed)
    pairs = {(scenario.traffic.flows[i].src, scenario.traffic.flows[i].dst) for i in dropped}
    return FailureImpact(
        link=link if link is not None else (-1, -1),
        disconnected_pairs=len(pairs),
        dropped_flows=len(dropped),
        mean_delay_s=float(frame["delay_s"].mean()),
        mean_effective_delay_s=float(effective_delay_s(frame).mean()),
        violations=None if sla is None else int(sla.violated(frame).sum()),
    )


def single_link_failures(
    scenario: Scenario, oracle: Oracle, sla: Sla | None = None
) -> tuple[FailureImpact, list[FailureImpact]]:
    """The intact network's figures, and every single physical link failure's, worst first: most disconnected
    pairs, then most SLA violations, then highest mean effective delay."""
    intact = impact(scenario, oracle, sla, None)
    failures = [impact(scenario, oracle, sla, link) for link in physical_links(scenario)]
    failures.sort(key=lambda f: (-f.disconnected_pairs, -(f.violations or 0), -f.mean_effective_delay_s))
    return intact, failures
