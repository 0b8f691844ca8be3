"""Load and faults of ``ndtwin serve``: a real uvicorn process on 127.0.0.1 and bounded asyncio clients.

Workloads: what-if requests on Abilene (all-pairs traffic, load 0.7; each request a different perturbation: a link
failure or a traffic scale, so only the baseline prediction can come from the cache) and per-flow predictions
(JSON) of a 100-node GNNet sample. For each number of clients, a fixed number of requests is sent by that many
concurrent clients, each sending its next request when the previous one is answered. Printed per run: requests,
seconds, throughput, p50/p99 latency, errors (non-2xx or transport errors) and the server's CPU time per request
(user + system of the server process and its children, from /proc).

Then the fault: an optimization job is started, the server process alone is killed with SIGKILL while the job
runs, and a new server is started on the same state folder; printed: whether the scenarios, the token and the
registry are intact, the job's state and error, and whether the orphaned worker process exited by itself.

    nice -n 10 .venv/bin/python bench/serve_load.py --clients 1 8 32 --requests 400 --predict-requests 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import httpx2
import numpy as np

from ndtwin.ops.registry import ModelRegistry
from ndtwin.service.tokens import TokenStore

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its waited-for children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / TICKS


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(state: Path, port: int, model: str, datasets: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "ndtwin", "serve", "--state", str(state), "--port", str(port), "--model", model,
               "--datasets", str(datasets), "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx2.TransportError:
            time.sleep(0.2)
    raise SystemExit("the server did not come up")


async def load_run(base: str, headers: dict, make_request, clients: int, total: int) -> dict:
    """``total`` requests from ``clients`` concurrent clients; latencies and errors."""
    latencies: list[float] = []
    errors = 0
    issued = 0

    async def client(http: httpx2.AsyncClient) -> None:
        nonlocal issued, errors
        while issued < total:
            number = issued
            issued += 1
            method, path, body = make_request(number)
            started = time.perf_counter()
            try:
                answer = await http.request(method, path, json=body, headers=headers)
                ok = answer.is_success
            except httpx2.TransportError:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx2.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        seconds = time.perf_counter() - started
    ms = np.array(latencies) * 1e3
    return {"requests": total, "seconds": seconds, "per_s": total / seconds, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "errors": errors}  # fmt: skip


def abilene_whatifs(scenario_id: str, links: list[str]):
    def make(number: int) -> tuple[str, str, dict]:
        if number % 2:
            body = {"scale": round(1.0 + 0.01 * (number % 50), 2), "budget_ms": 10}
        else:
            body = {"fail_links": [links[(number // 2) % len(links)]], "budget_ms": 10, "drop_disconnected": True}
        return "POST", f"/scenarios/{scenario_id}/whatif", body

    return make


def predictions(scenario_id: str):
    return lambda number: ("GET", f"/scenarios/{scenario_id}/predict", None)


def fault_run(state: Path, port: int, model: str, datasets: Path, token: str, scenario_id: str) -> dict:
    """Kill -9 the server during an optimization job and start it again."""
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{port}"
    server = start_server(state, port, model, datasets)
    job = httpx2.post(f"{base}/jobs", json={"kind": "routing", "scenario_id": scenario_id, "generations": 500,
                                            "offspring": 64}, headers=headers).json()  # fmt: skip
    while httpx2.get(f"{base}/jobs/{job['id']}", headers=headers).json()["state"] != "running":
        time.sleep(0.2)
    scenarios_before = httpx2.get(f"{base}/scenarios", headers=headers).json()
    registry_before = httpx2.get(f"{base}/registry", headers=headers).json()
    workers = children(server.pid)
    server.send_signal(signal.SIGKILL)
    server.wait()
    killed_at = time.monotonic()
    server = start_server(state, port, model, datasets)
    try:
        record = httpx2.get(f"{base}/jobs/{job['id']}", headers=headers).json()
        orphans_alive = workers
        while orphans_alive and time.monotonic() - killed_at < 60:
            orphans_alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
            time.sleep(0.5)
        return {
            "scenarios_intact": httpx2.get(f"{base}/scenarios", headers=headers).json() == scenarios_before,
            "registry_intact": httpx2.get(f"{base}/registry", headers=headers).json() == registry_before,
            "token_accepted": httpx2.get(f"{base}/readyz", headers=headers).status_code == 200,
            "job_state": record["state"],
            "job_error": record["error"],
            "orphaned_workers_exited": not orphans_alive,
            "orphans_gone_after_s": round(time.monotonic() - killed_at, 1),
        }
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=400, help="What-if requests per run.")
    parser.add_argument("--predict-requests", type=int, default=100, help="Prediction requests per run.")
    parser.add_argument("--model", default="default")
    parser.add_argument("--gnnet", default="gnnet/2022/validation/100", help="Dataset under --data for predictions.")
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--no-fault", action="store_true", help="Skip the kill -9 run.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ndtwin-serve-load-") as scratch:
        state, port = Path(scratch) / "state", free_port()
        token = TokenStore(state).create("write")
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{port}"
        registry, model_dir = ModelRegistry(state / "registry"), Path(scratch) / "model"
        model_dir.mkdir()
        registry.promote(registry.register(model_dir, metrics={}, data_window={}, parent=None, note="bench"))
        server = start_server(state, port, args.model, args.data)
        try:
            abilene = (resources.files("ndtwin") / "resources" / "Abilene.graphml").read_bytes()
            scenario = httpx2.post(f"{base}/scenarios", files={"file": ("Abilene.graphml", abilene)},
                                   data={"load": "0.7"}, headers=headers).json()  # fmt: skip
            topology = httpx2.get(f"{base}/scenarios/{scenario['id']}/topology", headers=headers).json()
            links = sorted({"-".join(sorted((link["src"], link["dst"]))) for link in topology["links"]})
            sample = httpx2.post(
                f"{base}/scenarios/dataset", json={"dataset": args.gnnet}, headers=headers, timeout=120
            )
            sample = sample.json()
            print(f"Abilene: {scenario['n_flows']} flows; {args.gnnet} sample {sample['sample_id']}: "
                  f"{sample['n_nodes']} nodes, {sample['n_flows']} flows")  # fmt: skip
            workloads = {
                "abilene what-if": (abilene_whatifs(scenario["id"], links), args.requests),
                "gnnet-100 predict": (predictions(sample["id"]), args.predict_requests),
            }
            print(f"{'workload':20} {'clients':>7} {'requests':>8} {'s':>7} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} "
                  f"{'errors':>6} {'CPU ms/req':>10}")  # fmt: skip
            for name, (make, total) in workloads.items():
                asyncio.run(load_run(base, headers, make, 1, 4))  # warm-up (first predictions, caches)
                for clients in args.clients:
                    cpu = cpu_seconds(server.pid)
                    result = asyncio.run(load_run(base, headers, make, clients, total))
                    cpu_ms = (cpu_seconds(server.pid) - cpu) * 1e3 / total
                    print(f"{name:20} {clients:>7} {result['requests']:>8} {result['seconds']:>7.1f} "
                          f"{result['per_s']:>7.1f} {result['p50_ms']:>8.1f} {result['p99_ms']:>8.1f} "
                          f"{result['errors']:>6} {cpu_ms:>10.1f}", flush=True)  # fmt: skip
        finally:
            server.terminate()
            server.wait(30)
        if not args.no_fault:
            print("kill -9 during an optimization job:", json.dumps(fault_run(state, port, args.model, args.data,
                                                                               token, scenario["id"])))  # fmt: skip


if __name__ == "__main__":
    main()
