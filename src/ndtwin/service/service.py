"""What one running service holds: its settings, stores, job manager, served model and metrics."""

from __future__ import annotations

from dataclasses import dataclass

from ndtwin.service.config import ServiceConfig
from ndtwin.service.jobs import JobManager
from ndtwin.service.metrics import ServiceMetrics
from ndtwin.service.scenarios import ScenarioStore
from ndtwin.service.served_twin import ServedTwin


@dataclass
class Service:
    config: ServiceConfig
    scenarios: ScenarioStore
    jobs: JobManager
    twin: ServedTwin
    metrics: ServiceMetrics

    @classmethod
    def start(cls, config: ServiceConfig) -> Service:
        """Open the state folder: interrupted uploads removed, interrupted jobs marked failed, the model loaded."""
        scenarios = ScenarioStore(config.state, config.datasets)
        scenarios.clean()
        twin = ServedTwin(config.model)
        jobs = JobManager(config.state, config.model, config.workers)
        return cls(config, scenarios, jobs, twin, ServiceMetrics())
