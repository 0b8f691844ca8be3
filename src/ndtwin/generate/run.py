"""Generate a labelled dataset: sample ``i`` of a run is drawn and simulated from ``(seed, i)`` alone.

Samples are computed in worker processes (or Ray tasks) and written by the calling process only, through one
chunked :class:`~ndtwin.data.native.DatasetWriter`. A run that was interrupted (even by SIGKILL) is resumed by
running it again: ids already in the dataset are skipped, so at most the unflushed chunk is redone.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ndtwin.data.native import DatasetWriter, is_native_dataset, sample_ids
from ndtwin.data.native_layout import read_manifest
from ndtwin.data.sample import Sample
from ndtwin.errors import DatasetError, ScenarioError, check_int
from ndtwin.generate.scenario_draw import DrawnScenario, draw_scenario
from ndtwin.generate.spec import GenerationSpec
from ndtwin.generate.topologies import draw_topology, resolve_sources
from ndtwin.parallel import default_workers, interrupts_left_to_this_process
from ndtwin.scenario import Flow, Scenario, Topology, Traffic
from ndtwin.sim.revision import simulator_revision
from ndtwin.sim.simulate import simulate

SOURCE = "ndtwin-generate"
GENERATOR = "ndtwin generate"


def sample_id(seed: int, index: int) -> str:
    """The stable id of sample ``index`` of the run with ``seed``."""
    return f"gen-{seed}-{index:06d}"


def draw_run_scenario(spec: GenerationSpec, seed: int, index: int) -> tuple[str, DrawnScenario, int]:
    """The topology name, drawn scenario and simulator seed of sample ``index`` of the run with ``seed``."""
    rng = np.random.default_rng([seed, index])
    name, topology = draw_topology(resolve_sources(spec.topologies), rng)
    drawn = draw_scenario(topology, spec, rng)
    return name, drawn, int(rng.integers(2**32))


def generate_sample(spec: GenerationSpec, seed: int, index: int) -> Sample:
    """Draw and simulate sample ``index`` of the run with ``seed`` (a pure function of its arguments)."""
    return _assemble(spec, seed, _simulate_labels(spec, seed, index))


class _Labels(NamedTuple):
    """What a worker sends back: the labels and meta of a sample, whose scenario the parent re-draws (cheap and
    deterministic, and less to send between processes than the scenario itself)."""

    index: int
    flow: pd.DataFrame
    link: pd.DataFrame | None
    queue: pd.DataFrame | None
    meta: dict[str, Any]


def _simulate_labels(spec: GenerationSpec, seed: int, index: int) -> _Labels:
    name, drawn, sim_seed = draw_run_scenario(spec, seed, index)
    sample = simulate(drawn.scenario, packets_per_flow=spec.packets_per_flow, seed=sim_seed)
    meta = sample.meta | {
        "sample_id": sample_id(seed, index),
        "source": SOURCE,
        "generation_seed": seed,
        "index": index,
        "topology": name,
        "intensity": drawn.intensity,
        "packets_per_flow": spec.packets_per_flow,
    }
    return _Labels(index, sample.flow_labels, sample.link_labels, sample.queue_labels, meta)


def _assemble(spec: GenerationSpec, seed: int, labels: _Labels) -> Sample:
    _, drawn, _ = draw_run_scenario(spec, seed, labels.index)
    return Sample(drawn.scenario, labels.flow, labels.link, labels.queue, labels.meta)


def provenance(spec: GenerationSpec, seed: int, command: str) -> dict[str, Any]:
    """What a generated dataset's manifest records (``simulator``: ``ndtwin.sim.revision.simulator_revision``)."""
    return {
        "generator": GENERATOR,
        "simulator": simulator_revision(),
        "seed": seed,
        "spec": spec.to_dict(),
        "command": command,
    }


def pending_indices(out: str | Path, spec: GenerationSpec, seed: int, samples: int) -> list[int]:
    """Indices ``0..samples-1`` whose samples are not yet in ``out``. DatasetError if ``out`` holds a run with
    another seed or spec (or is not a generated dataset)."""
    check_int("samples", samples)
    check_int("seed", seed)
    if not is_native_dataset(out):
        return list(range(samples))
    stored = read_manifest(Path(out)).get("provenance", {})
    differences = run_differences(stored, provenance(spec, seed, ""))
    if differences:
        raise DatasetError(
            out,
            f"holds a run with different settings: {'; '.join(differences)}; use a new folder or the same "
            "settings to resume it",
        )
    present = sample_ids(out)
    return [i for i in range(samples) if sample_id(seed, i) not in present]


def run_differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """``"FIELD is A there, B here"`` for each setting where a dataset's recorded run and a new one differ (spec
    fields one by one, as ``spec.FIELD``)."""
    pairs = {key: (stored.get(key), wanted[key]) for key in ("generator", "simulator", "seed")}
    stored_spec = stored.get("spec") if isinstance(stored.get("spec"), dict) else {}
    for field in dict.fromkeys([*wanted["spec"], *stored_spec]):
        pairs[f"spec.{field}"] = (stored_spec.get(field), wanted["spec"].get(field))
    return [f"{name} is {there!r} there, {here!r} here" for name, (there, here) in pairs.items() if there != here]


@dataclass(frozen=True)
class RunResult:
    written: int
    seconds: float


def run_generation(
    out: str | Path,
    spec: GenerationSpec,
    seed: int,
    indices: list[int],
    *,
    command: str = GENERATOR,
    workers: int | None = None,
    use_ray: bool = False,
    chunk_size: int = 64,
    on_sample: Callable[[Sample], None] | None = None,
) -> RunResult:
    """Generate the samples ``indices`` of the run with ``seed`` into ``out`` (see :func:`pending_indices`).

    ``workers`` processes (default: all usable cores; 1 runs in this process), or Ray tasks with ``use_ray``.
    The dataset is written ``chunk_size`` samples at a time; ``on_sample`` is called after each sample.
    """
    seed = check_int("seed", seed)
    workers = check_int("workers", default_workers() if workers is None else workers, minimum=1)
    resolve_sources(spec.topologies)  # fail on a bad source before starting any process
    ray = _import_ray() if use_ray else None
    start = time.perf_counter()
    written = 0
    existing = provenance(spec, seed, command) if not is_native_dataset(out) else None
    with DatasetWriter(out, provenance=existing, chunk_size=chunk_size) as writer:
        task = partial(_simulate_labels, spec, seed)
        results = _ray_map(ray, task, indices) if ray else _pool_map(task, indices, workers)
        for labels in results:
            sample = _assemble(spec, seed, labels)
            writer.write(sample)
            written += 1
            if on_sample is not None:
                on_sample(sample)
    return RunResult(written, time.perf_counter() - start)


def _pool_map(task: Callable[[int], _Labels], indices: list[int], workers: int) -> Iterator[_Labels]:
    """Results in completion order from a pool of fresh processes, each warmed up (numba) once."""
    if workers == 1 or len(indices) <= 1:
        yield from map(task, indices)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a parent running a progress thread
    chunk = max(1, min(4, len(indices) // (8 * workers)))
    with interrupts_left_to_this_process():
        pool = context.Pool(min(workers, len(indices)), initializer=_warm_up)
    with pool:  # leaving it (also on Ctrl-C in this process) terminates the workers
        yield from pool.imap_unordered(task, indices, chunksize=chunk)


def _warm_up() -> None:
    """Load the simulator's compiled code in a new worker before its first real task."""
    topology = Topology.from_edges(2, [(0, 1, 1e6)])
    simulate(Scenario.with_shortest_paths(topology, Traffic((Flow(0, 1, 1e5),))), packets_per_flow=10)


def _import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        expected = "the optional 'ray' package (pip install 'ndtwin[ray]')"
        raise ScenarioError("--ray", expected, "not installed") from None
    return ray


def _ray_map(ray: ModuleType, task: Callable[[int], _Labels], indices: Iterable[int]) -> Iterator[_Labels]:
    """Results in completion order from Ray tasks, at most two per cluster CPU in flight. Runs on the cluster
    named by RAY_ADDRESS, else on a local one that is shut down at the end."""
    started_here = not ray.is_initialized()
    _connect(ray)
    try:
        remote = ray.remote(lambda index: task(index))
        todo = iter(indices)
        limit = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        running = [remote.remote(index) for index in islice(todo, limit)]
        while running:
            done, running = ray.wait(running, num_returns=1)
            running += [remote.remote(index) for index in islice(todo, 1)]
            yield _ray_result(ray, done[0])
    finally:
        if started_here:
            ray.shutdown()


def _connect(ray: ModuleType) -> None:
    """Join the Ray cluster named by RAY_ADDRESS, else start a local one; ScenarioError naming --ray on failure."""
    address = os.environ.get("RAY_ADDRESS")
    try:
        ray.init(ignore_reinit_error=True, log_to_driver=False, logging_level=logging.WARNING)
    except ConnectionError as error:
        where = f"at RAY_ADDRESS={address!r}" if address else "started on this machine"
        raise ScenarioError("--ray", f"a reachable Ray cluster {where}", str(error)) from None


def _ray_result(ray: ModuleType, ref: Any) -> _Labels:
    """The result of a Ray task; an error raised by the task itself is re-raised as is (as by the process pool),
    with Ray's report of where it happened as its cause."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        raise error.cause from error
