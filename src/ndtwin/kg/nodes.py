"""Where the probes and targets of an imported folder are: public address, country, and where the country comes from.

A probe's address is the first one the study's design lists for it (``probes.parquet``'s ``from_ips``), else the
first globally routed source address its ping results show (``from_addr``, earliest result first). A country comes
from the study where it names one — the source country a probe was selected for, the catalogue folder of a
target — and otherwise from the offline, dated table of :mod:`ndtwin.kg.iptable` (the country of the address's
network at the table's date). So a plain RIPE Atlas download, without a study's design files, still gets
countries, ASes and address prefixes for its probes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ndtwin.atlas.parse import is_private
from ndtwin.atlas.study import probe_addresses
from ndtwin.kg.iptable import country_code, is_country_code, table_source

DESIGN_SOURCE = "study design (source country the probe was selected for)"
CATALOGUE_SOURCE = "speedtest catalogue (destination-country folder)"
PROBE_COLUMNS = ["prb_id", "address", "country", "country_source"]
TARGET_COLUMNS = ["dst_addr", "country", "country_source"]


def table_country_source() -> str:
    """The ``country_source`` of a country taken from the offline table."""
    return f"{table_source()} (country of the address's network at the table's date, via geoip2fast)"


def locate_probes(prb_ids, design: pd.DataFrame, pings: pd.DataFrame) -> pd.DataFrame:
    """Per probe id: address, country and country source. ``design`` holds the study's probes (``prb_id``,
    ``country``, ``from_ips``; may be empty), ``pings`` the ping results' ``prb_id``, ``timestamp``, ``from_addr``."""
    addresses = _first_public_sources(pings) | probe_addresses(design)
    studied = {int(p): c for p, c in zip(design.get("prb_id", []), design.get("country", [])) if is_country_code(c)}
    rows = []
    for prb_id in sorted({int(p) for p in prb_ids}):
        address = addresses.get(prb_id)
        rows.append([prb_id, address, *_country(studied.get(prb_id), address, DESIGN_SOURCE)])
    return pd.DataFrame(rows, columns=PROBE_COLUMNS)


def locate_targets(addresses, catalogue: pd.DataFrame) -> pd.DataFrame:
    """Per target address: country and country source. ``catalogue`` holds the study's targets (``dst_addr``,
    ``country``; may be empty)."""
    listed = {a: c for a, c in zip(catalogue.get("dst_addr", []), catalogue.get("country", [])) if is_country_code(c)}
    rows = [[a, *_country(listed.get(a), a, CATALOGUE_SOURCE)] for a in sorted(set(addresses))]
    return pd.DataFrame(rows, columns=TARGET_COLUMNS)


def read_study(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's probe and target tables of an imported folder (empty where the source had no design files)."""
    out = Path(out)
    probes, targets = out / "probes.parquet", out / "targets.parquet"
    return (
        pd.read_parquet(probes) if probes.is_file() else pd.DataFrame(columns=["prb_id", "country", "from_ips"]),
        pd.read_parquet(targets) if targets.is_file() else pd.DataFrame(columns=["dst_addr", "country"]),
    )


def _country(studied: object, address: object, study_source: str) -> tuple[str | None, str | None]:
    if is_country_code(studied):
        return str(studied), study_source
    code = country_code(address)
    return (code, table_country_source()) if code else (None, None)


def _first_public_sources(pings: pd.DataFrame) -> dict[int, str]:
    seen = pings[["prb_id", "timestamp", "from_addr"]].dropna().sort_values(["prb_id", "timestamp"])
    public = {a: is_private(a) is False for a in seen["from_addr"].unique()}
    first = seen[seen["from_addr"].map(public).astype(bool)].drop_duplicates("prb_id")
    return {int(p): str(a) for p, a in zip(first["prb_id"], first["from_addr"])}
