"""Routes of stored scenarios: upload a topology file or reference a dataset sample; list, get, delete; the map."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Request, Response, UploadFile
from pydantic import BaseModel, Field

from ndtwin.scenario.generate import link_loads_bps
from ndtwin.service.auth import require_read, require_write
from ndtwin.service.scenarios import ID_PATTERN

router = APIRouter(tags=["scenarios"])
ScenarioId = Annotated[str, Path(pattern=ID_PATTERN, description="A scenario id, e.g. s0123456789ab.")]


class DatasetReference(BaseModel):
    dataset: str = Field(
        min_length=1, max_length=500, description="A dataset path inside the service's --datasets folder."
    )
    sample_id: str | None = Field(None, max_length=500, description="Sample id (default: the first sample).")
    name: str | None = Field(None, max_length=200)


def _service(request: Request) -> Any:
    return request.app.state.service


@router.post("/scenarios", status_code=201, dependencies=[Depends(require_write)])
def upload_scenario(
    request: Request,
    file: Annotated[UploadFile, File(description="A GraphML or GML topology file.")],
    load: Annotated[float, Form(gt=0, le=10, description="Busiest link's utilisation of the all-pairs traffic.")] = 0.7,
    seed: Annotated[int, Form(ge=0, le=2**31, description="Seed of the all-pairs traffic.")] = 0,
    capacity_bps: Annotated[
        float | None, Form(gt=0, le=1e15, description="Capacity of links whose file gives none.")
    ] = None,
    name: Annotated[str | None, Form(max_length=200)] = None,
) -> dict:
    """Store a topology with all-pairs traffic (as ``ndtwin whatif run FILE --load --seed`` builds it)."""
    return _service(request).scenarios.add_topology(
        file.file.read(), file.filename or "", load=load, seed=seed, capacity_bps=capacity_bps, name=name
    )


@router.post("/scenarios/dataset", status_code=201, dependencies=[Depends(require_write)])
def reference_dataset(request: Request, body: DatasetReference) -> dict:
    """Store a copy of a dataset's sample (its measured labels make anchored what-ifs possible)."""
    return _service(request).scenarios.add_dataset_sample(body.dataset, body.sample_id, body.name)


@router.get("/scenarios", dependencies=[Depends(require_read)])
def list_scenarios(request: Request) -> dict:
    return {"scenarios": _service(request).scenarios.records()}


@router.get("/scenarios/{scenario_id}", dependencies=[Depends(require_read)])
def get_scenario(request: Request, scenario_id: ScenarioId) -> dict:
    return _service(request).scenarios.record(scenario_id)


@router.delete("/scenarios/{scenario_id}", status_code=204, dependencies=[Depends(require_write)])
def delete_scenario(request: Request, scenario_id: ScenarioId) -> Response:
    service = _service(request)
    service.scenarios.delete(scenario_id)
    service.twin.forget(scenario_id)
    return Response(status_code=204)


@router.get("/scenarios/{scenario_id}/topology", dependencies=[Depends(require_read)])
def scenario_topology(request: Request, scenario_id: ScenarioId) -> dict:
    """Nodes (with latitude/longitude where the file gives them) and links with their offered utilisation."""
    loaded = _service(request).scenarios.get(scenario_id)
    topology = loaded.scenario.topology
    utilization = link_loads_bps(loaded.scenario) / topology.capacity_bps
    names = topology.node_names
    return {
        "nodes": [
            {
                "name": n,
                "latitude": loaded.coordinates.get(n, (None, None))[0],
                "longitude": loaded.coordinates.get(n, (None, None))[1],
            }
            for n in names
        ],
        "links": [
            {"src": names[link.src], "dst": names[link.dst], "capacity_bps": link.capacity_bps, "utilization": float(u)}
            for link, u in zip(topology.links, utilization)
        ],
    }
