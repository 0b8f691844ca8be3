"""Routes that ask the twin: per-flow predictions (JSON, CSV or Arrow) and what-if answers."""

from __future__ import annotations

import io
import json
from typing import Annotated

import orjson
import pyarrow as pa
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ndtwin.errors import check_number
from ndtwin.service.auth import require_read
from ndtwin.service.problems import ApiError
from ndtwin.service.routes_scenarios import ScenarioId
from ndtwin.twin.base import flow_table
from ndtwin.whatif.analysis import what_if
from ndtwin.whatif.inputs import checked_perturbation

router = APIRouter(tags=["analysis"])
ARROW = "application/vnd.apache.arrow.stream"
MEDIA_TYPES = ("application/json", "text/csv", ARROW)
Items = Annotated[list[Annotated[str, Field(max_length=1000)]], Field(max_length=500)]


class WhatIfRequest(BaseModel):
    """The perturbation (as ``ndtwin whatif run`` options; applied in the order traffic, capacities, weights,
    failures, paths) and the answer's options."""

    scale: float | None = Field(None, gt=0, le=1000, description="Multiply every flow's rate.")
    fail_links: Items = Field([], description="Links U-V to fail (both directions).")
    fail_nodes: Items = Field([], description="Nodes to fail.")
    capacities: Items = Field([], description="U-V=BPS: set a link's capacity.")
    weights: Items = Field([], description="U-V=W: set a link's routing weight.")
    paths: Items = Field([], description="A,B,C: explicit path of the A→C flows.")
    drop_disconnected: bool = Field(False, description="Drop flows a failure disconnects (else: an error).")
    budget_ms: float | None = Field(None, gt=0, le=1e6, description="Delay budget for SLA violation counts.")
    anchored: bool = Field(False, description="Dataset samples: anchor on the sample's measured values.")
    top: int = Field(5, ge=1, le=100, description="Flows and links in the summary.")


def _media_type(accept: str | None) -> str:
    """The first of MEDIA_TYPES the Accept header takes (JSON for none or */*); ApiError 406 otherwise."""
    if not accept:
        return "application/json"
    for item in accept.split(","):
        media = item.split(";")[0].strip().lower()
        if media in MEDIA_TYPES:
            return media
        if media in ("*/*", "application/*"):
            return "application/json"
        if media == "text/*":
            return "text/csv"
    raise ApiError(406, f"one of {list(MEDIA_TYPES)} in Accept, got {accept!r}", "Accept")


@router.get(
    "/scenarios/{scenario_id}/predict",
    dependencies=[Depends(require_read)],
    responses={200: {"content": {"text/csv": {}, ARROW: {}}, "description": "Per-flow predictions."}},
)
def predict(request: Request, scenario_id: ScenarioId, accept: Annotated[str | None, Header()] = None) -> Response:
    """Per-flow delay (s), jitter (delay variance, s²) and loss; JSON, CSV or Arrow IPC stream by Accept."""
    media = _media_type(accept)
    service = request.app.state.service
    loaded = service.scenarios.get(scenario_id)
    prediction, predicted = service.twin.baseline(scenario_id, loaded.scenario)
    service.metrics.predictions.labels("predict").inc()
    service.metrics.model_runs.labels("predict").inc(int(predicted))
    table = flow_table(loaded.scenario, prediction)
    if media == "text/csv":
        return Response(table.to_csv(index=False), media_type="text/csv")
    if media == ARROW:
        sink = io.BytesIO()
        arrow = pa.Table.from_pandas(table, preserve_index=False)
        with pa.ipc.new_stream(sink, arrow.schema) as writer:
            writer.write_table(arrow)
        return Response(sink.getvalue(), media_type=ARROW)
    head = json.dumps({"model": service.twin.twin.name, "scenario_id": scenario_id})
    body = head[:-1] + ', "flows": ' + table.to_json(orient="records", double_precision=15) + "}"  # NaN → null
    return Response(body, media_type="application/json")


@router.post("/scenarios/{scenario_id}/whatif", dependencies=[Depends(require_read)], response_class=JSONResponse)
def whatif(request: Request, scenario_id: ScenarioId, body: WhatIfRequest) -> Response:
    """Per-flow predictions before and after the change, with 90 % intervals when the model has calibrated ones
    and SLA counts against ``budget_ms``; ``anchored``: start from the sample's measured values."""
    service = request.app.state.service
    loaded = service.scenarios.get(scenario_id)
    if body.anchored and loaded.sample is None:
        raise ApiError(
            422, "anchored answers need a dataset sample with measured values (POST /scenarios/dataset)", "anchored"
        )
    perturbation, outcome = checked_perturbation(
        loaded.scenario,
        scale=body.scale,
        fail_links=body.fail_links,
        fail_nodes=body.fail_nodes,
        capacities=body.capacities,
        weights=body.weights,
        paths=body.paths,
        drop_disconnected=body.drop_disconnected,
    )
    budget = None if body.budget_ms is None else check_number("budget_ms", body.budget_ms, minimum=0, strict=True) / 1e3
    if body.anchored:
        twin, baseline_predictions = service.twin.twin, 1
        intervals = None
    else:
        twin, baseline_predictions = service.twin.for_baseline(scenario_id, loaded.scenario)
        intervals = service.twin.intervals
    result = what_if(
        twin,
        loaded.scenario,
        perturbation,
        delay_budget_s=budget,
        intervals=intervals,
        top=body.top,
        measured=loaded.sample.flow_labels if body.anchored else None,
        anchored=service.twin.anchored if body.anchored else None,
        outcome=outcome,
    )
    service.metrics.predictions.labels("whatif").inc()
    service.metrics.model_runs.labels("whatif").inc(1 + baseline_predictions)
    answer = {"scenario_id": scenario_id, **result.to_dict()}  # JSON-safe: NaN already None
    return Response(orjson.dumps(answer), media_type="application/json")  # the same values, encoded faster
