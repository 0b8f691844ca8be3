"""The tables the models learn from, read from an imported and built folder, and the fit part of each split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ndtwin.atlas import read_table
from ndtwin.errors import DatasetError
from ndtwin.kg.models.siblings import with_sibling_keys
from ndtwin.kg.models.splits import campaign_of, fit_mask, future_cuts
from ndtwin.kg.nodes import locate_probes, locate_targets, read_study
from ndtwin.kg.state import pair_metrics
from ndtwin.kg.topology import pair_paths

PAIR = ["prb_id", "dst_addr"]


@dataclass
class MeasurementTables:
    """State rows (pair × window), traceroute hop replies, and the probe and target node tables with countries
    (and, where the study lists it, the probe's first public ``address``)."""

    state: pd.DataFrame
    hops: pd.DataFrame
    probes: pd.DataFrame
    targets: pd.DataFrame

    def __post_init__(self) -> None:
        self._all_paths: pd.DataFrame | None = None

    def fit_pairs(self, roles: np.ndarray, stage: str) -> pd.DataFrame:
        """Pair-level values over the fit rows: ``rtt_ms``, ``jitter_ms``, ``loss_share``, with both countries."""
        metrics = pair_metrics(self.state[fit_mask(roles, stage)])
        metrics["rtt_ms"] = metrics.pop("rtt_s") * 1e3
        metrics["jitter_ms"] = metrics.pop("jitter_s") * 1e3
        return self.with_locations(metrics)

    def with_locations(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """``pairs`` with ``src_cc`` (probe's design country), ``dst_cc`` (target's catalogue country) and the
        address prefixes and ASes of :func:`ndtwin.kg.models.siblings.with_sibling_keys`."""
        probes = self.probes.rename(columns={"country": "src_cc"})[["prb_id", "src_cc"]]
        targets = self.targets.rename(columns={"country": "dst_cc"})[["dst_addr", "dst_cc"]]
        located = pairs.merge(probes, on="prb_id", how="left").merge(targets, on="dst_addr", how="left")
        addresses = self.probes["address"] if "address" in self.probes else pd.Series(pd.NA, index=self.probes.index)
        return with_sibling_keys(located, dict(zip(self.probes["prb_id"], addresses)))

    def fit_paths(self, fit: pd.DataFrame, split: str, stage: str) -> pd.DataFrame:
        """Typical paths of the fit pairs, from traceroutes the split allows: in ``future``, those before the
        stage's cut (``label``, ``val`` or ``test``)."""
        if split == "future":
            cuts = future_cuts(self.state)
            campaign = campaign_of(self.hops["timestamp"], reference=self.state["window"])
            limit = np.array([cuts[int(c)][stage] if int(c) in cuts else 0 for c in campaign])
            paths = pair_paths(self.hops[self.hops["timestamp"].to_numpy() < limit])
        else:
            if self._all_paths is None:
                self._all_paths = pair_paths(self.hops)
            paths = self._all_paths
        return paths.merge(fit[PAIR], on=PAIR, how="inner")


def load_tables(out: Path) -> MeasurementTables:
    """Read ``state.parquet`` (from ``ndtwin kg build``), the traceroutes, and where the probes and targets are
    (:mod:`ndtwin.kg.nodes`)."""
    out = Path(out)
    if not (out / "state.parquet").is_file():
        raise DatasetError(out, "no state.parquet: run 'ndtwin kg build' on this folder first")
    state = pd.read_parquet(out / "state.parquet")
    if not state["rtt_median_s"].notna().any():
        raise DatasetError(out, "no ping result with an RTT: the models learn from ping results (import them too)")
    hops = read_table(out, "traceroutes")[["prb_id", "dst_addr", "timestamp", "hop", "from_addr", "late", "private"]]
    design, catalogue = read_study(out)
    pings = read_table(out, "pings")[["prb_id", "timestamp", "from_addr"]]
    probes = locate_probes(state["prb_id"].unique(), design, pings)[["prb_id", "country", "address"]]
    targets = locate_targets(state["dst_addr"].unique(), catalogue)[["dst_addr", "country"]]
    return MeasurementTables(state=state, hops=hops, probes=probes, targets=targets)
