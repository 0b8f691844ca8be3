"""Probe and target metadata of the MENOG study, from its design files (never from the RIPE probe API).

- ``probes.parquet``: ``prb_id``, ``country`` (the source country the probe was selected for, from
  ``probes_derived.json``'s ``src_country_from_design``), ``from_ips`` (public source addresses seen).
  Location stays unknown; the AS of a probe's first public address comes from an offline table
  (:mod:`ndtwin.kg.iptable`).
- ``targets.parquet``: ``dst_addr``, ``country`` (the destination-country folder of the speedtest catalogue the
  target was chosen from, as recorded per measurement in ``manifest.csv``). The catalogue carries no coordinates,
  so target location stays unknown.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd

from ndtwin.errors import DatasetError

PROBES_FILE = "probes_derived.json"
MANIFEST_FILE = "manifest.csv"


def write_study_tables(src: Path, out: Path) -> list[str]:
    """Write ``probes.parquet`` / ``targets.parquet`` when ``src`` is a folder holding the design files."""
    written = []
    if not src.is_dir():
        return written
    probes_file, manifest_file = src / PROBES_FILE, src / MANIFEST_FILE
    if probes_file.is_file():
        read_probes(probes_file).to_parquet(out / "probes.parquet", index=False)
        written.append("probes")
    if manifest_file.is_file():
        read_targets(manifest_file).to_parquet(out / "targets.parquet", index=False)
        written.append("targets")
    return written


def read_probes(path: Path) -> pd.DataFrame:
    """Probe id → design country and seen source addresses."""
    try:
        probes = json.loads(Path(path).read_text())
        rows = [
            {
                "prb_id": int(entry["id"]),
                "country": "|".join(entry.get("src_country_from_design") or []) or None,
                "from_ips": " ".join(entry.get("from_ips") or []),
            }
            for entry in probes.values()
        ]
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as error:
        raise DatasetError(path, f"expected the study's probe list (id, src_country_from_design): {error}") from None
    return pd.DataFrame(rows, columns=["prb_id", "country", "from_ips"])


def probe_addresses(probes: pd.DataFrame) -> dict[int, str]:
    """Each probe's first public address seen by the study (``from_ips``, space-separated), if any."""
    if "from_ips" not in probes:
        return {}
    return {
        int(p): str(ips).split()[0]
        for p, ips in zip(probes["prb_id"], probes["from_ips"])
        if isinstance(ips, str) and ips.strip()
    }


def read_targets(path: Path) -> pd.DataFrame:
    """Target address → destination country of the catalogue folder it came from."""
    countries: dict[str, str] = {}
    with open(path, newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            if "dst_addr" not in row or "dst_cc" not in row:
                raise DatasetError(path, f"line {number}: expected columns dst_addr and dst_cc")
            if row["dst_addr"]:
                countries.setdefault(row["dst_addr"], row["dst_cc"])
    return pd.DataFrame({"dst_addr": list(countries), "country": list(countries.values())})
