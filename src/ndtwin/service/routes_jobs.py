"""Routes of optimization jobs (routing weights, capacity planning, single link failures): start, watch, cancel."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field, model_validator

from ndtwin.service.auth import require_read, require_write
from ndtwin.service.jobs import ID_PATTERN
from ndtwin.service.scenarios import ID_PATTERN as SCENARIO_ID_PATTERN

router = APIRouter(tags=["jobs"])
JobId = Annotated[str, Path(pattern=ID_PATTERN, description="A job id, e.g. j0123456789ab.")]


class OptimizeRequest(BaseModel):
    """An optimization of a stored scenario with the served model as oracle (as ``ndtwin optimize KIND``)."""

    kind: Literal["routing", "capacity", "failures"]
    scenario_id: str = Field(pattern=SCENARIO_ID_PATTERN)
    objective: Literal["mean", "p95", "sla"] = Field("mean", description="routing: what to minimise.")
    budget_ms: float | None = Field(None, gt=0, le=1e6, description="Per-flow mean-delay budget (ms) of the SLA.")
    max_loss: float = Field(0.01, ge=0, le=1, description="Per-flow loss budget of the SLA.")
    generations: int = Field(30, ge=0, le=500, description="routing: generations of the evolution strategy.")
    parents: int = Field(4, ge=1, le=64, description="routing: configurations kept per generation.")
    offspring: int = Field(12, ge=1, le=256, description="routing: new configurations per generation.")
    per_direction: bool = Field(False, description="routing: one weight per directed link.")
    seed: int = Field(0, ge=0, le=2**31, description="routing: seed of the evolution strategy.")
    growth: float = Field(1.1, gt=1, le=10, description="capacity: traffic multiplier per step.")
    max_steps: int = Field(30, ge=1, le=200, description="capacity: steps of growth to try.")
    upgrade_factor: float = Field(2.0, gt=1, le=1000, description="capacity: capacity multiplier of an upgrade.")

    @model_validator(mode="after")
    def _needs_budget(self) -> OptimizeRequest:
        if self.budget_ms is None and (self.kind == "capacity" or self.objective == "sla"):
            raise ValueError("budget_ms is required for capacity planning and the sla objective")
        return self


@router.post("/jobs", status_code=202, dependencies=[Depends(require_write)])
def start_job(request: Request, body: OptimizeRequest) -> dict:
    """Queue an optimization; its record (id, state, progress, result) is at ``/jobs/{id}``."""
    service = request.app.state.service
    service.scenarios.record(body.scenario_id)
    params = body.model_dump(exclude={"kind", "scenario_id"})
    return service.jobs.submit(body.kind, body.scenario_id, params)


@router.get("/jobs", dependencies=[Depends(require_read)])
def list_jobs(request: Request) -> dict:
    return {"jobs": request.app.state.service.jobs.records()}


@router.get("/jobs/{job_id}", dependencies=[Depends(require_read)])
def get_job(request: Request, job_id: JobId) -> dict:
    return request.app.state.service.jobs.get(job_id)


@router.post("/jobs/{job_id}/cancel", dependencies=[Depends(require_write)])
def cancel_job(request: Request, job_id: JobId) -> dict:
    """Cancel a queued or running job (a running one stops at its next prediction)."""
    return request.app.state.service.jobs.cancel(job_id)
