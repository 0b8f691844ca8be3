"""Optimization outcomes as plain JSON-ready records, named by the scenario's node names (SI units).

Shared by ``ndtwin optimize`` and the service's optimization jobs."""

from __future__ import annotations

from typing import Any

from ndtwin.optimize.failures import FailureImpact
from ndtwin.optimize.planning import BreakPoint, CapacityPlan
from ndtwin.optimize.routing import SearchResult
from ndtwin.scenario import Scenario


def link_name(scenario: Scenario, link: tuple[int, int]) -> str:
    """``U–V`` with the nodes' names."""
    names = scenario.topology.node_names
    return f"{names[link[0]]}–{names[link[1]]}"


def changed_weights(scenario: Scenario, searched: SearchResult) -> list[dict[str, Any]]:
    """The links whose weight the search changed, with old and new weights."""
    if searched.weights is None:
        return []
    names, changed = scenario.topology.node_names, []
    for gene, weight in zip(searched.genes.links, searched.weights):
        link = scenario.topology.links[gene[0]]
        if weight != link.weight:
            changed.append(
                {
                    "src": names[link.src],
                    "dst": names[link.dst],
                    "both_directions": len(gene) > 1,
                    "from": link.weight,
                    "to": int(weight),
                }
            )
    return changed


def routing_records(
    scenario: Scenario, objective: str, searched: SearchResult, baseline: SearchResult
) -> dict[str, Any]:
    """The evolution strategy's and the greedy search's predicted objectives and evaluations, and the weights the
    evolution strategy changed."""
    return {
        "objective": objective,
        "predicted": {"start": searched.start_score, "evolution": searched.score, "greedy": baseline.score},
        "evaluations": {"evolution": searched.evaluations, "greedy": baseline.evaluations},
        "weights": changed_weights(scenario, searched),
    }


def capacity_records(scenario: Scenario, plan: CapacityPlan) -> dict[str, Any]:
    """The plan's break point as is (``baseline``) and with each single link upgrade (``upgrades``, best first)."""

    def entry(link: tuple[int, int] | None, breaks: BreakPoint) -> dict[str, Any]:
        return {
            "link": None if link is None else link_name(scenario, link),
            "break_step": breaks.step,
            "load_factor": None if breaks.step is None else round(plan.load_factor(breaks.step), 4),
            "violations": breaks.violations,
        }

    return {
        "growth": plan.growth,
        "upgrade_factor": plan.upgrade_factor,
        "baseline": entry(None, plan.baseline),
        "upgrades": [entry(u.link, u.breaks) for u in plan.upgrades],
    }


def failure_records(scenario: Scenario, intact: FailureImpact, failures: list[FailureImpact]) -> dict[str, Any]:
    """The intact network's figures and each single link failure's, worst first."""

    def entry(impact: FailureImpact) -> dict[str, Any]:
        return {
            "disconnected_pairs": impact.disconnected_pairs,
            "dropped_flows": impact.dropped_flows,
            "mean_delay_s": impact.mean_delay_s,
            "mean_effective_delay_s": impact.mean_effective_delay_s,
            "violations": impact.violations,
        }

    return {
        "intact": entry(intact),
        "failures": [{"link": link_name(scenario, f.link)} | entry(f) for f in failures],
    }
