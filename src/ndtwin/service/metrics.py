"""Prometheus metrics of the service: requests and latency per route, predictions, jobs, model version, drift."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServiceMetrics:
    """The service's metrics, in a registry of their own (several apps may live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ndtwin_http_requests", "HTTP requests answered.", ("method", "route", "status"), registry=self.registry
        )
        self.latency = Histogram(
            "ndtwin_http_request_seconds",
            "Time to answer an HTTP request.",
            ("method", "route"),
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.predictions = Counter(
            "ndtwin_predictions_served", "Prediction and what-if answers served.", ("kind",), registry=self.registry
        )
        self.model_runs = Counter(
            "ndtwin_model_runs", "Scenarios the model predicted for requests (cached baselines not counted).",
            ("kind",), registry=self.registry,
        )  # fmt: skip
        self.jobs = Gauge("ndtwin_jobs", "Optimization jobs by state.", ("state",), registry=self.registry)
        self.model = Gauge(
            "ndtwin_serving_model_info", "The model answering requests (1) and the registry's serving version.",
            ("model", "registry_version"), registry=self.registry,
        )  # fmt: skip
        self.drift_events = Gauge(
            "ndtwin_drift_events", "Drifts detected by the attached operate loop.", registry=self.registry
        )

    async def middleware(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Count and time every request by its route template (not its raw path: ids stay out of the labels)."""
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        self.latency.labels(request.method, name).observe(time.perf_counter() - started)
        self.requests.labels(request.method, name, str(response.status_code)).inc()
        return response
