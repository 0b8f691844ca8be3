"""Scenarios the service works on: uploaded topology files or dataset samples, stored under ``state/scenarios``.

Each scenario is a folder ``<id>/`` holding ``record.json`` (written last, atomically: a folder without one is an
interrupted upload and removed on start) and either the uploaded topology file (the scenario is rebuilt from it
and the seeded traffic options) or ``sample/``, a one-sample native dataset.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ndtwin.data.native import DatasetWriter
from ndtwin.data.sample import Sample
from ndtwin.data.topology_io import read_coordinates
from ndtwin.errors import DatasetError, ScenarioError, check_int, check_number
from ndtwin.scenario import Scenario
from ndtwin.service.problems import ApiError
from ndtwin.service.safe_xml import check_xml, looks_like_xml
from ndtwin.whatif.inputs import dataset_sample, is_topology_file, topology_scenario

SCENARIOS_DIR = "scenarios"
RECORD_FILE = "record.json"
SAMPLE_DIR = "sample"
ID_PATTERN = r"^s[0-9a-f]{12}$"
MAX_NODES = 300  # all-pairs traffic: flows grow with the square of the nodes


@dataclass(frozen=True)
class LoadedScenario:
    """A stored scenario ready to use: the Scenario, its measured Sample (dataset references) and node positions."""

    record: dict[str, Any]
    scenario: Scenario
    sample: Sample | None
    coordinates: dict[str, tuple[float, float]]


def _write_json(path: Path, value: Any) -> None:
    staging = path.with_name(f".{path.name}.tmp")
    with open(staging, "w") as file:
        json.dump(value, file, indent=1)
        file.flush()
        os.fsync(file.fileno())
    os.replace(staging, path)


class ScenarioStore:
    """Stored scenarios (thread-safe; loaded scenarios are kept in memory)."""

    def __init__(self, state: Path, datasets: Path | None) -> None:
        self.root = Path(state) / SCENARIOS_DIR
        self.root.mkdir(parents=True, exist_ok=True)
        self.datasets = datasets
        self._loaded: dict[str, LoadedScenario] = {}
        self._lock = threading.Lock()

    def clean(self) -> None:
        """Remove interrupted uploads (folders without a record); only while no upload can be running."""
        for folder in self.root.iterdir():
            if folder.is_dir() and not (folder / RECORD_FILE).is_file():
                shutil.rmtree(folder, ignore_errors=True)

    def records(self) -> list[dict[str, Any]]:
        """Every stored scenario's record, oldest first."""
        found = [json.loads(f.read_text()) for f in self.root.glob(f"*/{RECORD_FILE}")]
        return sorted(found, key=lambda r: (r["created"], r["id"]))

    def record(self, scenario_id: str) -> dict[str, Any]:
        """The record of ``scenario_id``; ApiError 404 if there is none."""
        path = self.root / scenario_id / RECORD_FILE
        if not re.match(ID_PATTERN, scenario_id) or not path.is_file():
            raise ApiError(404, f"no scenario {scenario_id!r}", "scenario_id")
        return json.loads(path.read_text())

    def get(self, scenario_id: str) -> LoadedScenario:
        """The scenario ``scenario_id``, loaded once and then kept."""
        with self._lock:
            if scenario_id in self._loaded:
                return self._loaded[scenario_id]
        record = self.record(scenario_id)
        loaded = self._load(record)
        with self._lock:
            return self._loaded.setdefault(scenario_id, loaded)

    def delete(self, scenario_id: str) -> None:
        """Remove a stored scenario."""
        self.record(scenario_id)
        with self._lock:
            self._loaded.pop(scenario_id, None)
        shutil.rmtree(self.root / scenario_id)

    def add_topology(self, data: bytes, filename: str, *, load: float, seed: int, capacity_bps: float | None,
                     name: str | None) -> dict[str, Any]:  # fmt: skip
        """Store an uploaded GraphML/GML file with the options of its all-pairs traffic."""
        suffix = Path(filename or "").suffix.lower()
        if not is_topology_file(Path(f"x{suffix}")):
            raise ApiError(422, f"a .graphml or .gml file, got {filename!r}", "file")
        if looks_like_xml(data):
            check_xml(data, "file")
        options = {
            "load": check_number("load", load, minimum=0, strict=True),
            "seed": check_int("seed", seed),
            "capacity_bps": None
            if capacity_bps is None
            else check_number("capacity_bps", capacity_bps, minimum=0, strict=True),
        }
        record = {"kind": "topology", "file": f"topology{suffix}", "source": filename, "options": options}
        return self._add(
            record, name or Path(filename).stem, lambda folder: (folder / record["file"]).write_bytes(data)
        )

    def add_dataset_sample(self, dataset: str, sample_id: str | None, name: str | None) -> dict[str, Any]:
        """Store a copy of a dataset's sample (the first, or ``sample_id``); ``dataset`` is a path inside the
        service's dataset folder."""
        if self.datasets is None:
            raise ApiError(422, "this service has no dataset folder (start it with --datasets DIR)", "dataset")
        root = self.datasets.resolve()
        try:
            path = (root / dataset).resolve()
            found = path.is_relative_to(root) and path.exists()
        except (OSError, ValueError):  # e.g. a NUL byte in the path
            found = False
        if not found:
            raise ApiError(422, f"a dataset inside the service's dataset folder, got {dataset!r}", "dataset")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sample = dataset_sample(path, sample_id)
        except DatasetError as error:
            raise ApiError(422, error.problem, "sample_id" if sample_id else "dataset") from None

        def write(folder: Path) -> None:
            with DatasetWriter(folder / SAMPLE_DIR, provenance={"service_upload": dataset}) as writer:
                writer.write(sample)

        record = {"kind": "dataset", "source": dataset, "sample_id": sample.sample_id}
        return self._add(record, name or f"{dataset}:{sample.sample_id}", write)

    def _add(self, record: dict[str, Any], name: str, write) -> dict[str, Any]:
        scenario_id = "s" + secrets.token_hex(6)
        folder = self.root / scenario_id
        folder.mkdir()
        try:
            write(folder)
            record = {"id": scenario_id, "name": str(name)[:200], **record}
            loaded = self._load(record)
        except (DatasetError, ScenarioError, ApiError) as error:
            shutil.rmtree(folder, ignore_errors=True)
            if isinstance(error, DatasetError):
                raise ApiError(422, error.problem, "file") from None
            raise
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        topology = loaded.scenario.topology
        record |= {
            "created": datetime.now(UTC).isoformat(timespec="microseconds"),
            "n_nodes": topology.n_nodes,
            "n_links": topology.n_links,
            "n_flows": loaded.scenario.n_flows,
            "measured": loaded.sample is not None,
        }
        _write_json(folder / RECORD_FILE, record)
        with self._lock:
            self._loaded[scenario_id] = LoadedScenario(record, loaded.scenario, loaded.sample, loaded.coordinates)
        return record

    def _load(self, record: dict[str, Any]) -> LoadedScenario:
        folder = self.root / record["id"]
        if record["kind"] == "dataset":
            sample = dataset_sample(folder / SAMPLE_DIR, None)
            return LoadedScenario(record, sample.scenario, sample, {})
        path = folder / record["file"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            coordinates = read_coordinates(path)
            options = record["options"]
            scenario = topology_scenario(
                path,
                load=options["load"],
                seed=options["seed"],
                capacity_bps=options["capacity_bps"],
                max_nodes=MAX_NODES,
            )
        return LoadedScenario(record, scenario, None, coordinates)
