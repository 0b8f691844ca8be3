"""The topology layer's numbers: each pair's typical traceroute path and the hop adjacency it implies."""

from __future__ import annotations

import pandas as pd

PATH_COLUMNS = ["prb_id", "dst_addr", "hop", "address", "private", "replies"]


def pair_paths(hops: pd.DataFrame) -> pd.DataFrame:
    """Per (probe, target, hop index) the address that answered most often, with its reply count.

    Timeouts (``*``) and late replies carry no address and are not path steps; an unresponsive hop index is
    simply absent, so consecutive steps may skip indices.
    """
    answered = hops.loc[
        hops["from_addr"].notna() & ~hops["late"], ["prb_id", "dst_addr", "hop", "from_addr", "private"]
    ]
    counts = answered.groupby(["prb_id", "dst_addr", "hop", "from_addr"], sort=False).agg(
        replies=("private", "size"), private=("private", "first")
    )
    counts = counts.reset_index().sort_values(["prb_id", "dst_addr", "hop", "replies"], ascending=[1, 1, 1, 0])
    paths = counts.drop_duplicates(["prb_id", "dst_addr", "hop"]).rename(columns={"from_addr": "address"})
    return paths[PATH_COLUMNS].reset_index(drop=True)


def adjacency(paths: pd.DataFrame) -> pd.DataFrame:
    """Directed hop→next-hop links over all pair paths, with the number of pairs that use each (``pairs``)."""
    ordered = paths.sort_values(["prb_id", "dst_addr", "hop"])
    nxt = ordered.groupby(["prb_id", "dst_addr"])["address"].shift(-1)
    links = pd.DataFrame({"src": ordered["address"], "dst": nxt}).dropna()
    links = links[links["src"] != links["dst"]]
    return links.groupby(["src", "dst"]).size().rename("pairs").reset_index()
