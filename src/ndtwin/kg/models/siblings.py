"""Siblings of a probe→target pair: the measured pairs nearest to it in address space and in AS.

A pair's siblings at each level, most specific first: the same probe to targets in the same /24
(``prb_id``, ``dst_24``), the same probe to targets in the same /16 (``prb_id``, ``dst_16``), probes in the same
/16 as the probe's public address to targets in that /16 (``src_16``, ``dst_16``), the same probe to targets in
the same AS (``prb_id``, ``dst_as``), and probes in the probe's AS to targets in the target's AS (``src_as``,
``dst_as``; ASes from :mod:`ndtwin.kg.iptable`). The sibling value of a pair is the median over the siblings of the
first level that has any; the pair itself is never among them, since only other pairs' values are passed in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ndtwin.kg.iptable import as_name

LEVELS = (
    ("prb_id", "dst_24"),
    ("prb_id", "dst_16"),
    ("src_16", "dst_16"),
    ("prb_id", "dst_as"),
    ("src_as", "dst_as"),
)
SIBLING_COLUMNS = ("src_16", "dst_16", "dst_24", "src_as", "dst_as")


def prefix(address: object, bits: int) -> str | None:
    """The /16 or /24 of an IPv4 address as dotted text (``"10.1"``, ``"10.1.2"``); None for anything else."""
    parts = str(address).split(".") if isinstance(address, str) else []
    if len(parts) != 4 or bits not in (16, 24):
        return None
    return ".".join(parts[: bits // 8])


def with_sibling_keys(pairs: pd.DataFrame, probe_address: dict) -> pd.DataFrame:
    """``pairs`` (``prb_id``, ``dst_addr``) with the columns of :data:`SIBLING_COLUMNS`: the /16 and AS of the
    probe's public address, the /16, /24 and AS of the target."""
    source = [probe_address.get(p) for p in pairs["prb_id"]]
    return pairs.assign(
        src_16=[prefix(a, 16) for a in source],
        dst_16=[prefix(a, 16) for a in pairs["dst_addr"]],
        dst_24=[prefix(a, 24) for a in pairs["dst_addr"]],
        src_as=[as_name(a) for a in source],
        dst_as=[as_name(a) for a in pairs["dst_addr"]],
    )


def sibling_median(known: pd.DataFrame, values: np.ndarray, query: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per query pair: the median of ``values`` (one per row of ``known``, NaN ignored) over its siblings among
    ``known`` at the most specific level that has any, and that level's index into :data:`LEVELS` (−1: none).
    Both tables carry ``prb_id`` and the columns of :data:`SIBLING_COLUMNS`."""
    known = known.assign(value=np.asarray(values, float)).dropna(subset=["value"])
    found = np.full(len(query), np.nan)
    level = np.full(len(query), -1)
    for index, keys in enumerate(LEVELS):
        table = known.dropna(subset=list(keys)).groupby(list(keys))["value"].median().rename("found").reset_index()
        matched = query[list(keys)].merge(table, on=list(keys), how="left")["found"].to_numpy()
        new = np.isnan(found) & np.isfinite(matched)
        found[new] = matched[new]
        level[new] = index
    return found, level
