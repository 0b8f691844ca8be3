"""The knowledge graph's vocabulary (``ndt:``) and resource IRIs, written as N-Triples terms.

Documented in docs/KG.md: classes, properties and their units. Times are seconds (``…Seconds``), shares are in
[0, 1], window starts are ``xsd:dateTime`` in UTC.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from urllib.parse import quote

from ndtwin.kg.iptable import prefix

NDT = "https://w3id.org/ndtwin/kg#"
RES = "https://w3id.org/ndtwin/id/"
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
PREFIXES = f"PREFIX ndt: <{NDT}>\nPREFIX res: <{RES}>\nPREFIX xsd: <{XSD}>\n"


def term(name: str) -> str:
    """A vocabulary term (class or property) as an N-Triples IRI."""
    return f"<{NDT}{name}>"


def resource(kind: str, key: object) -> str:
    """A resource IRI such as ``<…/id/probe/6090>``; ``key`` must not contain spaces or angle brackets."""
    return f"<{RES}{kind}/{key}>"


def probe(prb_id: int) -> str:
    return resource("probe", int(prb_id))


def target(address: str) -> str:
    return resource("target", address)


def hop(address: str) -> str:
    return resource("hop", address)


def site_prefix(address: str) -> tuple[str, str] | None:
    """The site prefix of an IP address as (resource, class): IPv4 /24 (``…/prefix/a.b.c.0-24``, ``Prefix24``) or
    IPv6 /48 (``…/prefix/2001:db8:1::-48``, ``Prefix48``); None for anything that is not an IP address."""
    network = prefix(address, "site")
    if network is None:
        return None
    return resource("prefix", f"{network.network_address}-{network.prefixlen}"), f"Prefix{network.prefixlen}"


def country(code: str) -> str:
    return resource("country", code)


def autonomous_system(name: str) -> str:
    """The resource of an AS, keyed by its organisation name (percent-encoded)."""
    return resource("as", quote(name, safe=""))


def pair(prb_id: int, address: str) -> str:
    return resource("pair", f"{int(prb_id)}-{address}")


def string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def integer(value: int) -> str:
    return f'"{int(value)}"^^<{XSD}integer>'


def double(value: float) -> str | None:
    """An ``xsd:double`` literal, or None for a missing (NaN) value, which is then left out of the graph."""
    if value is None or not math.isfinite(value):
        return None
    return f'"{float(value)!r}"^^<{XSD}double>'


def boolean(value: bool) -> str:
    return f'"{"true" if value else "false"}"^^<{XSD}boolean>'


def date_time(epoch_s: float) -> str:
    stamp = datetime.fromtimestamp(int(epoch_s), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f'"{stamp}"^^<{XSD}dateTime>'


class Triples:
    """An N-Triples buffer; ``add`` skips a triple whose object is None (a value that is not known)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, subject: str, predicate: str, obj: str | None) -> None:
        if obj is not None:
            self.lines.append(f"{subject} {predicate} {obj} .\n")

    def typed(self, subject: str, cls: str) -> None:
        self.lines.append(f"{subject} {RDF_TYPE} {term(cls)} .\n")

    def text(self) -> str:
        return "".join(self.lines)
