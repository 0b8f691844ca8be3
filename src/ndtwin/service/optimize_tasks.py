"""Optimization jobs as they run in a worker process: routing weights, capacity planning, single link failures.

The twin's predictions go through :class:`ReportingTwin`, which counts them (the job's progress, against the
number of predictions the task is expected to make) and stops the task when the job is cancelled.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ndtwin.optimize import Objective, Sla, evolve, greedy, plan_capacity, single_link_failures
from ndtwin.optimize.planning import physical_links
from ndtwin.optimize.report import capacity_records, failure_records, routing_records
from ndtwin.scenario import Scenario
from ndtwin.twin.base import Twin
from ndtwin.twin.catalog import load_twin
from ndtwin.whatif.analysis import json_safe

KINDS = ("routing", "capacity", "failures")


class JobCancelled(Exception):
    """The job was cancelled while it ran."""


class ReportingTwin:
    """A twin whose predictions are counted into ``report(done)`` and stop once ``cancelled()`` is true."""

    def __init__(self, twin: Twin, report: Callable[[int], None], cancelled: Callable[[], bool]) -> None:
        self.twin, self.name = twin, twin.name
        self._report, self._cancelled = report, cancelled
        self.done = 0

    def _count(self, n: int) -> None:
        if self._cancelled():
            raise JobCancelled
        self.done += n
        self._report(self.done)

    def predict(self, scenario: Scenario) -> pd.DataFrame:
        self._count(1)
        return self.twin.predict(scenario)

    def predict_many(self, scenarios: list[Scenario]) -> list[pd.DataFrame]:
        self._count(len(scenarios))
        many = getattr(self.twin, "predict_many", None)
        return many(scenarios) if many is not None else [self.twin.predict(s) for s in scenarios]


def _sla(params: dict[str, Any]) -> Sla | None:
    budget = params.get("budget_ms")
    return None if budget is None else Sla(budget / 1e3, params.get("max_loss", 0.01))


def expected_predictions(kind: str, scenario: Scenario, params: dict[str, Any]) -> int:
    """About how many predictions the task makes (the denominator of its progress)."""
    links = len(physical_links(scenario))
    if kind == "routing":
        return 1 + params["parents"] + params["generations"] * params["offspring"] + links * 4
    if kind == "capacity":
        return (1 + links) * (params["max_steps"] + 1)
    return 1 + links


def run_routing(scenario: Scenario, twin: ReportingTwin, params: dict[str, Any]) -> dict[str, Any]:
    goal, sla = Objective.parse(params["objective"]), _sla(params)
    symmetric = not params["per_direction"]
    searched = evolve(scenario, twin.predict, goal, sla=sla, generations=params["generations"],
                      parents=params["parents"], offspring=params["offspring"], symmetric=symmetric,
                      seed=params["seed"])  # fmt: skip
    baseline = greedy(scenario, twin.predict, goal, sla=sla, symmetric=symmetric)
    return routing_records(scenario, goal.value, searched, baseline)


def run_capacity(scenario: Scenario, twin: ReportingTwin, params: dict[str, Any]) -> dict[str, Any]:
    plan = plan_capacity(scenario, twin.predict, _sla(params), growth=params["growth"],
                         max_steps=params["max_steps"], upgrade_factor=params["upgrade_factor"])  # fmt: skip
    return capacity_records(scenario, plan)


def run_failures(scenario: Scenario, twin: ReportingTwin, params: dict[str, Any]) -> dict[str, Any]:
    intact, failures = single_link_failures(scenario, twin.predict, _sla(params))
    return failure_records(scenario, intact, failures)


TASKS = {"routing": run_routing, "capacity": run_capacity, "failures": run_failures}


def exit_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the service process that started it is gone (e.g. killed with
    SIGKILL), whether it is idle or running a job."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def run_job(state: Path, job_id: str, kind: str, scenario_id: str, model: str, params: dict[str, Any]) -> dict:
    """Run one job in a worker process and return its JSON-safe result (progress and cancellation go through the
    job's files under ``state``)."""
    from ndtwin.service.jobs import JobFiles
    from ndtwin.service.scenarios import ScenarioStore

    files = JobFiles(state, job_id)
    scenario = ScenarioStore(state, None).get(scenario_id).scenario
    expected = max(1, expected_predictions(kind, scenario, params))
    files.write_progress(0.0)
    twin = ReportingTwin(
        load_twin(model),
        lambda done: files.write_progress(min(0.99, done / expected)),
        files.cancel_requested,
    )
    result = TASKS[kind](scenario, twin, params)
    return json_safe({"model": twin.name, "kind": kind, "predictions": twin.done, **result})
