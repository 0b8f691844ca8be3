"""``ndtwin kg``: build, query and export the measurement knowledge graph; train and evaluate its models; QoE."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from ndtwin.cli.common import fail
from ndtwin.cli.progress import console
from ndtwin.errors import DatasetError

kg_app = typer.Typer(no_args_is_help=True, help="Knowledge graph of RIPE Atlas measurements (RDF, SPARQL).")

OUT_ARGUMENT = typer.Argument(..., help="The folder written by 'ndtwin atlas import'.")


def rows_table(rows: list[dict], title: str) -> Table:
    """A rich table of result rows (dicts with the same keys)."""
    table = Table(title=title)
    for name in rows[0] if rows else []:
        table.add_column(name)
    for row in rows:
        table.add_row(*(_cell(value) for value in row.values()))
    return table


def _cell(value: object) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@kg_app.command("build")
def build_command(
    out: Path = OUT_ARGUMENT,
    window_s: int = typer.Option(86_400, "--window-s", min=60, help="State-layer time window in seconds."),
) -> None:
    """Build the three layers (topology, state, application) into a pyoxigraph store under OUT/kg."""
    from ndtwin.kg.build import build_graph
    from ndtwin.qoe.askg import add_qoe_layer

    start = time.perf_counter()
    try:
        report = build_graph(out, window_s=window_s)
        qoe_triples = add_qoe_layer(out)
    except DatasetError as error:
        fail(error)
    console.print(
        f"{report.triples + qoe_triples} triples: {report.probes} probes, {report.targets} targets, "
        f"{report.hops} hop addresses, {report.pairs} pairs, {report.observations} observations "
        f"→ {out}/kg in {time.perf_counter() - start:.1f} s"
    )


@kg_app.command("query")
def query_command(
    out: Path = OUT_ARGUMENT,
    sparql: str = typer.Argument(..., help="A SPARQL 1.1 query; prefixes ndt:, res:, xsd: are predeclared."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of rows instead of a table."),
) -> None:
    """Answer a SPARQL query."""
    from ndtwin.kg.query import open_store, run_query

    try:
        rows = run_query(open_store(out), sparql)
    except (DatasetError, ValueError) as error:
        fail(error)
    if as_json:
        print(json.dumps(rows))
    elif isinstance(rows, bool):
        console.print(str(rows).lower())
    else:
        console.print(rows_table(rows, f"{len(rows)} row(s)"))


@kg_app.command("export")
def export_command(
    out: Path = OUT_ARGUMENT,
    destination: Path = typer.Argument(..., help="Turtle file to write (.ttl)."),
) -> None:
    """Export the whole graph as Turtle."""
    from ndtwin.kg.query import export_turtle

    try:
        export_turtle(out, destination)
    except DatasetError as error:
        fail(error)
    console.print(f"wrote {destination}")


@kg_app.command("qoe")
def qoe_command(
    out: Path = OUT_ARGUMENT,
    app: str = typer.Option("voip", "--app", help="web, video, voip, gaming or file_transfer."),
    worst: bool = typer.Option(False, "--worst", help="Worst pairs first (default: best first)."),
    limit: int = typer.Option(20, "--limit", min=1, help="Rows to show."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of rows."),
) -> None:
    """Rank pairs by the measured QoE (MOS) of an application, from the graph's application layer."""
    from ndtwin.kg.query import open_store, run_query
    from ndtwin.qoe import PROFILES

    if app not in PROFILES:
        fail(ValueError(f"--app: expected one of {', '.join(PROFILES)}, got {app!r}"))
    order = "ASC" if worst else "DESC"
    sparql = f"""
SELECT ?probe ?target ?mos ?class WHERE {{
  ?q ndt:application ?a ; ndt:ofPair ?pair ; ndt:mos ?mos ; ndt:qoeClass ?class .
  ?a ndt:name "{app}" .
  ?pair ndt:fromProbe/ndt:probeId ?probe ; ndt:toTarget/ndt:address ?target .
}} ORDER BY {order}(?mos) ?probe ?target LIMIT {limit}"""
    try:
        rows = run_query(open_store(out), sparql)
    except DatasetError as error:
        fail(error)
    if as_json:
        print(json.dumps(rows))
    elif not rows:
        console.print(f"{app}: no pair has a QoE in this graph (it is computed from ping results)")
    else:
        console.print(rows_table(rows, f"{app}: {'worst' if worst else 'best'} {len(rows)} pairs by MOS"))


@kg_app.command("train")
def train_command(
    out: Path = OUT_ARGUMENT,
    arch: str = typer.Option("sage", "--arch", help="sage, cheb, resgated or transformer."),
    seed: int = typer.Option(0, "--seed", help="Seed of the splits and the initialisation."),
    members: int | None = typer.Option(
        None, "--members", min=1, help="Networks trained from different seeds and averaged (default 3)."
    ),
    registry: Path | None = typer.Option(
        None, "--registry", help="Also register each split's model directory as a version of this model registry."
    ),
) -> None:
    """Train a GNN on the three splits (unseen pairs, unseen probes, future windows), single-threaded.

    Each split's model goes to the model directory OUT/models/ARCH/SPLIT/ (weights.safetensors, config.json,
    normalization.json, metrics.json, provenance.json)."""
    from ndtwin.kg.models.run import MODELS_DIR, train_arch
    from ndtwin.ops.registry import ModelRegistry, RegistryError

    try:
        store = ModelRegistry(registry) if registry is not None else None
        facts = train_arch(out, arch, seed=seed, **({"members": members} if members else {}))
        for split, meta in facts.items():
            if "skipped" in meta:
                console.print(f"{arch} {split}: skipped — {meta['skipped']}")
                continue
            version = ""
            if store is not None:
                version = store.register(
                    out / MODELS_DIR / arch / split,
                    metrics={"val_mae_ms": meta["val"]},
                    data_window={"source": str(out.resolve()), "split": split, "seed": seed},
                    parent=None,
                    note=f"ndtwin kg train --arch {arch}",
                    tags={"model": "kg-gnn", "arch": arch, "split": split},
                )
            console.print(
                f"{arch} {split}: {meta['epochs']} epochs (best of {meta['epochs_run']}), "
                f"{meta['train_seconds']:.1f} s, validation MAE {meta['val']:.2f} ms"
                + (f", registered as {version}" if version else "")
            )
    except (DatasetError, RegistryError, ValueError) as error:
        fail(error)


@kg_app.command("eval")
def eval_command(
    out: Path = OUT_ARGUMENT,
    as_json: bool = typer.Option(False, "--json", help="Print {split: {model: metrics}} as one JSON object."),
    seed: int = typer.Option(0, "--seed", help="Seed of the splits (as used by 'kg train')."),
) -> None:
    """Anchors and trained GNNs side by side on the three splits (ms); QoE agreement of the best GNN."""
    from ndtwin.kg.models.run import MODELS_DIR, best_trained, evaluate_all, split_test_rows, trained_predictions
    from ndtwin.qoe.agreement import class_ceiling, qoe_agreement

    try:
        report = evaluate_all(out, seed=seed)
        best = best_trained(report, "unseen_pairs")
        qoe = ceiling = None
        if report["unseen_pairs"]:
            test_rows = split_test_rows(out, "unseen_pairs", seed=seed)
            ceiling = class_ceiling(test_rows)
        if best is not None:
            predicted, _ = trained_predictions(out, best, "unseen_pairs")
            qoe = {"model": best} | qoe_agreement(test_rows, predicted)
    except DatasetError as error:
        fail(error)
    folder = Path(out) / MODELS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    document = {"splits": report, "qoe_unseen_pairs": qoe, "qoe_class_ceiling_unseen_pairs": ceiling}
    (folder / "eval.json").write_text(json.dumps(document, indent=1))
    _plot(report, folder / "eval.png")
    if as_json:
        print(json.dumps(report))
        return
    for split, models in report.items():
        if not models:
            console.print(f"{split}: skipped — the data is too small to form this split")
            continue
        rows = [
            {"model": name}
            | {k: m.get(k) for k in ("mae_ms", "rmse_ms", "mape", "r2", "huber_ms", "loss_auc", "train_seconds")}
            for name, m in models.items()
        ]
        console.print(rows_table(rows, f"{split} (test rows: {next(iter(models.values()))['n_rows']})"))
    if qoe:
        rows = [{"app": app} | values for app, values in qoe.items() if app != "model"]
        console.print(rows_table(rows, f"QoE of unseen pairs: {qoe['model']} predictions vs measured"))
    console.print(f"wrote {folder / 'eval.json'} and {folder / 'eval.png'}")


def _plot(report: dict[str, dict[str, dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(report), figsize=(4 * len(report), 3.5), sharey=True)
    for axis, (split, models) in zip(np.atleast_1d(axes), report.items()):
        axis.bar(list(models), [m["mae_ms"] for m in models.values()], color="tab:blue")
        axis.set_title(split)
        axis.tick_params(axis="x", rotation=60)
    np.atleast_1d(axes)[0].set_ylabel("RTT MAE (ms)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
