"""``ndtwin kg build``: the three-layer knowledge graph of an imported RIPE Atlas folder, in a pyoxigraph store.

Topology (probes, targets, IP hops, /24 prefixes, ASes, countries, hop adjacency, each pair's path), state (one
observation per pair and time window) and application (QoE per application, added on top by :func:`ndtwin.qoe.add_qoe_layer`).
The store lives in ``OUT/kg``; the derived tables it was built from are kept beside it
(``OUT/state.parquet``, ``OUT/paths.parquet``) for the models.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyoxigraph as ox

from ndtwin.atlas import read_table
from ndtwin.kg import vocab as v
from ndtwin.kg.iptable import as_name, table_source
from ndtwin.kg.nodes import PROBE_COLUMNS, TARGET_COLUMNS, locate_probes, locate_targets, read_study
from ndtwin.kg.state import DAY_S, pair_windows
from ndtwin.kg.topology import adjacency, pair_paths

STORE_DIR = "kg"


@dataclass
class BuildReport:
    """Sizes of the built graph."""

    triples: int
    probes: int
    targets: int
    hops: int
    pairs: int
    observations: int


def build_graph(out: Path, *, window_s: int = DAY_S) -> BuildReport:
    """Build (or rebuild) the store under ``out/kg`` from the tables of ``ndtwin atlas import``."""
    out = Path(out)
    pings, hops = read_table(out, "pings"), read_table(out, "traceroutes")
    design, catalogue = read_study(out)
    target_addresses = set(pings["dst_addr"]) | set(hops["dst_addr"])
    probes = locate_probes(set(pings["prb_id"]) | set(hops["prb_id"]), design, pings)
    targets = locate_targets(target_addresses, catalogue)
    state = pair_windows(pings, window_s)
    paths = pair_paths(hops)
    triples = v.Triples()
    _topology(triples, pings, hops, probes, targets, paths, target_addresses)
    _state(triples, state, window_s)
    staging = out / (STORE_DIR + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    store = ox.Store(str(staging))
    store.bulk_load(input=triples.text().encode(), format=ox.RdfFormat.N_TRIPLES)
    store.flush()
    del store
    state.to_parquet(out / "state.parquet", index=False)
    paths.to_parquet(out / "paths.parquet", index=False)
    shutil.rmtree(out / STORE_DIR, ignore_errors=True)
    staging.rename(out / STORE_DIR)
    return BuildReport(
        triples=len(triples.lines),
        probes=len(probes),
        targets=len(target_addresses),
        hops=int(paths["address"].nunique()),
        pairs=int(state.groupby(["prb_id", "dst_addr"]).ngroups),
        observations=len(state),
    )


def _node(address: str, target_addresses: set[str]) -> str:
    return v.target(address) if address in target_addresses else v.hop(address)


def _topology(t, pings, hops, probes, targets, paths, target_addresses) -> None:
    countries: set[str] = set()
    systems: set[str] = set()
    prefixes: set[tuple[str, str]] = set()

    def in_prefix(node: str, address: str) -> None:
        site = v.site_prefix(address)
        if site is not None:
            prefixes.add(site)
            t.add(node, v.term("inPrefix"), site[0])

    def in_as(node: str, address: object) -> None:
        name = as_name(address)
        if name is not None:
            systems.add(name)
            t.add(node, v.term("inAS"), v.autonomous_system(name))

    def in_country(node: str, code: object, source: object) -> None:
        if isinstance(code, str):
            countries.add(code)
            t.add(node, v.term("inCountry"), v.country(code))
            t.add(node, v.term("countrySource"), v.string(str(source)))

    for prb_id, address, code, source in probes[PROBE_COLUMNS].itertuples(index=False):
        node = v.probe(prb_id)
        t.typed(node, "Probe")
        t.add(node, v.term("probeId"), v.integer(prb_id))
        in_country(node, code, source)
        in_as(node, address)
    for address, code, source in targets[TARGET_COLUMNS].itertuples(index=False):
        node = v.target(address)
        t.typed(node, "Target")
        t.add(node, v.term("address"), v.string(address))
        in_prefix(node, address)
        in_as(node, address)
        in_country(node, code, source)
    for code in sorted(countries):
        t.typed(v.country(code), "Country")
        t.add(v.country(code), v.term("code"), v.string(code))
    links = adjacency(paths)
    degree = pd.concat([links["src"], links["dst"]]).value_counts()
    public_hops = paths.drop_duplicates("address")
    for address, private in zip(public_hops["address"], public_hops["private"]):
        if address in target_addresses:
            continue
        node = v.hop(address)
        t.typed(node, "Hop")
        t.add(node, v.term("address"), v.string(address))
        t.add(node, v.term("private"), v.boolean(bool(private)))
        t.add(node, v.term("degree"), v.integer(degree.get(address, 0)))
        if not private:
            in_prefix(node, address)
            in_as(node, address)
    source = f"{table_source()} (offline table of that date, via geoip2fast)" if systems else ""
    for name in sorted(systems):
        node = v.autonomous_system(name)
        t.typed(node, "AutonomousSystem")
        t.add(node, v.term("name"), v.string(name))
        t.add(node, v.term("asSource"), v.string(source))
    for prefix, kind in prefixes:
        t.typed(prefix, kind)
    for src, dst in zip(links["src"], links["dst"]):
        t.add(_node(src, target_addresses), v.term("linksTo"), _node(dst, target_addresses))
    first = paths.sort_values("hop").drop_duplicates(["prb_id", "dst_addr"])
    for prb_id, address in set(zip(first["prb_id"], first["address"])):
        t.add(v.probe(prb_id), v.term("linksTo"), _node(address, target_addresses))
    pairs = pd.concat([pings[["prb_id", "dst_addr"]], hops[["prb_id", "dst_addr"]]]).drop_duplicates()
    for prb_id, address in zip(pairs["prb_id"], pairs["dst_addr"]):
        node = v.pair(prb_id, address)
        t.typed(node, "Pair")
        t.add(node, v.term("fromProbe"), v.probe(prb_id))
        t.add(node, v.term("toTarget"), v.target(address))
    for row in paths.itertuples(index=False):
        pair_node = v.pair(row.prb_id, row.dst_addr)
        step = v.resource("step", f"{int(row.prb_id)}-{row.dst_addr}-{int(row.hop)}")
        t.typed(step, "PathStep")
        t.add(pair_node, v.term("step"), step)
        t.add(step, v.term("hopIndex"), v.integer(row.hop))
        t.add(step, v.term("hop"), _node(row.address, target_addresses))
        t.add(step, v.term("replies"), v.integer(row.replies))


def _state(t, state: pd.DataFrame, window_s: int) -> None:
    for row in state.itertuples(index=False):
        node = v.resource("obs", f"{int(row.prb_id)}-{row.dst_addr}-{int(row.window)}")
        t.typed(node, "Observation")
        t.add(node, v.term("ofPair"), v.pair(row.prb_id, row.dst_addr))
        t.add(node, v.term("windowStart"), v.date_time(row.window))
        t.add(node, v.term("windowSeconds"), v.integer(window_s))
        t.add(node, v.term("results"), v.integer(row.results))
        t.add(node, v.term("rttMedianSeconds"), v.double(row.rtt_median_s))
        t.add(node, v.term("jitterSeconds"), v.double(row.jitter_s))
        t.add(node, v.term("lossShare"), v.double(row.loss_share))
