"""QoE of evaluated pairs from predicted metrics vs from measured ones: MOS error and class agreement, per measured
day and per pair over the whole evaluated window (the granularity of the ASKG layer's measured QoE); the ceiling of
any per-pair (static) class prediction on daily rows; a direct class predictor from the pair's country combination."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ndtwin.kg.state import DAY_S, pair_metrics
from ndtwin.qoe.scores import PROFILES, mos, qoe_class

PAIR = ["prb_id", "dst_addr"]


def measured_classes(rows: pd.DataFrame, app: str) -> np.ndarray:
    """good/fair/poor of each measured pair-window row (``rtt_ms``, ``jitter_ms``, ``loss_share``)."""
    return qoe_class(mos(app, rows["rtt_ms"] / 1e3, rows["jitter_ms"] / 1e3, rows["loss_share"]))


def window_metrics(rows: pd.DataFrame) -> pd.DataFrame:
    """Per pair over all its measured rows (the whole evaluated window): ``rtt_ms`` (median of the daily medians),
    ``jitter_ms`` and ``loss_share`` (means) — the pair-level quantities the models predict and the ASKG stores."""
    metrics = pair_metrics(rows)
    return metrics.assign(rtt_ms=metrics.pop("rtt_s") * 1e3, jitter_ms=metrics.pop("jitter_s") * 1e3)


def qoe_agreement(rows: pd.DataFrame, predicted: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per application: MAE of MOS and share of matching good/fair/poor classes, per measured day (``mos_mae``,
    ``class_agreement`` over ``n_rows``) and per pair over the whole window (``window_mos_mae``,
    ``window_class_agreement`` over ``n_pairs``, measured metrics from :func:`window_metrics`).

    ``rows``: measured pair-window rows (``rtt_ms``, ``jitter_ms``, ``loss_share``, and the state columns);
    ``predicted``: one row per pair with the same metric columns. Every row counts, including days where every
    packet was lost; rows without a sent packet (unknown loss) do not.
    """
    rows = rows[rows["loss_share"].notna()]
    daily = _compare(rows, predicted)
    whole = _compare(window_metrics(rows), predicted)
    return {
        app: daily[app]
        | {"n_rows": daily["n"]}
        | {f"window_{key}": value for key, value in whole[app].items()}
        | {"n_pairs": whole["n"]}
        for app in PROFILES
    }


def _compare(measured: pd.DataFrame, predicted: pd.DataFrame) -> dict:
    columns = ["rtt_ms", "jitter_ms", "loss_share"]
    merged = measured[PAIR + columns].merge(predicted[PAIR + columns], on=PAIR, how="inner", suffixes=("", "_pred"))
    report: dict = {"n": len(merged)}
    for app in PROFILES:
        true = mos(app, merged["rtt_ms"] / 1e3, merged["jitter_ms"] / 1e3, merged["loss_share"])
        estimate = mos(app, merged["rtt_ms_pred"] / 1e3, merged["jitter_ms_pred"] / 1e3, merged["loss_share_pred"])
        report[app] = {
            "mos_mae": float(np.mean(np.abs(true - estimate))),
            "class_agreement": float(np.mean(qoe_class(true) == qoe_class(estimate))),
        }
    return report


def class_ceiling(rows: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per application, on measured pair-window rows (``window`` start in s): ``static_ceiling``, the share of rows
    whose class is their pair's most frequent class — the best agreement any one-class-per-pair prediction can
    reach on these rows — and ``next_day``, the agreement of a row's class with the same pair's class one day
    later, with the number of such day pairs."""
    rows = rows[rows["loss_share"].notna()].sort_values(PAIR + ["window"])
    same_pair = (rows["prb_id"].to_numpy()[1:] == rows["prb_id"].to_numpy()[:-1]) & (
        rows["dst_addr"].to_numpy()[1:] == rows["dst_addr"].to_numpy()[:-1]
    )
    next_day = same_pair & (np.diff(rows["window"].to_numpy()) == DAY_S)
    report = {}
    for app in PROFILES:
        classes = pd.Series(measured_classes(rows, app), index=rows.index)
        modal = classes.groupby([rows["prb_id"], rows["dst_addr"]]).agg(lambda s: s.value_counts().iloc[0])
        report[app] = {
            "static_ceiling": float(modal.sum() / len(rows)),
            "next_day": float(np.mean(classes.to_numpy()[1:][next_day] == classes.to_numpy()[:-1][next_day])),
            "n_day_pairs": int(next_day.sum()),
        }
    return report


def by_country_pair(fit_rows: pd.DataFrame, query: pd.DataFrame, values: ArrayLike, how: str) -> pd.Series:
    """Per query pair (``src_cc``, ``dst_cc``): ``values`` (one per fit row) aggregated by ``how`` (``mode`` or
    ``median``) over the fit rows of the same country combination, else of the same target country, else over all
    fit rows (index of ``query``)."""
    aggregate = (lambda s: s.value_counts().index[0]) if how == "mode" else "median"
    fit_rows = fit_rows.assign(value=np.asarray(values))
    out = pd.Series(index=query.index, dtype=object if how == "mode" else float)
    for keys in (["src_cc", "dst_cc"], ["dst_cc"]):
        table = fit_rows.dropna(subset=["value"]).groupby(keys)["value"].agg(aggregate).rename("found")
        found = query[keys].merge(table.reset_index(), on=keys, how="left")["found"].to_numpy()
        out = out.fillna(pd.Series(found, index=query.index))
    return out.fillna(fit_rows["value"].agg(aggregate))


def country_pair_classes(fit_rows: pd.DataFrame, query: pd.DataFrame, app: str) -> pd.Series:
    """Per query pair: the most frequent measured class of the fit windows of its country combination (falling
    back as :func:`by_country_pair` does)."""
    fit_rows = fit_rows[fit_rows["loss_share"].notna()]
    return by_country_pair(fit_rows, query, measured_classes(fit_rows, app), "mode")


def class_agreement(rows: pd.DataFrame, predicted: pd.DataFrame, app: str, *, per_window: bool = False) -> float:
    """Share of measured rows whose class equals the pair's predicted ``qoe_class`` (one row per pair); with
    ``per_window``, share of pairs whose class over the whole window (:func:`window_metrics`) equals it."""
    rows = rows[rows["loss_share"].notna()]
    if per_window:
        rows = window_metrics(rows)
    merged = rows.merge(predicted[PAIR + ["qoe_class"]], on=PAIR, how="inner")
    return float(np.mean(measured_classes(merged, app) == merged["qoe_class"].to_numpy()))
