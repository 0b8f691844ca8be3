"""Routes of operation: health, readiness, Prometheus metrics, the model registry and the operate loop's status."""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import generate_latest
from pydantic import BaseModel, Field

from ndtwin.ops.registry import ModelRegistry, RegistryError
from ndtwin.service.auth import require_read, require_write
from ndtwin.service.metrics import PROMETHEUS_CONTENT_TYPE
from ndtwin.service.problems import ApiError

router = APIRouter(tags=["operation"])
RESULT_FILE = "result.json"


class PromoteRequest(BaseModel):
    version: str = Field(pattern=r"^v\d{4,}$", description="The version to serve, e.g. v0003.")


def _registry(request: Request, *, create: bool = False) -> ModelRegistry | None:
    root = request.app.state.service.config.registry_dir
    try:
        return ModelRegistry(root, create=create)
    except RegistryError:
        return None


def registry_listing(request: Request) -> dict[str, Any]:
    """The registry's versions, history and serving version (empty when there is no registry yet)."""
    registry = _registry(request)
    if registry is None:
        return {"serving": None, "history": [], "versions": []}
    history = registry.history()
    return {
        "serving": history[-1] if history else None,
        "history": history,
        "versions": [{k: v for k, v in info.to_dict().items() if k != "model_dir"} for info in registry.versions()],
    }


def operate_status(request: Request) -> dict[str, Any]:
    """Drift and SLA figures of the attached ``ndtwin operate --state`` folder (its last result.json)."""
    folder = request.app.state.service.config.operate_dir
    if folder is None:
        return {"attached": False}
    path = folder / RESULT_FILE
    result = json.loads(path.read_text()) if path.is_file() else None
    keys = ("topology", "steps", "finished", "drifts_detected", "promotions", "serving_version", "nmse_db", "sla",
            "sla_accuracy", "retrain_outcomes", "per_step_nmse_db")  # fmt: skip
    return {
        "attached": True,
        "has_result": result is not None,
        **({key: result.get(key) for key in keys} if result else {}),
    }


@router.get("/healthz", tags=["health"])
def healthz() -> dict:
    """Liveness: 200 while the process answers (no token needed)."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"], dependencies=[Depends(require_read)])
def readyz(request: Request) -> Response:
    """Readiness: the model is loaded and the state folder writable (503 otherwise)."""
    service = request.app.state.service
    writable = os.access(service.config.state, os.W_OK)
    body = {"ready": writable, "model": service.twin.twin.name, "state_writable": writable}
    return Response(json.dumps(body), status_code=200 if writable else 503, media_type="application/json")


@router.get("/metrics", dependencies=[Depends(require_read)], response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus exposition format."""
    service = request.app.state.service
    for state, count in service.jobs.counts().items():
        service.metrics.jobs.labels(state).set(count)
    serving = registry_listing(request)["serving"]
    service.metrics.model.clear()
    service.metrics.model.labels(service.twin.twin.name, serving or "none").set(1)
    drifts = operate_status(request).get("drifts_detected") or []
    service.metrics.drift_events.set(len(drifts))
    return Response(generate_latest(service.metrics.registry), media_type=PROMETHEUS_CONTENT_TYPE)


@router.get("/registry", dependencies=[Depends(require_read)])
def list_registry(request: Request) -> dict:
    """Registered model versions, oldest first, the promotion history and the serving version."""
    return registry_listing(request)


@router.post("/registry/promote", dependencies=[Depends(require_write)])
def promote(request: Request, body: PromoteRequest) -> dict:
    """Serve a version (refused, 409, when its trust grade is Weak)."""
    registry = _registry(request)
    if registry is None:
        raise ApiError(409, "no model registry here", "version")
    registry.promote(body.version)
    return registry_listing(request)


@router.post("/registry/rollback", dependencies=[Depends(require_write)])
def rollback(request: Request) -> dict:
    """Serve the previously serving version again (409 when there is none)."""
    registry = _registry(request)
    if registry is None:
        raise ApiError(409, "no model registry here", "version")
    registry.rollback()
    return registry_listing(request)


@router.get("/operate", dependencies=[Depends(require_read)])
def operate(request: Request) -> dict:
    """Drift timeline, SLA figures and serving version of the attached operate folder (``attached`` false when
    there is none)."""
    return operate_status(request)
