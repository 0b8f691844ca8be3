"""Simulated what-if suites kept on disk: simulated once, scored or calibrated on many times (e.g. for a retrained
model). A suite file is named by the topology's name, the suite's seed and a digest of everything that decides
its simulation (the topology itself, the suite settings, the ndtwin version and the simulator's revision); a file
written by another ndtwin version or simulator is not read. The files are pickles: read only cache directories you
wrote yourself."""

from __future__ import annotations

import hashlib
import pickle
import re
from collections.abc import Sequence
from pathlib import Path

import ndtwin
from ndtwin.errors import DatasetError
from ndtwin.scenario import Topology
from ndtwin.sim.revision import simulator_revision
from ndtwin.whatif.suite import DEFAULT_LOADS, REFERENCE_PACKETS, Suite, build_suite

CACHE_FORMAT = 2  # 2: suites pickled from ndtwin.whatif.suite (files of format 1 are not matched, so not read)


def suite_path(
    cache: Path,
    topology: Topology,
    *,
    name: str,
    seed: int,
    per_type: int,
    loads: Sequence[float],
    packets_per_flow: int,
    reference_packets: int | None,
) -> Path:
    """The file a suite with these settings is kept in under ``cache``."""
    settings = (
        ndtwin.__version__,
        simulator_revision(),
        CACHE_FORMAT,
        topology.node_names,
        topology.links,
        per_type,
        tuple(float(v) for v in loads),
        packets_per_flow,
        reference_packets,
    )  # the topology's fields only: not the arrays it caches once used
    if reference_packets is not None:
        settings += ("measurements",)  # suites with reference runs gained measurement runs: older files are stale
    digest = hashlib.sha1(repr(settings).encode()).hexdigest()[:12]
    return Path(cache) / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}@{seed}_{digest}.pkl"


def cached_suite(
    cache: Path | None,
    topology: Topology,
    *,
    name: str,
    seed: int = 0,
    per_type: int = 2,
    loads: Sequence[float] = DEFAULT_LOADS,
    packets_per_flow: int = 400,
    workers: int = 1,
    reference_packets: int | None = REFERENCE_PACKETS,
) -> tuple[Suite, bool]:
    """``build_suite`` with these settings, read from ``cache`` when it holds the suite (and written there when it
    does not); ``cache`` None: always simulated. Returns the suite and whether it was read from the cache."""
    settings = dict(
        name=name,
        seed=seed,
        per_type=per_type,
        loads=loads,
        packets_per_flow=packets_per_flow,
        reference_packets=reference_packets,
    )
    path = suite_path(cache, topology, **settings) if cache is not None else None
    if path is not None:
        _writable_directory(path.parent)  # before a simulation that may take minutes, not after it
    if path is not None and path.is_file():
        try:
            suite = pickle.loads(path.read_bytes())
        except Exception as error:  # a truncated or foreign file: say which, rather than re-simulate over it
            raise DatasetError(
                path, f"expected a simulated suite written by ndtwin ({error!r}); delete it to simulate the suite again"
            ) from None
        if not isinstance(suite, Suite):
            raise DatasetError(path, f"expected a simulated suite, got a {type(suite).__name__}")
        return suite, True
    suite = build_suite(topology, workers=workers, **settings)
    if path is not None:
        partial = path.with_suffix(".part")
        try:
            partial.write_bytes(pickle.dumps(suite))
            partial.replace(path)  # a run stopped mid-write leaves no truncated suite behind
        except OSError as error:
            raise DatasetError(path, f"could not keep the simulated suite there ({error.strerror or error})") from None
    return suite, False


def _writable_directory(directory: Path) -> None:
    """Create the cache directory if needed; DatasetError naming it if it cannot be one."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetError(
            directory, f"expected a directory to keep simulated suites in ({error.strerror or error})"
        ) from None
