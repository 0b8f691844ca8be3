"""Optimization with the twin as oracle: routing weights, capacity planning and single-failure analysis."""

from ndtwin.optimize.failures import FailureImpact, single_link_failures
from ndtwin.optimize.objective import Objective, Oracle, Sla, effective_delay_s, score, simulation_oracle, summary
from ndtwin.optimize.planning import BreakPoint, CapacityPlan, Upgrade, confirm_plan, first_break, plan_capacity
from ndtwin.optimize.routing import SearchResult, WeightGenes, evolve, greedy

__all__ = [
    "BreakPoint",
    "CapacityPlan",
    "FailureImpact",
    "Objective",
    "Oracle",
    "SearchResult",
    "Sla",
    "Upgrade",
    "WeightGenes",
    "confirm_plan",
    "effective_delay_s",
    "evolve",
    "first_break",
    "greedy",
    "plan_capacity",
    "score",
    "simulation_oracle",
    "single_link_failures",
    "summary",
]
