"""The REST service: every route with and without tokens, bad input → 4xx naming the field, OpenAPI fuzzing with no
server error, and state that survives a kill -9 of the server."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx2")

import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from ndtwin.ops.registry import ModelRegistry  # noqa: E402
from ndtwin.service.app import create_app  # noqa: E402
from ndtwin.service.config import ServiceConfig  # noqa: E402
from ndtwin.service.tokens import TOKENS_FILE, TokenStore  # noqa: E402
from ndtwin.twin.catalog import load_twin  # noqa: E402
from ndtwin.whatif.analysis import what_if  # noqa: E402
from ndtwin.whatif.inputs import build_perturbation  # noqa: E402
from ndtwin.whatif.perturb import ScaleTraffic  # noqa: E402

ABILENE = (resources.files("ndtwin") / "resources" / "Abilene.graphml").read_bytes()
FINAL = ("succeeded", "failed", "cancelled")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """A service with auth on and the default model; a write and a read token; one uploaded Abilene scenario."""
    state = tmp_path_factory.mktemp("service-state")
    datasets = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    app = create_app(ServiceConfig(state, model="default", datasets=datasets, max_body_bytes=2**20))
    tokens = TokenStore(state)
    write, read = _bearer(tokens.create("write")), _bearer(tokens.create("read"))
    client = TestClient(app)
    created = client.post(
        "/scenarios", files={"file": ("Abilene.graphml", ABILENE)}, data={"load": "0.7"}, headers=write
    )
    assert created.status_code == 201, created.text
    yield SimpleNamespace(client=client, app=app, state=state, write=write, read=read, scenario=created.json())
    app.state.service.jobs.shutdown()


def _wait_for_job(api, job_id: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = api.client.get(f"/jobs/{job_id}", headers=api.read).json()
        if record["state"] in FINAL:
            return record
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s} s")


def _concrete(path: str) -> str:
    """An OpenAPI path with its parameters filled in with well-formed ids."""
    return path.replace("{scenario_id}", "s0123456789ab").replace("{job_id}", "j0123456789ab")


def test_open_routes_answer_without_a_token_and_load_nothing_from_the_internet(api) -> None:
    client = api.client
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/openapi.json").json()["info"]["title"] == "ndtwin"
    pages = [client.get(path) for path in ("/docs", "/redoc", "/")]
    assert [page.status_code for page in pages] == [200, 200, 200]
    for html in (page.text for page in pages):
        sources = [s for s in re.findall(r'(?:src|href)=["\']([^"\']+)["\']', html) if not s.startswith("data:")]
        assert sources and all(not s.startswith(("http:", "https:", "//")) for s in sources), sources
        for source in sources:
            assert client.get(source).status_code == 200, source
    assert client.get("/static/plotly.min.js").status_code == 200


def test_every_other_route_needs_a_token(api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    checked = 0
    for path, methods in paths.items():
        if path == "/healthz":
            continue
        for method in methods:
            for headers in ({}, _bearer("ndt_not-a-token")):
                answer = api.client.request(method.upper(), _concrete(path), headers=headers)
                assert answer.status_code == 401, (method, path, answer.text)
                assert answer.json()["field"] == "Authorization"
                assert answer.headers["www-authenticate"] == "Bearer"
            checked += 1
    assert checked >= 15


def test_a_read_token_cannot_change_state(api) -> None:
    scenario = api.scenario["id"]
    for method, path, kwargs in (
        ("POST", "/scenarios", {"files": {"file": ("Abilene.graphml", ABILENE)}}),
        ("DELETE", f"/scenarios/{scenario}", {}),
        ("POST", "/jobs", {"json": {"kind": "failures", "scenario_id": scenario}}),
        ("POST", "/registry/rollback", {}),
    ):
        answer = api.client.request(method, path, headers=api.read, **kwargs)
        assert answer.status_code == 403, (path, answer.text)
        assert "write token" in answer.json()["error"]
    assert api.client.get(f"/scenarios/{scenario}", headers=api.read).status_code == 200


def test_tokens_are_stored_hashed(api) -> None:
    token = TokenStore(api.state).create("read")
    stored = (api.state / TOKENS_FILE).read_text()
    assert token not in stored and token[8:] not in stored
    assert oct((api.state / TOKENS_FILE).stat().st_mode & 0o777) == "0o600"
    assert TokenStore(api.state).role_of(token) == "read"
    assert TokenStore(api.state).role_of(token + "x") is None


def test_without_auth_every_route_is_open(tmp_path) -> None:
    app = create_app(ServiceConfig(tmp_path, model="qt", auth=False))
    client = TestClient(app)
    assert client.get("/scenarios").json() == {"scenarios": []}
    created = client.post("/scenarios", files={"file": ("Abilene.graphml", ABILENE)})
    assert created.status_code == 201
    assert client.get(f"/scenarios/{created.json()['id']}/predict").json()["model"] == "qt"


def test_scenarios_upload_list_get_delete(api) -> None:
    client, write = api.client, api.write
    gml = b'graph [ directed 0 node [ id 0 label "a" ] node [ id 1 label "b" ] node [ id 2 label "c" ]\n'
    gml += b"edge [ source 0 target 1 capacity 1000 delay 1 ] edge [ source 1 target 2 capacity 1000 delay 2 ] ]"
    created = client.post(
        "/scenarios", files={"file": ("line.gml", gml)}, data={"load": "0.5", "seed": "3"}, headers=write
    )
    assert created.status_code == 201, created.text
    record = created.json()
    assert (record["n_nodes"], record["n_links"], record["n_flows"]) == (3, 4, 6)
    assert record["options"] == {"load": 0.5, "seed": 3, "capacity_bps": None}
    assert record["id"] in [r["id"] for r in client.get("/scenarios", headers=api.read).json()["scenarios"]]
    assert client.get(f"/scenarios/{record['id']}", headers=api.read).json() == record
    topology = client.get(f"/scenarios/{record['id']}/topology", headers=api.read).json()
    assert [n["name"] for n in topology["nodes"]] == ["a", "b", "c"]
    assert max(link["utilization"] for link in topology["links"]) == pytest.approx(0.5)
    abilene = client.get(f"/scenarios/{api.scenario['id']}/topology", headers=api.read).json()
    assert all(n["latitude"] is not None for n in abilene["nodes"])  # GraphML coordinates
    assert client.delete(f"/scenarios/{record['id']}", headers=write).status_code == 204
    missing = client.get(f"/scenarios/{record['id']}", headers=api.read)
    assert missing.status_code == 404 and missing.json()["field"] == "scenario_id"


@pytest.mark.parametrize(
    ("upload", "form", "field"),
    [
        (("net.txt", ABILENE), {}, "file"),
        (("net.graphml", b"<graphml><node"), {}, "file"),
        (("net.gml", b"graph [ node [ id 0 ] edge [ source 0 target 9 ] ]"), {}, "file"),
        (("net.gml", b"graph [ node [ id 0 ] ]"), {}, "topology"),
        (("net.gml", b"graph [ node [ id 0 ] node [ id 1 ] ]"), {}, "routing pair (0, 1)"),
        (("net.graphml", ABILENE), {"load": "-1"}, "load"),
        (("net.graphml", ABILENE), {"seed": "x"}, "seed"),
        (("net.graphml", ABILENE), {"capacity_bps": "0"}, "capacity_bps"),
    ],
)
def test_bad_uploads_are_refused_naming_the_field(api, upload, form, field) -> None:
    before = len(list((api.state / "scenarios").iterdir()))
    answer = api.client.post("/scenarios", files={"file": upload}, data=form, headers=api.write)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field and answer.json()["error"]
    assert len(list((api.state / "scenarios").iterdir())) == before  # nothing half-stored


def test_xml_bombs_and_external_entities_never_reach_the_reader(api) -> None:
    laughs = b'<?xml version="1.0"?><!DOCTYPE g [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
    laughs += b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><graphml><graph>&c;</graph></graphml>'
    external = b'<?xml version="1.0"?><!DOCTYPE g [<!ENTITY x SYSTEM "file:///etc/passwd">]><graphml>&x;</graphml>'
    for body in (laughs, external):
        answer = api.client.post("/scenarios", files={"file": ("g.graphml", body)}, headers=api.write)
        assert answer.status_code == 422 and answer.json()["field"] == "file"
        assert "DTD" in answer.json()["error"]


def test_bodies_over_the_limit_are_refused(api) -> None:
    answer = api.client.post("/scenarios", files={"file": ("big.gml", b" " * (2**20 + 1))}, headers=api.write)
    assert answer.status_code == 413 and answer.json()["field"] == "body"


def test_predict_as_json_csv_and_arrow(api) -> None:
    url = f"/scenarios/{api.scenario['id']}/predict"
    as_json = pd.DataFrame(api.client.get(url, headers=api.read).json()["flows"])
    as_csv = pd.read_csv(io.StringIO(api.client.get(url, headers={**api.read, "Accept": "text/csv"}).text))
    arrow = api.client.get(url, headers={**api.read, "Accept": "application/vnd.apache.arrow.stream"})
    as_arrow = pa.ipc.open_stream(arrow.content).read_all().to_pandas()
    assert len(as_json) == api.scenario["n_flows"] == len(as_csv) == len(as_arrow)
    for frame in (as_csv, as_arrow):
        assert list(frame.columns) == list(as_json.columns)
        pd.testing.assert_series_equal(frame["delay_s"], as_json["delay_s"], check_names=False)
    refused = api.client.get(url, headers={**api.read, "Accept": "image/png"})
    assert refused.status_code == 406 and refused.json()["field"] == "Accept"


def test_whatif_matches_the_library_with_intervals_and_a_cached_baseline(api) -> None:
    service = api.app.state.service
    url = f"/scenarios/{api.scenario['id']}/whatif"
    answer = api.client.post(url, json={"scale": 1.3, "budget_ms": 12}, headers=api.read)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    flows = pd.DataFrame(body["flows"])
    scenario = service.scenarios.get(api.scenario["id"]).scenario
    expected = what_if(load_twin("default"), scenario, ScaleTraffic(1.3), delay_budget_s=0.012)
    assert flows["delay_s_after"].to_numpy() == pytest.approx(expected.flows["delay_s_after"].to_numpy(), rel=1e-5)
    assert body["interval_coverage"] == pytest.approx(0.9)
    assert (flows["delay_s_after_lo"] <= flows["delay_s_after"]).all()
    assert (flows["delay_s_after"] <= flows["delay_s_after_hi"]).all()
    assert body["summary"]["sla"]["violations_after"] == expected.summary["sla"]["violations_after"]
    counter = service.metrics.model_runs.labels("whatif")
    before = counter._value.get()
    api.client.post(url, json={"fail_links": ["Chicago-Indianapolis"]}, headers=api.read)
    assert counter._value.get() - before == 1  # the baseline came from the cache


@pytest.mark.parametrize(
    "body",
    [
        {"scale": 1.2, "budget_ms": 10},
        {"fail_links": ["Chicago-Indianapolis"], "budget_ms": 5, "top": 3},
        {"fail_nodes": ["New York"], "drop_disconnected": True, "budget_ms": 8},
    ],
)
def test_whatif_json_is_the_library_answer_exactly(api, body) -> None:
    """The answer (orjson-encoded, outcome from the input check, cached baseline) has exactly the values of the
    library's answer encoded with the standard json module."""
    service = api.app.state.service
    scenario = service.scenarios.get(api.scenario["id"]).scenario
    answer = api.client.post(f"/scenarios/{api.scenario['id']}/whatif", json=body, headers=api.read)
    assert answer.status_code == 200, answer.text
    options = {key: body[key] for key in ("scale", "fail_links", "fail_nodes", "drop_disconnected") if key in body}
    expected = what_if(
        service.twin.twin,
        scenario,
        build_perturbation(scenario, **options),
        delay_budget_s=body["budget_ms"] / 1e3,
        intervals=service.twin.intervals,
        top=body.get("top", 5),
    )
    assert answer.json() == json.loads(json.dumps({"scenario_id": api.scenario["id"], **expected.to_dict()}))
    assert expected.gone.empty == ("fail_nodes" not in body)  # failing a node drops its flows


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "perturbation"),
        ({"fail_links": ["Atlantis-Chicago"]}, "fail_links[0]"),
        ({"fail_nodes": ["Chicago", "Atlantis"]}, "fail_nodes[1]"),
        ({"capacities": ["Chicago-Indianapolis"]}, "capacities[0]"),
        ({"capacities": ["Chicago-Indianapolis=-5"]}, "capacities[0]"),
        ({"paths": ["Chicago,Atlantis"]}, "paths[0]"),
        ({"scale": 0}, "scale"),
        ({"scale": "much"}, "scale"),
        ({"scale": 2, "budget_ms": -1}, "budget_ms"),
        ({"scale": 2, "top": 0}, "top"),
        ({"scale": 2, "anchored": True}, "anchored"),
    ],
)
def test_bad_whatifs_are_refused_naming_the_field(api, body, field) -> None:
    answer = api.client.post(f"/scenarios/{api.scenario['id']}/whatif", json=body, headers=api.read)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field, answer.json()


def test_anchored_whatif_on_a_dataset_sample(api, shared_data) -> None:
    created = api.client.post("/scenarios/dataset", json={"dataset": "gnnet/2021/validation"}, headers=api.write)
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["measured"] and record["kind"] == "dataset"
    answer = api.client.post(
        f"/scenarios/{record['id']}/whatif", json={"scale": 1.1, "anchored": True}, headers=api.read
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["anchored_on_measured_baseline"]
    sample = api.app.state.service.scenarios.get(record["id"]).sample
    before = pd.DataFrame(body["flows"])["delay_s_before"].to_numpy()
    assert before == pytest.approx(sample.flow_labels["delay_s"].to_numpy())  # measured, not predicted
    for reference, field in (
        ({"dataset": "../../etc"}, "dataset"),
        ({"dataset": "gnnet/2021/validation", "sample_id": "nope"}, "sample_id"),
    ):
        refused = api.client.post("/scenarios/dataset", json=reference, headers=api.write)
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.text


def test_jobs_run_report_progress_and_cancel(api) -> None:
    scenario = api.scenario["id"]
    started = api.client.post("/jobs", json={"kind": "failures", "scenario_id": scenario}, headers=api.write)
    assert started.status_code == 202 and started.json()["state"] == "queued"
    long = api.client.post(
        "/jobs",
        json={"kind": "routing", "scenario_id": scenario, "generations": 500, "offspring": 64},
        headers=api.write,
    ).json()
    done = _wait_for_job(api, started.json()["id"])
    assert done["state"] == "succeeded" and done["progress"] == 1.0, done
    assert len(done["result"]["failures"]) == 14  # Abilene's physical links
    assert done["result"]["intact"]["disconnected_pairs"] == 0
    deadline = time.monotonic() + 30
    while api.client.get(f"/jobs/{long['id']}", headers=api.read).json()["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    cancelled = api.client.post(f"/jobs/{long['id']}/cancel", headers=api.write)
    assert cancelled.status_code == 200
    assert _wait_for_job(api, long["id"])["state"] == "cancelled"
    again = api.client.post(f"/jobs/{long['id']}/cancel", headers=api.write)
    assert again.status_code == 409 and again.json()["field"] == "job_id"
    listed = [job["id"] for job in api.client.get("/jobs", headers=api.read).json()["jobs"]]
    assert {done["id"], long["id"]} <= set(listed)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"kind": "teleport", "scenario_id": "s0123456789ab"}, 422, "kind"),
        ({"kind": "failures", "scenario_id": "s0123456789ab"}, 404, "scenario_id"),
        ({"kind": "failures", "scenario_id": "../etc"}, 422, "scenario_id"),
        ({"kind": "capacity", "scenario_id": "s0123456789ab"}, 422, "body"),
        ({"kind": "routing", "scenario_id": "s0123456789ab", "generations": -1}, 422, "generations"),
    ],
)
def test_bad_jobs_are_refused_naming_the_field(api, body, status, field) -> None:
    answer = api.client.post("/jobs", json=body, headers=api.write)
    assert answer.status_code == status, answer.text
    assert answer.json()["field"] == field
    assert api.client.get("/jobs/jffffffffffff", headers=api.read).status_code == 404


def test_registry_list_promote_with_grade_gate_and_rollback(api, tmp_path) -> None:
    registry = ModelRegistry(api.state / "registry")
    for grade in ("Good", "Weak", "Excellent"):
        model = tmp_path / grade
        model.mkdir()
        (model / "grade.json").write_text(json.dumps({"grade": grade}))
        registry.register(model, metrics={"grade": grade}, data_window={}, parent=None)
    client = api.client
    assert [v["id"] for v in client.get("/registry", headers=api.read).json()["versions"]] == [
        "v0001",
        "v0002",
        "v0003",
    ]
    assert client.post("/registry/promote", json={"version": "v0001"}, headers=api.write).json()["serving"] == "v0001"
    weak = client.post("/registry/promote", json={"version": "v0002"}, headers=api.write)
    assert weak.status_code == 409 and "Weak" in weak.json()["error"] and weak.json()["field"] == "version"
    assert client.post("/registry/promote", json={"version": "v0003"}, headers=api.write).json()["serving"] == "v0003"
    assert client.post("/registry/rollback", headers=api.write).json()["serving"] == "v0001"
    unknown = client.post("/registry/promote", json={"version": "v0099"}, headers=api.write)
    assert unknown.status_code == 409 and "not registered" in unknown.json()["error"]
    assert client.post("/registry/promote", json={"version": "latest"}, headers=api.write).json()["field"] == "version"
    metrics = client.get("/metrics", headers=api.read).text
    assert 'ndtwin_serving_model_info{model="gnn:default",registry_version="v0001"} 1.0' in metrics


def test_operate_status_and_metrics(api) -> None:
    assert api.client.get("/operate", headers=api.read).json() == {"attached": False}
    folder = api.state / "operate"
    folder.mkdir()
    result = {"topology": "passion", "steps": 40, "finished": True, "serving_version": "v0002",
              "drifts_detected": [{"step": 12, "detectors": ["traffic"]}, {"step": 30, "detectors": ["residual"]}],
              "per_step_nmse_db": {"with_sync": [-10.0] * 40, "without_sync": [-8.0] * 40}}  # fmt: skip
    (folder / "result.json").write_text(json.dumps(result))
    try:
        status = api.client.get("/operate", headers=api.read).json()
        assert status["attached"] and status["drifts_detected"] == result["drifts_detected"]
        assert status["per_step_nmse_db"]["with_sync"][0] == -10.0
        metrics = api.client.get("/metrics", headers=api.read)
        assert metrics.headers["content-type"].startswith("text/plain")
        text = metrics.text
        assert "ndtwin_drift_events 2.0" in text
        assert re.search(
            r'ndtwin_http_requests_total\{method="POST",route="/scenarios/\{scenario_id\}/whatif",status="200"\} [1-9]',
            text,
        )
        assert (
            'ndtwin_http_request_seconds_bucket{le="0.5",method="GET",route="/scenarios/{scenario_id}/predict"}' in text
        )
        assert re.search(r'ndtwin_predictions_served_total\{kind="whatif"\} [1-9]', text)
        assert re.search(r'ndtwin_model_runs_total\{kind="predict"\} 1.0', text)  # predicted once, then cached
        assert re.search(r'ndtwin_jobs\{state="succeeded"\} [1-9]', text)
        assert api.client.get("/readyz", headers=api.read).json()["ready"] is True
    finally:
        (folder / "result.json").unlink()
        folder.rmdir()


def _fuzz(operation, headers: dict[str, str], scenario_id: str, failures: list) -> None:
    """Send ``operation`` requests drawn from its schema (on the stored scenario ``scenario_id``, so that bodies
    reach the twin, except for deletes); 5xx answers go to ``failures``, 4xx must say why."""
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(operation.as_strategy())
    def exercise(case) -> None:
        if "scenario_id" in (case.path_parameters or {}) and case.method != "DELETE":
            case.path_parameters["scenario_id"] = scenario_id
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append((operation.label, response.status_code, response.text[:200]))
        elif response.status_code >= 400:
            assert response.json().get("error"), (operation.label, response.text)

    exercise()


def test_openapi_fuzzing_finds_no_server_error(api) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    failures: list = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        _fuzz(operation, api.write, api.scenario["id"], failures)
    assert len(operations) >= 15
    assert failures == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(state: Path, port: int, log: Path) -> subprocess.Popen:
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, "-m", "ndtwin", "serve", "--state", str(state), "--port", str(port), "--model", "qt"]
    with open(log, "ab") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=output, start_new_session=True)


def _until_up(client, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            if client.get("/healthz").status_code == 200:
                return
        except Exception:  # noqa: BLE001 - not listening yet
            time.sleep(0.2)
    raise AssertionError("the server did not come up")


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (zombies count as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_scenarios_tokens_and_jobs_survive_a_kill(tmp_path) -> None:
    import httpx2

    state, port = tmp_path / "state", _free_port()
    secret = TokenStore(state).create("write")
    token, log = _bearer(secret), tmp_path / "server.log"
    server = _serve(state, port, log)
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            _until_up(client, server)
            scenario = client.post("/scenarios", files={"file": ("Abilene.graphml", ABILENE)}, headers=token).json()
            job = client.post(
                "/jobs",
                json={"kind": "routing", "scenario_id": scenario["id"], "generations": 500, "offspring": 64},
                headers=token,
            ).json()
            deadline = time.monotonic() + 30
            while client.get(f"/jobs/{job['id']}", headers=token).json()["state"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            workers = [
                int(pid)
                for task in Path(f"/proc/{server.pid}/task").iterdir()
                for pid in (task / "children").read_text().split()
            ]
            os.kill(server.pid, signal.SIGKILL)  # the server alone: its job workers must notice and end
            server.wait(10)
            deadline = time.monotonic() + 15
            while any(_running(pid) for pid in workers):
                assert time.monotonic() < deadline, "a worker outlived the killed server"
                time.sleep(0.2)
            server = _serve(state, port, log)
            _until_up(client, server)
            assert client.get(f"/scenarios/{scenario['id']}", headers=token).json() == scenario
            record = client.get(f"/jobs/{job['id']}", headers=token).json()
            assert record["state"] == "failed" and "interrupted" in record["error"], record
            prediction = client.get(f"/scenarios/{scenario['id']}/predict", headers=token)
            assert len(prediction.json()["flows"]) == scenario["n_flows"]
        logged = log.read_text()
        assert f'"GET /jobs/{job["id"]} HTTP/1.1" 200' in logged  # the access log is on…
        assert secret not in logged and secret[4:20] not in logged  # …and holds no token
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)


def test_token_create_command(tmp_path) -> None:
    from typer.testing import CliRunner

    from ndtwin.cli.main import app

    runner = CliRunner()
    made = runner.invoke(app, ["serve", "token", "create", "--state", str(tmp_path), "--role", "read"])
    assert made.exit_code == 0, made.output
    assert TokenStore(tmp_path).role_of(made.stdout.strip()) == "read"
    refused = runner.invoke(app, ["serve", "token", "create", "--state", str(tmp_path), "--role", "admin"])
    assert refused.exit_code == 2 and "--role" in refused.output
    open_bind = runner.invoke(app, ["serve", "--state", str(tmp_path), "--no-auth", "--host", "0.0.0.0"])
    assert open_bind.exit_code == 2 and "loopback" in open_bind.output
    (tmp_path / "blocker").write_text("kept")
    blocked = runner.invoke(
        app, ["serve", "token", "create", "--state", str(tmp_path / "blocker" / "s"), "--role", "read"]
    )
    assert blocked.exit_code == 2 and "--state cannot be written" in " ".join(blocked.output.split())
    assert blocked.exception is None or isinstance(blocked.exception, SystemExit)
    assert (tmp_path / "blocker").read_text() == "kept"


def test_a_job_on_a_scenario_deleted_before_it_starts_fails_with_the_reason(api) -> None:
    created = api.client.post("/scenarios", files={"file": ("Abilene.graphml", ABILENE)}, headers=api.write).json()
    job = api.app.state.service.jobs
    api.client.delete(f"/scenarios/{created['id']}", headers=api.write)
    record = job.submit("failures", created["id"], {"budget_ms": None, "max_loss": 0.01})
    done = _wait_for_job(api, record["id"])
    assert done["state"] == "failed" and created["id"] in done["error"], done
    after = api.client.post("/jobs", json={"kind": "failures", "scenario_id": api.scenario["id"]}, headers=api.write)
    assert _wait_for_job(api, after.json()["id"])["state"] == "succeeded"  # the pool still works
