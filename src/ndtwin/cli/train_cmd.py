"""``ndtwin train``: fit the GNN twin on labelled datasets and write a model directory."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ndtwin.cli.common import check_output_path, fail, report_problems
from ndtwin.cli.progress import console, progress_bar
from ndtwin.data.datanet import ReadReport
from ndtwin.errors import DatasetError, ScenarioError


def _epoch_text(log) -> str:
    scores = "  ".join(f"{m} {v:.1f}%" for m, v in log.val_mape.items())
    return f"train {log.train_objective:.4f}  val {log.val_objective:.4f}  val MAPE: {scores}  lr {log.lr:.1e}"


def _result_text(result) -> str:
    scores = ", ".join(f"{m} {v:.2f} %" for m, v in result.best_val_mape.items())
    return (
        f"best epoch {result.best_epoch} of {len(result.history)} ({result.stopped}, {result.seconds} s); "
        f"validation-split MAPE: {scores}"
    )


def train_command(
    data: list[Path] = typer.Argument(..., help="Labelled datasets (native or datanetAPI trees) to train on."),
    out: Path = typer.Option(..., "--out", "-o", help="Model directory to write."),
    epochs: int = typer.Option(200, help="Maximum number of epochs."),
    loss: str = typer.Option("mape", help="Training objective per metric: 'mape' or 'logmse' (log-MSE)."),
    metrics: str = typer.Option("delay,jitter,loss", help="Comma-separated metrics whose errors are summed."),
    moe: bool | None = typer.Option(None, "--moe/--no-moe", help="Mixture-of-experts readout (default: off)."),
    attention: bool | None = typer.Option(
        None, "--attention/--no-attention", help="Attention at queues (default: off)."
    ),
    iterations: int | None = typer.Option(None, help="Message-passing iterations (default 8)."),
    hidden: int | None = typer.Option(None, help="Hidden state size (default 32)."),
    batch_size: int = typer.Option(4, help="Samples per batch (disjoint union)."),
    lr: float = typer.Option(1e-3, help="Initial Adam learning rate."),
    patience: int = typer.Option(20, help="Early stopping: epochs without validation improvement."),
    seed: int = typer.Option(0, help="Seed of initialisation, split and shuffling."),
    val_fraction: float = typer.Option(0.1, help="Share of the training samples held out for validation."),
    warm_start: Path | None = typer.Option(None, help="Continue training the model of this directory."),
    max_minutes: float | None = typer.Option(None, help="Stop after this much training time."),
    threads: int = typer.Option(1, help="Torch intra-op threads (2 only pays off on otherwise idle cores)."),
    members: int = typer.Option(
        1, help="Train a deep ensemble of this many models side by side (one process each, seeds seed, seed+1, …)."
    ),
) -> None:
    """Train the GNN twin; the best validation epoch is saved to --out."""
    from ndtwin.gnn.pipeline import check_output_dir, read_examples, train_to_directory
    from ndtwin.gnn.train import TrainConfig

    given = {"moe": moe, "attention": attention, "iterations": iterations, "hidden": hidden}
    architecture = {name: value for name, value in given.items() if value is not None}
    try:
        check_output_path(out, "--out")
        config = TrainConfig(
            epochs=epochs,
            loss=loss,
            metrics=tuple(m.strip() for m in metrics.split(",") if m.strip()),
            lr=lr,
            batch_size=batch_size,
            patience=patience,
            val_fraction=val_fraction,
            seed=seed,
            max_minutes=max_minutes,
        )
        if members != 1:
            _train_ensemble(data, out, config, members, architecture, warm_start, threads)
            return
        check_output_dir(out)
        report = ReadReport()
        with progress_bar("reading training data") as advance:
            examples = read_examples(data, report, advance)

        with progress_bar("training", total=epochs) as advance:

            def on_epoch(log) -> None:
                advance(_epoch_text(log))
                console.print(f"epoch {log.epoch:>4}  {_epoch_text(log)}", highlight=False)

            result = train_to_directory(
                examples,
                out,
                config,
                data=data,
                report=report,
                architecture=architecture,
                warm_start=warm_start,
                command=" ".join(["ndtwin", *sys.argv[1:]]),
                threads=threads,
                on_epoch=on_epoch,
            )
    except (DatasetError, ScenarioError) as error:
        fail(error)
    console.print(f"saved {out}: {_result_text(result)}")
    report_problems(report)


def _train_ensemble(data, out, config, members, architecture, warm_start, threads) -> None:
    from ndtwin.gnn.ensemble_train import train_ensemble_to_directory

    def on_epoch(member: int, log) -> None:
        console.print(f"member {member}  epoch {log.epoch:>4}  {_epoch_text(log)}", highlight=False)

    with console.status(f"training {members} members side by side"):
        results, report = train_ensemble_to_directory(
            data,
            out,
            config,
            members,
            architecture=architecture,
            warm_start=warm_start,
            command=" ".join(["ndtwin", *sys.argv[1:]]),
            threads=threads,
            on_epoch=on_epoch,
        )
    for member, result in enumerate(results):
        console.print(f"member {member}: {_result_text(result)}")
    console.print(f"saved ensemble {out}")
    report_problems(report)
