"""Routing optimization over OSPF-like integer link weights: a (μ+λ) evolution strategy and a greedy baseline.

A configuration is one integer weight per *gene*. By default a gene is a physical link (both directions share a
weight), as most operators configure OSPF costs: paths stay symmetric and the search space is half as large.
``symmetric=False`` gives every directed link its own weight. Traffic follows the minimum-weight paths
(``Routing.shortest_paths``). Every candidate is scored by an oracle (a twin's ``predict`` or the simulator);
scores are cached by routing, since many weight settings give the same paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ndtwin.errors import ScenarioError, check_int, check_number
from ndtwin.optimize.objective import Objective, Oracle, Sla, answer_all, score
from ndtwin.scenario import Scenario, Topology
from ndtwin.scenario.generate import link_loads_bps

DEFAULT_MAX_WEIGHT = 20


@dataclass(frozen=True)
class WeightGenes:
    """The directed links that share each searched weight."""

    links: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, topology: Topology, symmetric: bool = True) -> WeightGenes:
        if not symmetric:
            return cls(tuple((lid,) for lid in range(topology.n_links)))
        groups: dict[tuple[int, int], list[int]] = {}
        for lid, link in enumerate(topology.links):
            groups.setdefault((min(link.src, link.dst), max(link.src, link.dst)), []).append(lid)
        return cls(tuple(tuple(g) for g in groups.values()))

    def __len__(self) -> int:
        return len(self.links)

    def of_topology(self, topology: Topology) -> np.ndarray:
        """The current weights of ``topology`` per gene (the first link's, rounded to an integer ≥ 1)."""
        return np.array([max(1, round(topology.links[g[0]].weight)) for g in self.links], dtype=np.int64)

    def apply(self, scenario: Scenario, weights: np.ndarray) -> Scenario:
        """``scenario`` with these link weights, its traffic re-routed over minimum-weight paths."""
        if len(weights) != len(self.links):
            raise ScenarioError("weights", f"{len(self.links)} link weights", len(weights))
        links = list(scenario.topology.links)
        for gene, weight in zip(self.links, weights):
            for lid in gene:
                if links[lid].weight != weight:
                    links[lid] = replace(links[lid], weight=float(weight))
        return scenario.rerouted(replace(scenario.topology, links=tuple(links)))


class CachedScorer:
    """Scores scenarios with an oracle, once per distinct routing; counts the oracle calls."""

    def __init__(self, oracle: Oracle, objective: Objective | str, sla: Sla | None) -> None:
        self.oracle = oracle
        self.objective = Objective.parse(objective)
        self.sla = sla
        self.evaluations = 0
        self._cache: dict[tuple, float] = {}

    def __call__(self, scenario: Scenario) -> float:
        return self.many([scenario])[0]

    def many(self, scenarios: list[Scenario]) -> list[float]:
        """Scores of several scenarios; the new routings among them go to the oracle together."""
        keys = [tuple(s.routing.paths[pair] for pair in s.traffic.pairs()) for s in scenarios]
        new = {key: s for key, s in zip(keys, scenarios) if key not in self._cache}
        frames = answer_all(self.oracle, list(new.values()))
        for key, frame in zip(new, frames):
            self._cache[key] = score(frame, self.objective, self.sla)
        self.evaluations += len(new)
        return [self._cache[key] for key in keys]


@dataclass
class SearchResult:
    """The best configuration found. ``weights`` is None when the scenario as given was never beaten."""

    scenario: Scenario
    score: float
    start_score: float
    weights: np.ndarray | None
    genes: WeightGenes
    evaluations: int
    history: list[float] = field(default_factory=list)  # best score after each generation / step

    @property
    def improved(self) -> bool:
        return self.weights is not None


def evolve(
    scenario: Scenario,
    oracle: Oracle,
    objective: Objective | str = Objective.MEAN,
    *,
    sla: Sla | None = None,
    generations: int = 30,
    parents: int = 4,
    offspring: int = 12,
    max_weight: int = DEFAULT_MAX_WEIGHT,
    mutation_rate: float | None = None,
    symmetric: bool = True,
    seed: int = 0,
) -> SearchResult:
    """(μ+λ) evolution strategy over integer weights in ``[1, max_weight]``.

    The population starts from the topology's weights and ``parents − 1`` mutants of them. Each generation every
    child copies a random parent and re-draws each weight with probability ``mutation_rate`` (default 2 / genes,
    at least one weight per child): half the time a step of ±1..3, else a uniform value. The ``parents`` best of
    parents and children survive. The scenario as given is the incumbent, so the result is never worse than it
    under the oracle.
    """
    for name, value in (("generations", generations), ("parents", parents), ("offspring", offspring)):
        check_int(name, value, minimum=1 if name != "generations" else 0)
    check_int("max_weight", max_weight, minimum=2)
    genes = WeightGenes.of(scenario.topology, symmetric)
    rate = min(1.0, 2.0 / max(len(genes), 1)) if mutation_rate is None else check_number("mutation_rate", mutation_rate)
    rng = np.random.default_rng(seed)
    scorer = CachedScorer(oracle, objective, sla)
    start_score = scorer(scenario)
    start = np.clip(genes.of_topology(scenario.topology), 1, max_weight)
    population = [start] + [_mutate(start, rng, rate, max_weight) for _ in range(parents - 1)]
    scores = scorer.many([genes.apply(scenario, w) for w in population])
    scored = sorted(zip(scores, range(len(population)), population), key=_by_score)
    counter = len(scored)
    history = [min(start_score, scored[0][0])]
    for _ in range(generations):
        children = [_mutate(scored[rng.integers(len(scored))][2], rng, rate, max_weight) for _ in range(offspring)]
        scores = scorer.many([genes.apply(scenario, child) for child in children])
        scored = sorted(scored + list(zip(scores, range(counter, counter + offspring), children)), key=_by_score)
        scored = scored[:parents]
        counter += offspring
        history.append(min(start_score, scored[0][0]))
    return _result(scenario, genes, scorer, start_score, scored[0][0], scored[0][2], history)


def greedy(
    scenario: Scenario,
    oracle: Oracle,
    objective: Objective | str = Objective.MEAN,
    *,
    sla: Sla | None = None,
    max_steps: int = 50,
    candidates: int | None = None,
    max_weight: int = DEFAULT_MAX_WEIGHT,
    symmetric: bool = True,
) -> SearchResult:
    """Baseline: for each of the ``candidates`` most utilised links (offered load / capacity under the current
    routing; default: every link), raise its weight by the least amount that moves some path off it; keep the
    best such change and repeat until none improves the score (or ``max_steps``)."""
    check_int("max_steps", max_steps)
    genes = WeightGenes.of(scenario.topology, symmetric)
    candidates = len(genes) if candidates is None else check_int("candidates", candidates, minimum=1)
    scorer = CachedScorer(oracle, objective, sla)
    start_score = scorer(scenario)
    weights = np.clip(genes.of_topology(scenario.topology), 1, max_weight)
    current = genes.apply(scenario, weights)
    best = scorer(current)
    history = [min(start_score, best)]
    for _ in range(max_steps):
        utilization = link_loads_bps(current) / current.topology.capacity_bps
        busiest = np.argsort([-max(utilization[lid] for lid in gene) for gene in genes.links], kind="stable")
        trials = [
            trial
            for g in busiest[:candidates]
            if (trial := _least_rerouting_raise(scenario, current, genes, weights, int(g), max_weight))
        ]
        scores = scorer.many([trial_scenario for _, trial_scenario in trials])
        scored = [
            (value, i, trial, trial_scenario) for i, (value, (trial, trial_scenario)) in enumerate(zip(scores, trials))
        ]
        if not scored or min(scored, key=_by_score)[0] >= best:
            break
        best, _, weights, current = min(scored, key=_by_score)
        history.append(min(start_score, best))
    return _result(scenario, genes, scorer, start_score, best, weights, history)


def _least_rerouting_raise(scenario: Scenario, current: Scenario, genes: WeightGenes, weights: np.ndarray, gene: int,
                           max_weight: int) -> tuple[np.ndarray, Scenario] | None:  # fmt: skip
    """The weights with gene ``gene`` raised just enough to change the routing, or None if even ``max_weight``
    does not."""
    for weight in range(int(weights[gene]) + 1, max_weight + 1):
        trial = weights.copy()
        trial[gene] = weight
        rerouted = genes.apply(scenario, trial)
        if rerouted.routing.paths != current.routing.paths:
            return trial, rerouted
    return None


def _by_score(entry: tuple) -> tuple[float, int]:
    return entry[0], entry[1]


def _mutate(weights: np.ndarray, rng: np.random.Generator, rate: float, max_weight: int) -> np.ndarray:
    child = weights.copy()
    chosen = rng.random(len(child)) < rate
    if not chosen.any():
        chosen[rng.integers(len(child))] = True
    for g in np.flatnonzero(chosen):
        if rng.random() < 0.5:
            child[g] += rng.choice([-3, -2, -1, 1, 2, 3])
        else:
            child[g] = rng.integers(1, max_weight + 1)
    return np.clip(child, 1, max_weight)


def _result(scenario: Scenario, genes: WeightGenes, scorer: CachedScorer, start_score: float, best_score: float,
            best_weights: np.ndarray, history: list[float]) -> SearchResult:  # fmt: skip
    if best_score < start_score:
        return SearchResult(
            genes.apply(scenario, best_weights),
            best_score,
            start_score,
            best_weights,
            genes,
            scorer.evaluations,
            history,
        )
    return SearchResult(scenario, start_score, start_score, None, genes, scorer.evaluations, history)
