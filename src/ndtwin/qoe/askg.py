"""The application layer of the knowledge graph: QoE per pair and application, from the state layer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyoxigraph as ox

from ndtwin.kg import vocab as v
from ndtwin.kg.build import STORE_DIR
from ndtwin.kg.state import pair_metrics
from ndtwin.qoe.scores import PROFILES, mos, qoe_class


def qoe_table(metrics: pd.DataFrame, apps: list[str] | None = None) -> pd.DataFrame:
    """One row per (pair, app): ``mos`` and ``qoe_class`` from the ``rtt_s``/``jitter_s``/``loss_share`` columns."""
    frames = []
    for app in apps or list(PROFILES):
        scores = mos(app, metrics["rtt_s"], metrics["jitter_s"], metrics["loss_share"])
        frames.append(metrics.assign(app=app, mos=scores, qoe_class=qoe_class(scores)))
    return pd.concat(frames, ignore_index=True)


def add_qoe_layer(out: Path) -> int:
    """Add the measured QoE of every pair and application to the store in ``out/kg``; the number of triples."""
    out = Path(out)
    table = qoe_table(pair_metrics(pd.read_parquet(out / "state.parquet")))
    t = v.Triples()
    for app in PROFILES:
        t.typed(v.resource("app", app), "Application")
        t.add(v.resource("app", app), v.term("name"), v.string(app))
    for row in table.itertuples(index=False):
        node = v.resource("qoe", f"{int(row.prb_id)}-{row.dst_addr}-{row.app}")
        t.typed(node, "QoE")
        t.add(node, v.term("ofPair"), v.pair(row.prb_id, row.dst_addr))
        t.add(node, v.term("application"), v.resource("app", row.app))
        t.add(node, v.term("mos"), v.double(row.mos))
        t.add(node, v.term("qoeClass"), v.string(str(row.qoe_class)))
        t.add(node, v.term("basis"), v.string("measured"))
    store = ox.Store(str(out / STORE_DIR))
    store.bulk_load(input=t.text().encode(), format=ox.RdfFormat.N_TRIPLES)
    store.flush()
    return len(t.lines)
