"""Train an ensemble: one member per process, side by side, each with its own seed; then write ensemble.json."""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ndtwin.data.datanet import ReadReport
from ndtwin.errors import ScenarioError
from ndtwin.gnn.ensemble import is_ensemble_dir, member_dirs, member_name, write_ensemble
from ndtwin.gnn.pipeline import check_output_dir, read_examples, train_to_directory
from ndtwin.gnn.train import EpochLog, FitResult, TrainConfig

POLL_SECONDS = 0.5


def train_ensemble_to_directory(
    data: Sequence[Path],
    out: Path,
    config: TrainConfig,
    n_members: int,
    *,
    architecture: dict[str, Any] | None = None,
    warm_start: Path | None = None,
    command: str = "",
    threads: int = 1,
    on_epoch: Callable[[int, EpochLog], None] | None = None,
) -> tuple[list[FitResult], ReadReport]:
    """Train ``n_members`` models on ``data`` concurrently (member i: seed ``config.seed + i``, ``threads`` torch
    threads, its own validation split) into ``out/member-i``; a warm start must be an ensemble of as many members.

    Returns the members' fit results and the read report of member 0 (every member reads the same data).
    """
    if n_members < 1:
        raise ScenarioError("--members", "an integer >= 1", n_members)
    check_output_dir(out, is_ensemble_dir, "an ensemble directory")
    starts: list[Path | None] = [None] * n_members
    if warm_start is not None:
        starts = list(member_dirs(warm_start)) if is_ensemble_dir(warm_start) else []
        if len(starts) != n_members:
            raise ScenarioError("--warm-start", f"an ensemble directory of {n_members} members", str(warm_start))
    out.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(n_members, mp_context=context) as pool:
        logs = manager.Queue()
        futures = [
            pool.submit(
                _train_member,
                i,
                list(data),
                out / member_name(i),
                replace(config, seed=config.seed + i),
                architecture or {},
                starts[i],
                command,
                threads,
                logs,
            )  # fmt: skip
            for i in range(n_members)
        ]
        while True:
            _, pending = wait(futures, timeout=POLL_SECONDS)
            _drain(logs, on_epoch)
            if not pending:
                break
        outcomes = [future.result() for future in futures]
    provenance = {
        "command": command,
        "data": [str(Path(p).resolve()) for p in data],
        "seeds": [config.seed + i for i in range(n_members)],
        "threads_per_member": threads,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_ensemble(out, n_members, provenance)
    return [result for result, _ in outcomes], outcomes[0][1]


def _drain(logs: Any, on_epoch: Callable[[int, EpochLog], None] | None) -> None:
    while True:
        try:
            member, log = logs.get_nowait()
        except queue.Empty:
            return
        if on_epoch is not None:
            on_epoch(member, log)


def _train_member(
    index: int, data: list[Path], out: Path, config: TrainConfig, architecture: dict[str, Any],
    warm_start: Path | None, command: str, threads: int, logs: Any,
) -> tuple[FitResult, ReadReport]:  # fmt: skip
    report = ReadReport()
    examples = read_examples(data, report)
    result = train_to_directory(
        examples,
        out,
        config,
        data=data,
        report=report,
        architecture=architecture,
        warm_start=warm_start,
        command=command,
        threads=threads,
        on_epoch=lambda log: logs.put((index, log)),
    )
    return result, report
