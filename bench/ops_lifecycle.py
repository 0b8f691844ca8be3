"""Lifecycle core figures: telemetry store throughput, drift detector false alarms and delays, registry and
retraining overheads. Single process (the retraining worker is one extra process).

    .venv/bin/python bench/ops_lifecycle.py --seeds 10
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ndtwin.ops.drift import KswinDetector, MultivariateDetector, ResidualDetector
from ndtwin.ops.registry import ModelRegistry
from ndtwin.ops.retrain import RetrainManager
from ndtwin.ops.store import TelemetryStore

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "src" / "ndtwin" / "resources" / "models" / "default"


def bench_store(work: Path, windows: int, rows: int, features: int) -> None:
    rng = np.random.default_rng(0)
    frames = [
        pd.DataFrame(
            {"seq": np.arange(w * rows, (w + 1) * rows), **{f"f{i}": rng.random(rows) for i in range(features)}}
        )
        for w in range(windows)
    ]
    labels = [pd.DataFrame({"seq": f["seq"], "delay_s": rng.random(rows), "loss": rng.random(rows)}) for f in frames]
    with TelemetryStore(work / "t.duckdb") as store:
        start = time.perf_counter()
        for w, frame in enumerate(frames):
            store.append_traffic("s", frame, state={"window": w})
        first = time.perf_counter() - start
        start = time.perf_counter()
        replayed = sum(store.append_traffic("s", frame) for frame in frames)
        replay = time.perf_counter() - start
        for frame in labels:
            store.append_labels("s", frame)
        start = time.perf_counter()
        recent = store.labelled("s", start_seq=(windows - 10) * rows)
        query = time.perf_counter() - start
        start = time.perf_counter()
        everything = store.labelled("s")
        query_all = time.perf_counter() - start
    n = windows * rows
    size_mb = (work / "t.duckdb").stat().st_size / 1e6
    print(f"store: {windows} windows x {rows} rows x {features} features ({n} rows, {size_mb:.1f} MB file)")
    print(f"  append (with checkpoint state): {n / first:,.0f} rows/s, {1e3 * first / windows:.1f} ms per window")
    print(f"  replay of all windows: {replayed} rows inserted, {n / replay:,.0f} rows/s checked")
    print(
        f"  labelled() last 10 windows ({len(recent)} rows): {1e3 * query:.1f} ms; all {len(everything)} rows: {1e3 * query_all:.1f} ms"
    )


def delay_after_shift(make, before, after, seeds: int):
    """False alarms on ``before`` (per 1,000 updates) and updates until detection on ``after``, over seeds.

    ``after`` is 300 updates long: KSWIN's sliding window has forgotten the old regime long before that, so a
    later alarm would be a false alarm within the new regime, not a detection of the shift.
    """
    alarms, delays, seconds, updates = 0, [], 0.0, 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        detector = make(seed)
        start = time.perf_counter()
        stationary = before(rng)
        for x in stationary:
            detector.update(x)
        alarms += len(detector.detections)
        shifted = after(rng)
        delay = None
        for k, x in enumerate(shifted):
            if detector.update(x):
                delay = k
                break
        seconds += time.perf_counter() - start
        updates += detector.n_updates
        delays.append(delay)
    found = [d for d in delays if d is not None]
    per_k = 1000 * alarms / (seeds * len(stationary))
    text = f"median {np.median(found):.0f}, max {max(found)}" if found else "none"
    return per_k, f"{len(found)}/{seeds} detected, delay {text}", 1e6 * seconds / updates


def gamma(mean: float, size: int, cv: float = 0.5):
    return lambda rng: rng.gamma(1 / cv**2, mean * cv**2, size=size)


def bench_drift(seeds: int, stationary: int) -> None:
    cases = [
        (
            "KSWIN alpha=0.005, mean +1 sd",
            lambda s: KswinDetector(seed=s),
            lambda r: r.normal(size=stationary),
            lambda r: r.normal(1.0, 1.0, size=300),
        ),
        (
            "KSWIN alpha=0.005, mean +2 sd",
            lambda s: KswinDetector(seed=s),
            lambda r: r.normal(size=stationary),
            lambda r: r.normal(2.0, 1.0, size=300),
        ),
        (
            "KSWIN alpha=0.005, mean +0.5 sd",
            lambda s: KswinDetector(seed=s),
            lambda r: r.normal(size=stationary),
            lambda r: r.normal(0.5, 1.0, size=300),
        ),
        (
            "KSWIN alpha=1e-4, mean +1 sd",
            lambda s: KswinDetector(alpha=1e-4, seed=s),
            lambda r: r.normal(size=stationary),
            lambda r: r.normal(1.0, 1.0, size=300),
        ),
        (
            "KSWIN alpha=0.005, sd x2",
            lambda s: KswinDetector(seed=s),
            lambda r: r.normal(size=stationary),
            lambda r: r.normal(0.0, 2.0, size=300),
        ),
        (
            "Multivariate 5 features, one +1 sd",
            lambda s: MultivariateDetector(5, seed=s),
            lambda r: r.normal(size=(stationary, 5)),
            lambda r: r.normal(size=(300, 5)) + [0, 0, 0, 0, 1.0],
        ),
        ("Residual, error x1.5 (cv 0.5)", lambda s: ResidualDetector(), gamma(0.1, stationary), gamma(0.15, 300)),
        ("Residual, error x2 (cv 0.5)", lambda s: ResidualDetector(), gamma(0.1, stationary), gamma(0.2, 300)),
        (
            "Residual, error x2 (cv 1.0)",
            lambda s: ResidualDetector(),
            gamma(0.1, stationary, 1.0),
            gamma(0.2, 300, 1.0),
        ),
        (
            "Residual, error x0.5 (must not fire)",
            lambda s: ResidualDetector(),
            gamma(0.1, stationary),
            gamma(0.05, 300),
        ),
    ]
    print(f"drift detectors: {seeds} seeds, {stationary} stationary updates then 300 shifted")
    print(f"  {'case':<38} {'false alarms /1k':>16}  {'after the shift':<40} {'us/update':>9}")
    for name, make, before, after in cases:
        per_k, delay, micros = delay_after_shift(make, before, after, seeds)
        print(f"  {name:<38} {per_k:>16.2f}  {delay:<40} {micros:>9.0f}")


def write_copy(out_dir: Path, data: tuple[str, float]) -> dict:
    """Trivial training: copy a model directory and record the score it will get."""
    source, score = data
    for item in Path(source).iterdir():
        shutil.copy2(item, out_dir / item.name)
    (out_dir / "bench_score.json").write_text(json.dumps(score))
    return {}


def recorded_score(model_dir: Path, holdout: None) -> float:
    path = model_dir / "bench_score.json"
    return json.loads(path.read_text()) if path.is_file() else 1.0


def bench_registry_and_retrain(work: Path, repeats: int) -> None:
    registry = ModelRegistry(work / "reg")
    size_mb = sum(p.stat().st_size for p in DEFAULT_MODEL.iterdir()) / 1e6
    start = time.perf_counter()
    ids = [registry.register(DEFAULT_MODEL, metrics={}, data_window={}, parent=None) for _ in range(repeats)]
    register = (time.perf_counter() - start) / repeats
    start = time.perf_counter()
    for version in ids:
        registry.promote(version)
    promote = (time.perf_counter() - start) / repeats
    start = time.perf_counter()
    for _ in range(repeats - 1):
        registry.rollback()
    rollback = (time.perf_counter() - start) / (repeats - 1)
    start = time.perf_counter()
    for _ in range(repeats):
        ModelRegistry(work / "reg").versions()
    reopen = (time.perf_counter() - start) / repeats
    print(f"registry: default GNN model dir ({size_mb:.2f} MB), {repeats} repeats")
    print(
        f"  register {1e3 * register:.1f} ms, promote {1e3 * promote:.2f} ms, rollback {1e3 * rollback:.2f} ms, "
        f"open + list {repeats} versions {1e3 * reopen:.1f} ms"
    )
    manager = RetrainManager(registry, write_copy, recorded_score, margin=0.0)
    totals, polls, triggers = [], [], []
    for job in range(3):
        start = time.perf_counter()
        manager.trigger(f"bench-{job}", (str(DEFAULT_MODEL), 0.9 - 0.1 * job), None, data_window={})
        triggers.append(time.perf_counter() - start)
        result = None
        while result is None:
            t = time.perf_counter()
            result = manager.poll()
            polls.append(time.perf_counter() - t)
            time.sleep(0.01)
        totals.append(time.perf_counter() - start)
        assert result.status == "promoted", result
    print(
        f"retrain: trivial training (copy the model dir) in a spawn worker, 3 jobs: trigger-to-promoted "
        f"{np.mean(totals):.2f} s mean (process start + imports + register + promote); the loop is blocked "
        f"{1e3 * max(triggers):.1f} ms at most by trigger(), by poll() median {1e6 * np.median(polls):.0f} us, "
        f"max {1e3 * max(polls):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--stationary", type=int, default=3000, help="stationary updates before each shift")
    parser.add_argument("--windows", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--features", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_store(Path(tmp), args.windows, args.rows, args.features)
        bench_registry_and_retrain(Path(tmp), repeats=10)
    bench_drift(args.seeds, args.stationary)


if __name__ == "__main__":
    main()
