"""Capacity planning: when does growing traffic break an SLA, and which single link upgrade postpones it most."""

from __future__ import annotations

from dataclasses import dataclass

from ndtwin.errors import check_int, check_number
from ndtwin.optimize.objective import Oracle, Sla
from ndtwin.scenario import Scenario
from ndtwin.whatif.perturb import ScaleTraffic

LinkPair = tuple[int, int]


@dataclass(frozen=True)
class BreakPoint:
    """The first growth step (traffic × growth^step) with more SLA violations than allowed; None if none up to
    the last step tried."""

    step: int | None
    violations: int  # at ``step`` (at the last step tried when there is no break)
    steps_tried: int


@dataclass(frozen=True)
class Upgrade:
    """One physical link with its capacity multiplied (both directions), and the break point it gives."""

    link: LinkPair
    breaks: BreakPoint


@dataclass(frozen=True)
class CapacityPlan:
    """The break point as the network is, and every single-link upgrade's, best first."""

    growth: float
    upgrade_factor: float
    baseline: BreakPoint
    upgrades: tuple[Upgrade, ...]

    @property
    def best(self) -> Upgrade | None:
        return self.upgrades[0] if self.upgrades else None

    def load_factor(self, step: int) -> float:
        return self.growth**step


def physical_links(scenario: Scenario) -> list[LinkPair]:
    """Each linked node pair once, as (smaller index, larger index), in link order."""
    return list(dict.fromkeys((min(lk.src, lk.dst), max(lk.src, lk.dst)) for lk in scenario.topology.links))


def upgraded(scenario: Scenario, link: LinkPair, factor: float) -> Scenario:
    """``scenario`` with both directions of ``link`` at ``factor`` × their capacity."""
    topology = scenario.topology
    for src, dst in (link, link[::-1]):
        lid = topology.link_id(src, dst)
        if lid is not None:
            topology = topology.with_link(src, dst, capacity_bps=topology.links[lid].capacity_bps * factor)
    return Scenario(topology, scenario.routing, scenario.traffic)


def grown(scenario: Scenario, growth: float, step: int) -> Scenario:
    """Every flow's rate × ``growth``^``step``."""
    return ScaleTraffic(growth**step).apply(scenario) if step else scenario


def first_break(scenario: Scenario, oracle: Oracle, sla: Sla, *, growth: float = 1.1, max_steps: int = 30,
                allowed_violations: int = 0) -> BreakPoint:  # fmt: skip
    """Scan steps 0, 1, … ``max_steps`` for the first with more than ``allowed_violations`` violating flows."""
    violations = 0
    for step in range(max_steps + 1):
        violations = int(sla.violated(oracle(grown(scenario, growth, step))).sum())
        if violations > allowed_violations:
            return BreakPoint(step, violations, step + 1)
    return BreakPoint(None, violations, max_steps + 1)


def plan_capacity(
    scenario: Scenario,
    oracle: Oracle,
    sla: Sla,
    *,
    growth: float = 1.1,
    max_steps: int = 30,
    upgrade_factor: float = 2.0,
    allowed_violations: int = 0,
) -> CapacityPlan:
    """The break point under traffic growing by ``growth`` per step, and for each physical link the break point
    with that link upgraded ×``upgrade_factor``; upgrades that postpone the break most come first (ties keep the
    link order)."""
    check_number("growth", growth, minimum=1, strict=True)
    check_number("upgrade_factor", upgrade_factor, minimum=1, strict=True)
    check_int("max_steps", max_steps)
    options = dict(growth=growth, max_steps=max_steps, allowed_violations=allowed_violations)
    baseline = first_break(scenario, oracle, sla, **options)
    upgrades = [
        Upgrade(link, first_break(upgraded(scenario, link, upgrade_factor), oracle, sla, **options))
        for link in physical_links(scenario)
    ]
    never = max_steps + 1
    upgrades.sort(key=lambda u: -(never if u.breaks.step is None else u.breaks.step))
    return CapacityPlan(growth, upgrade_factor, baseline, tuple(upgrades))


def confirm_plan(scenario: Scenario, plan: CapacityPlan, oracle: Oracle, sla: Sla) -> dict[str, int] | None:
    """Violations counted by ``oracle`` (e.g. the simulator) at the baseline break step, without and with the best
    upgrade; None when the baseline never broke."""
    if plan.baseline.step is None or plan.best is None:
        return None
    at_break = grown(scenario, plan.growth, plan.baseline.step)
    return {
        "step": plan.baseline.step,
        "violations_as_is": int(sla.violated(oracle(at_break)).sum()),
        "violations_upgraded": int(sla.violated(oracle(upgraded(at_break, plan.best.link, plan.upgrade_factor))).sum()),
    }
