"""Turn raw RIPE Atlas ping and traceroute results into tidy rows, through ``ripe.atlas.sagan``.

Units: seconds (``*_s``), as everywhere in ndtwin; the API's milliseconds are converted here.
Firmware quirks: ``avg = -1`` (all packets lost) gives a missing RTT and loss share 1; ``{"x": "*"}`` is a lost
packet or an unresponsive hop; duplicates are excluded from RTT statistics and counted; ``{"error": ...}`` packets
count as lost; traceroute replies that came ``late`` are kept as rows without an RTT.
"""

from __future__ import annotations

import ipaddress
import statistics
from functools import lru_cache
from typing import Any

from ripe.atlas.sagan import PingResult, TracerouteResult

MS = 1e-3
COMMON_FIELDS = {"type": str, "prb_id": int, "msm_id": int, "timestamp": int}
TYPE_FIELDS = {"ping": {"sent": int, "rcvd": int, "result": list}, "traceroute": {"result": list}}
QUIET = {"on_error": PingResult.ACTION_IGNORE, "on_malformation": PingResult.ACTION_IGNORE}


class BadResult(ValueError):
    """A result object that is not a usable RIPE Atlas ping or traceroute; the message says why."""


class OtherType(ValueError):
    """A valid RIPE Atlas result of a type this reader does not import (dns, http, …)."""


def check_fields(data: dict[str, Any]) -> str:
    """The result's type after checking the fields this reader needs; raises BadResult or OtherType."""
    if "type" not in data or "prb_id" not in data:
        raise BadResult("not a RIPE Atlas result (no 'type'/'prb_id' field)")
    kind = data["type"]
    if kind not in TYPE_FIELDS:
        raise OtherType(str(kind))
    if "error" in data and "result" not in data:
        raise BadResult(f"measurement error reported by the probe: {str(data['error'])[:80]}")
    for name, kind_of in {**COMMON_FIELDS, **TYPE_FIELDS[kind]}.items():
        if name not in data:
            raise BadResult(f"{kind} result without field '{name}'")
        value = data[name]
        if kind_of is int and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise BadResult(f"field '{name}': expected a number, got {value!r:.40}")
        if kind_of is list and not isinstance(value, list):
            raise BadResult(f"field '{name}': expected a list, got {type(value).__name__}")
    if "dst_addr" not in data and "dst_name" not in data:
        raise BadResult(f"{kind} result without field 'dst_addr'")
    return kind


@lru_cache(maxsize=1 << 20)
def is_private(address: str | None) -> bool | None:
    """Whether an IPv4/IPv6 address is not globally routable (RFC 1918, CGN, link-local…); None if unparsable."""
    if not address:
        return None
    try:
        return not ipaddress.ip_address(address).is_global
    except ValueError:
        return None


def _ms(value: float | None) -> float | None:
    return None if value is None else value * MS


def ping_row(data: dict[str, Any]) -> dict[str, Any]:
    """One row per ping result: RTT min/median/max (s), jitter (s), sent, received, duplicates, loss share."""
    result = PingResult(data, **QUIET)
    rtts = [p.rtt for p in result.packets if p.rtt is not None and not p.dup]
    sent = result.packets_sent or 0
    received = min(result.packets_received or 0, sent)
    return {
        "msm_id": result.measurement_id,
        "prb_id": result.probe_id,
        "timestamp": int(data["timestamp"]),
        "dst_addr": result.destination_address or result.destination_name,
        "from_addr": result.origin,
        "fw": result.firmware,
        "sent": sent,
        "received": received,
        "duplicates": result.duplicates or 0,
        "errors": sum(1 for p in data["result"] if isinstance(p, dict) and "error" in p),
        "loss_share": (sent - received) / sent if sent else None,
        "rtt_min_s": _ms(min(rtts)) if rtts else None,
        "rtt_median_s": _ms(statistics.median(rtts)) if rtts else None,
        "rtt_max_s": _ms(max(rtts)) if rtts else None,
        "jitter_s": _ms(statistics.fmean(abs(a - b) for a, b in zip(rtts, rtts[1:]))) if len(rtts) > 1 else None,
    }


def traceroute_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per hop reply; an unresponsive hop packet (``*``) is a row with ``timeout`` and no address."""
    result = TracerouteResult(data, **QUIET)
    base = {
        "msm_id": result.measurement_id,
        "prb_id": result.probe_id,
        "timestamp": int(data["timestamp"]),
        "dst_addr": result.destination_address or result.destination_name,
        "reached": bool(result.destination_ip_responded),
    }
    rows = []
    for hop in result.hops:
        raw_packets = hop.raw_data.get("result", []) if isinstance(hop.raw_data, dict) else []
        late = [p for p in raw_packets if isinstance(p, dict) and "late" in p]
        for reply, packet in enumerate(hop.packets):
            raw = packet.raw_data if isinstance(packet.raw_data, dict) else {}
            rows.append(_hop_row(base, hop.index, reply, packet.origin, packet.rtt, packet.ttl, raw, late=False))
        for reply, raw in enumerate(late, start=len(hop.packets)):
            rows.append(_hop_row(base, hop.index, reply, raw.get("from"), None, raw.get("ttl"), raw, late=True))
    return rows


def _hop_row(base: dict, hop: int | None, reply: int, origin, rtt, ttl, raw: dict, *, late: bool) -> dict[str, Any]:
    return {
        **base,
        "hop": hop,
        "reply": reply,
        "from_addr": origin,
        "rtt_s": _ms(rtt),
        "ttl": ttl,
        "timeout": raw.get("x") == "*",
        "late": late,
        "dup": bool(raw.get("dup", False)),
        "icmp_error": raw.get("err") if raw.get("err") is None else str(raw.get("err")),
        "private": is_private(origin),
    }
