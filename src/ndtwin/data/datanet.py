"""Reader of the BNN-UPC "datanetAPI" datasets (GNNet Challenge 2020–2022), as specified in gnnet/FORMAT.md.

A dataset directory holds ``graphs/``, ``routings/`` and ``*.tar.gz`` archives; line ``k`` of every file in an
archive describes sample ``k``. Each stable sample becomes a :class:`Sample`:

* flow labels come from ``flowSimulationResults.txt`` when the archive has it, otherwise from the pair's
  aggregate record in ``simulationResults.txt`` (for a pair with several flows every flow then gets the
  aggregate of the pair; every published sample has one flow per pair);
* link and queue labels come from ``linkUsage.txt`` (None when it is absent).

Unreadable archives, malformed lines and missing graph or routing files do not stop the read: each becomes a
:class:`DatasetError` in :attr:`ReadReport.errors` (also issued as a warning) and reading goes on — with the
next line for a bad line, with the next archive for an unreadable archive.
"""

from __future__ import annotations

import tarfile
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ndtwin.data.datanet_graph import PortNumbers, read_datanet_graph, with_link_bandwidths
from ndtwin.data.datanet_records import (
    flow_label_frame,
    flow_records_from_file,
    parse_link_usage,
    parse_results,
    parse_traffic,
)
from ndtwin.data.datanet_routing import RouteTable, read_route_table
from ndtwin.data.sample import Sample
from ndtwin.errors import DatasetError, check_int, check_number
from ndtwin.scenario import Scenario, Topology, Traffic

__all__ = ["ReadReport", "find_datanet_dirs", "is_datanet_tree", "read_datanet", "read_datanet_graph"]

INPUT_FILES = "input_files.txt"
TRAFFIC = "traffic.txt"
RESULTS = "simulationResults.txt"
STABILITY = "stability.txt"
LINK_USAGE = "linkUsage.txt"
FLOW_RESULTS = "flowSimulationResults.txt"
_REQUIRED = (INPUT_FILES, TRAFFIC, RESULTS, STABILITY)
_MEMBERS = (*_REQUIRED, LINK_USAGE, FLOW_RESULTS)


@dataclass
class ReadReport:
    """What happened while reading: samples yielded, unstable samples skipped, errors met."""

    samples: int = 0
    skipped_unstable: int = 0
    errors: list[DatasetError] = field(default_factory=list)


def find_datanet_dirs(root: str | Path) -> list[Path]:
    """Every directory under ``root`` (``root`` included) that holds both ``graphs/`` and ``routings/``, sorted."""
    root = Path(root)
    return sorted({graphs.parent for graphs in root.rglob("graphs") if _is_dataset_dir(graphs.parent)})


def is_datanet_tree(root: str | Path) -> bool:
    """Whether ``root`` holds at least one datanetAPI dataset directory."""
    return any(_is_dataset_dir(graphs.parent) for graphs in Path(root).rglob("graphs"))


def read_datanet(root: str | Path, report: ReadReport | None = None) -> Iterator[Sample]:
    """Yield the stable samples of every dataset directory under ``root``; archives in name order per directory.

    ``meta`` holds ``sample_id``, ``source`` (``<archive relative to root>:<1-based line>``), ``sim_time_s``,
    ``max_avg_lambda_bps``, the three ``global_*`` values, ``graph_file``, ``routing_file`` (and ``links_bw_file``).
    Problems are recorded in ``report`` (see the module docstring) rather than raised.
    """
    root = Path(root)
    directories = find_datanet_dirs(root)
    if not directories:
        raise DatasetError(root, "no datanetAPI dataset directory (one holding graphs/ and routings/) found")
    reader = _TreeReader(root, report if report is not None else ReadReport())
    for directory in directories:
        for archive in sorted(directory.glob("*.tar.gz")):
            yield from reader.archive_samples(directory, archive)


def _is_dataset_dir(directory: Path) -> bool:
    return (directory / "graphs").is_dir() and (directory / "routings").is_dir()


class _TreeReader:
    """Reads the archives of one tree, caching graphs and routings across samples."""

    def __init__(self, root: Path, report: ReadReport) -> None:
        self.root = root
        self.report = report
        self._graphs: dict[tuple[Path, Path | None], tuple[Topology, PortNumbers]] = {}
        self._routes: dict[tuple[Path, Path], RouteTable] = {}

    def archive_samples(self, directory: Path, archive: Path) -> Iterator[Sample]:
        try:
            lines = _archive_lines(archive)
        except DatasetError as err:
            self._record(err)
            return
        for number, sample_lines in enumerate(lines, 1):
            if ";OK;" not in sample_lines[STABILITY]:
                self.report.skipped_unstable += 1
                continue
            try:
                sample = self._sample(directory, archive, number, sample_lines)
            except ValueError as err:  # DatasetError and ScenarioError included
                self._record(DatasetError(archive, f"line {number}: {err}"))
                continue
            self.report.samples += 1
            yield sample

    def _record(self, error: DatasetError) -> None:
        self.report.errors.append(error)
        warnings.warn(str(error), stacklevel=4)

    def _sample(self, directory: Path, archive: Path, number: int, lines: dict[str, str]) -> Sample:
        with _in_file(INPUT_FILES):
            sample_id, graph_name, routing_name, bandwidth_name = _input_fields(lines[INPUT_FILES])
        with _in_file(STABILITY):
            sim_time = check_number("sim_time", lines[STABILITY].split(";")[0], minimum=0, strict=True)
        graph_path = directory / "graphs" / graph_name
        topology, ports = self._graph(graph_path, directory / "links_bw" / bandwidth_name if bandwidth_name else None)
        with _in_file(TRAFFIC):
            traffic = parse_traffic(lines[TRAFFIC], topology.n_nodes)
        route_table = self._route_table(directory / "routings" / routing_name, graph_path, topology.n_nodes, ports)
        flows = Traffic(traffic.flows)
        scenario = Scenario(topology, route_table.routing(flows.pairs()), flows)
        with _in_file(RESULTS):
            results = parse_results(lines[RESULTS], topology.n_nodes)
        if FLOW_RESULTS in lines:
            with _in_file(FLOW_RESULTS):
                flow_records = flow_records_from_file(lines[FLOW_RESULTS], topology.n_nodes, traffic.flow_cells)
        else:
            flow_records = results.records[list(traffic.flow_cells)]
        link_labels = queue_labels = None
        if LINK_USAGE in lines:
            with _in_file(LINK_USAGE):
                link_labels, queue_labels = parse_link_usage(lines[LINK_USAGE], topology)
        meta = {
            "sample_id": _unique_id(directory.relative_to(self.root), sample_id),
            "datanet_id": sample_id,
            "source": f"{archive.relative_to(self.root).as_posix()}:{number}",
            "sim_time_s": sim_time,
            "max_avg_lambda_bps": traffic.max_avg_lambda_bps,
            "global_pkts_per_s": results.global_pkts_per_s,
            "global_drops_per_s": results.global_drops_per_s,
            "global_delay_s": results.global_delay_s,
            "graph_file": graph_name,
            "routing_file": routing_name,
        }
        if bandwidth_name:
            meta["links_bw_file"] = bandwidth_name
        return Sample(scenario, flow_label_frame(flow_records), link_labels, queue_labels, meta)

    def _graph(self, graph_path: Path, bandwidth_path: Path | None) -> tuple[Topology, PortNumbers]:
        key = (graph_path, bandwidth_path)
        if key not in self._graphs:
            topology, ports = read_datanet_graph(graph_path)
            if bandwidth_path is not None:
                topology = with_link_bandwidths(topology, bandwidth_path)
            self._graphs[key] = (topology, ports)
        return self._graphs[key]

    def _route_table(self, routing_path: Path, graph_path: Path, n_nodes: int, ports: PortNumbers) -> RouteTable:
        key = (routing_path, graph_path)
        if key not in self._routes:
            self._routes[key] = read_route_table(routing_path, n_nodes, ports)
        return self._routes[key]


@contextmanager
def _in_file(name: str) -> Iterator[None]:
    """Prefix parse errors with the archive member they come from."""
    try:
        yield
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None


def _archive_lines(archive: Path) -> list[dict[str, str]]:
    """Line ``k`` of every member file, for each sample ``k``; reading stops at the first empty traffic/results line."""
    texts = _read_members(archive)
    lines = {name: text.splitlines() for name, text in texts.items()}
    count = min(_leading_non_empty(lines[TRAFFIC]), _leading_non_empty(lines[RESULTS]))
    for name, file_lines in lines.items():
        if _leading_non_empty(file_lines) < count:
            raise DatasetError(archive, f"{name} has {len(file_lines)} line(s), {TRAFFIC} has {count}")
    return [{name: file_lines[k] for name, file_lines in lines.items()} for k in range(count)]


def _read_members(archive: Path) -> dict[str, str]:
    """The text of the known member files of an archive (any directory level), keyed by file name."""
    texts = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = member.name.rstrip("/").rsplit("/", 1)[-1]
                if member.isfile() and name in _MEMBERS:
                    texts[name] = tar.extractfile(member).read().decode("ascii")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise DatasetError(archive, f"unreadable archive ({type(err).__name__}: {err})") from None
    except UnicodeDecodeError:
        raise DatasetError(archive, f"{name} is not ASCII text") from None
    missing = [name for name in _REQUIRED if name not in texts]
    if missing:
        raise DatasetError(archive, f"missing {', '.join(missing)}")
    return texts


def _leading_non_empty(lines: list[str]) -> int:
    return next((k for k, line in enumerate(lines) if not line.strip()), len(lines))


def _unique_id(dataset_dir: Path, sample_id: int) -> str:
    """Ids repeat across dataset directories (one per topology size), so prefix the directory: ``"50/11"``."""
    prefix = dataset_dir.as_posix()
    return str(sample_id) if prefix == "." else f"{prefix}/{sample_id}"


def _input_fields(line: str) -> tuple[int, str, str, str | None]:
    """``sample_id;graph_file;routing_file[;links_bw_file]``."""
    fields = [part.strip() for part in line.split(";")]
    if len(fields) not in (3, 4) or not all(fields):
        raise ValueError(f"expected 'id;graph;routing[;links_bw]', got {line!r}")
    return check_int("sample_id", fields[0]), fields[1], fields[2], fields[3] if len(fields) == 4 else None
