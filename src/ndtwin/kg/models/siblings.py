"""Siblings of a probe→target pair: the measured pairs nearest to it in address space and in AS.

A pair's siblings at each level, most specific first: the same probe to targets in the same site prefix (IPv4
/24, IPv6 /48: ``prb_id``, ``dst_site``), the same probe to targets in the same network prefix (/16, /32:
``prb_id``, ``dst_net``), probes in the same network prefix as the probe's public address to targets in that
network (``src_net``, ``dst_net``), the same probe to targets in the same AS (``prb_id``, ``dst_as``), and probes
in the probe's AS to targets in the target's AS (``src_as``, ``dst_as``); prefixes and ASes from
:mod:`ndtwin.kg.iptable`. The sibling value of a pair is the median over the siblings of the
first level that has any; the pair itself is never among them, since only other pairs' values are passed in.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from ndtwin.kg.iptable import as_name, prefix

LEVELS = (
    ("prb_id", "dst_site"),
    ("prb_id", "dst_net"),
    ("src_net", "dst_net"),
    ("prb_id", "dst_as"),
    ("src_as", "dst_as"),
)
SIBLING_COLUMNS = ("src_net", "dst_net", "dst_site", "src_as", "dst_as")


def with_sibling_keys(pairs: pd.DataFrame, probe_address: dict) -> pd.DataFrame:
    """``pairs`` (``prb_id``, ``dst_addr``) with the columns of :data:`SIBLING_COLUMNS`: the network prefix and AS
    of the probe's public address, the network and site prefixes and AS of the target."""
    source = [probe_address.get(p) for p in pairs["prb_id"]]
    return pairs.assign(
        src_net=[_prefix_text(a, "network") for a in source],
        dst_net=[_prefix_text(a, "network") for a in pairs["dst_addr"]],
        dst_site=[_prefix_text(a, "site") for a in pairs["dst_addr"]],
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


@lru_cache(maxsize=65536)
def _prefix_text(address: object, part: str) -> str | None:
    network = prefix(address, part)
    return None if network is None else str(network)
