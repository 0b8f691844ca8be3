"""Render a what-if answer: rich tables, JSON text and a PNG figure."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import ticker  # noqa: E402
from rich.console import Group  # noqa: E402
from rich.table import Table  # noqa: E402
from rich.text import Text  # noqa: E402

from ndtwin.whatif.analysis import WhatIfResult  # noqa: E402
from ndtwin.whatif.validate import TrustReport  # noqa: E402

LOSS_LISTED = 1e-3  # flows losing less than 0.1 % after the change are not listed as lossy


def _ms(value: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value * 1e3:.4g}"


def _percent(value: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value * 100:.2f}"


def _interval(row: dict, metric: str, when: str, show=_ms) -> str:
    lo, hi = row.get(f"{metric}_{when}_lo"), row.get(f"{metric}_{when}_hi")
    return "" if lo is None else f" [{show(lo)}, {show(hi)}]"


def _flow_table(title: str, result: WhatIfResult, flows: list[int], intervals: tuple[str, ...]) -> Table:
    """Delay and loss of ``flows`` before and after, with intervals (when the model has them) on the values named
    in ``intervals`` (e.g. ``loss_after``)."""
    rows = result.flows.set_index("flow")
    interval = "" if result.interval_note else f" ({result.coverage:.0%} intervals)"
    table = Table(title=f"Flows with the {title}{interval}")
    columns = ("flow", "ToS", "delay before ms", "delay after ms", "Δ ms", "loss before %", "loss after %", "Δ loss %")
    for column in columns:
        table.add_column(column, justify="left" if column == "flow" else "right", no_wrap=True)
    for flow in flows:
        row = rows.loc[flow].to_dict()
        delay, loss = ("delay_s", _ms), ("loss", _percent)
        cells = {}
        for (metric, show), name in ((delay, "delay"), (loss, "loss")):
            for when in ("before", "after"):
                extra = _interval(row, metric, when, show) if f"{metric}_{when}" in intervals else ""
                cells[f"{name}_{when}"] = show(row[f"{metric}_{when}"]) + extra
            cells[f"{name}_delta"] = show(row[f"{metric}_delta"])
        table.add_row(
            f"{row['src']}→{row['dst']}",
            str(row["tos"]),
            *(cells[f"{name}_{part}"] for name in ("delay", "loss") for part in ("before", "after", "delta")),
        )
    return table


def lossy_flows(result: WhatIfResult, top: int) -> list[int]:
    """The ``top`` flows with the highest loss after the change, among those losing at least LOSS_LISTED."""
    lossy = result.flows[result.flows["loss_after"] >= LOSS_LISTED]
    return lossy.nlargest(top, "loss_after")["flow"].tolist()


def render_table(result: WhatIfResult) -> Group:
    """Worst flows by delay and by loss, SLA counts and the most loaded links as rich renderables."""
    head = Text.from_markup(
        f"[bold]{result.perturbation}[/bold] with {result.model}: {result.summary['n_flows_before']} flows before, "
        f"{result.summary['n_flows_after']} after"
        + (f" ({len(result.gone)} gone: {', '.join(sorted(set(result.gone['reason'])))})" if len(result.gone) else "")
        + ("; before: measured, after: anchored on it" if result.anchored else "")
    )
    parts: list = [head]
    if result.interval_note:
        parts.append(Text(result.interval_note, style="yellow"))
    for key, title in (
        ("worst_by_delay", "highest delay after"),
        ("worst_by_delay_increase", "largest delay increase"),
    ):
        flows = [item["flow"] for item in result.summary[key]]
        parts.append(_flow_table(title, result, flows, ("delay_s_before", "delay_s_after")))
    top = len(result.summary["worst_by_delay"])
    lossy = lossy_flows(result, top)
    losing = {when: int((result.flows[f"loss_{when}"] >= LOSS_LISTED).sum()) for when in ("before", "after")}
    loss_line = f"Loss: {losing['after']} flow(s) lose ≥ {LOSS_LISTED:.1%} after the change ({losing['before']} before)"
    parts.append(Text(loss_line))
    if lossy:
        parts.append(_flow_table("highest loss after", result, lossy, ("loss_after",)))
    links = Table(title="Most loaded links (offered utilisation)")
    for column in ("link", "before", "after"):
        links.add_column(column, justify="left" if column == "link" else "right", no_wrap=True)
    for item in result.summary["most_loaded_links"]:
        links.add_row(item["link"], f"{item['utilization_before']:.2f}", f"{item['utilization_after']:.2f}")
    parts.append(links)
    sla = result.summary.get("sla")
    if sla:
        text = (
            f"SLA (delay ≤ {_ms(sla['delay_budget_s'])} ms): {sla['violations_before']} violation(s) before, "
            f"{sla['violations_after']} after"
        )
        if "possible_violations_after" in sla:
            text += f" ({sla['certain_violations_after']}–{sla['possible_violations_after']} within the intervals)"
        if sla["new_violations"]:
            text += f"; new: {', '.join(sla['new_violations'][:10])}" + (
                " …" if len(sla["new_violations"]) > 10 else ""
            )
        parts.append(Text(text))
    return Group(*parts)


def to_json(result: WhatIfResult) -> str:
    return json.dumps(result.to_dict())


def plot_png(result: WhatIfResult, path: str | Path) -> Path:
    """Per-flow predicted delay before vs after (with interval bars when there are intervals), the loss of the
    flows that lose most after, and the busiest links' utilisation before and after."""
    path = Path(path)
    flows = result.flows.dropna(subset=["delay_s_before"])
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 4.8))
    before, after = flows["delay_s_before"] * 1e3, flows["delay_s_after"] * 1e3
    if "delay_s_after_lo" in flows:
        errors = np.vstack([after - flows["delay_s_after_lo"] * 1e3, flows["delay_s_after_hi"] * 1e3 - after])
        left.errorbar(before, after, yerr=errors, fmt="none", ecolor="lightgrey", linewidth=0.8, zorder=1)
    left.scatter(before, after, s=12, zorder=2)
    bounds = [min(before.min(), after.min()), max(before.max(), after.max())]
    left.plot(bounds, bounds, color="grey", linewidth=1, label="no change")
    if result.delay_budget_s is not None:
        left.axhline(result.delay_budget_s * 1e3, color="red", linewidth=1, linestyle="--", label="delay budget")
    left.set_xscale("log")
    left.set_yscale("log")
    for axis in (left.xaxis, left.yaxis):  # plain numbers at 1-2-5 steps; no labels on minor ticks (they overlap)
        axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        axis.set_minor_formatter(ticker.NullFormatter())
    left.set_xlabel(("measured" if result.anchored else "predicted") + " delay before (ms)")
    left.set_ylabel("predicted delay after (ms)")
    left.set_title(result.perturbation[:60])
    left.legend()
    _loss_panel(middle, result)
    links = result.links.nlargest(10, "utilization_after")
    y = np.arange(len(links))
    right.barh(y - 0.2, links["utilization_before"], height=0.4, label="before")
    right.barh(y + 0.2, links["utilization_after"], height=0.4, label="after")
    right.set_yticks(y, links["link"])
    right.invert_yaxis()
    right.axvline(1.0, color="red", linewidth=1)
    right.set_xlabel("offered utilisation")
    right.set_title("10 most loaded links after")
    right.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _loss_panel(axes: plt.Axes, result: WhatIfResult) -> None:
    """The loss before and after of the 10 flows that lose most after the change (at least LOSS_LISTED)."""
    lossy = result.flows.set_index("flow").loc[lossy_flows(result, 10)]
    axes.set_title("10 flows with the highest loss after")
    axes.set_xlabel("loss (%)")
    if lossy.empty:
        axes.text(0.5, 0.5, f"no flow loses ≥ {LOSS_LISTED:.1%}", ha="center", va="center", transform=axes.transAxes)
        axes.set_yticks([])
        return
    y = np.arange(len(lossy))
    axes.barh(y - 0.2, lossy["loss_before"].fillna(0) * 100, height=0.4, label="before")
    axes.barh(y + 0.2, lossy["loss_after"] * 100, height=0.4, label="after")
    if "loss_after_lo" in lossy:
        spans = np.vstack([lossy["loss_after"] - lossy["loss_after_lo"], lossy["loss_after_hi"] - lossy["loss_after"]])
        axes.errorbar(lossy["loss_after"] * 100, y + 0.2, xerr=spans * 100, fmt="none", ecolor="black", linewidth=0.8)
    axes.set_yticks(y, [f"{src}→{dst}" for src, dst in zip(lossy["src"], lossy["dst"])])
    axes.invert_yaxis()
    axes.legend(loc="lower right")


def trust_table(report: TrustReport, grade: str) -> Table:
    """A TrustReport's scores, overall and per perturbation kind, with the grade in the title."""
    coverage = "no intervals" if report.coverage90 is None else f"90 % interval coverage {report.coverage90:.1%}"
    if report.coverage90_range is not None:
        low, high = report.coverage90_range
        coverage += f" (bootstrap over baselines {low:.1%}–{high:.1%})"
    if report.coverage90_anchored is not None:
        coverage += f"; anchored on the measured baseline {report.coverage90_anchored:.1%} of the changed cases"
    table = Table(title=f"{report.model} on {report.suite}: grade {grade}, {coverage}")
    columns = ("scope", "flows", "below noise", "sign agr.", "Δ corr", "Δ slope", "Δ MAE", "Δ MAE rel", "Δ R²")
    for column in columns:
        table.add_column(column, justify="left" if column == "scope" else "right")
    for scope, s in [("overall", report.overall), *report.by_perturbation.items()]:
        table.add_row(
            scope,
            str(s.n_flows),
            str(s.n_below_noise),
            *(
                f"{v:.3f}"
                for v in (s.sign_agreement, s.delta_corr, s.delta_slope, s.delta_mae, s.delta_mae_rel, s.delta_r2)
            ),
        )
    return table
