"""Autonomous systems and countries of IP addresses, from an offline and dated table.

The table is MaxMind's GeoLite2 country + ASN data that the ``geoip2fast`` package ships (1.2.2: the tables of
2024-06-18, one for IPv4 and one with IPv6; :func:`table_source` gives their exact names). It names each AS by its
organisation and gives the network the AS announces, and the country of each network; it carries no AS numbers, so
an AS is identified here by its organisation name. The table is of its own date: for measurements years older, an
address's AS and country are those of its network at the table's date. IPv4 addresses are looked up in the IPv4
table (the combined one names an AS for some IPv4 addresses the IPv4 table leaves unannounced, internet-exchange
LANs among them), IPv6 addresses in the combined one.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

PREFIX_LENGTHS = {"network": {4: 16, 6: 32}, "site": {4: 24, 6: 48}}
TABLE_FILES = {4: "geoip2fast-asn.dat.gz", 6: "geoip2fast-asn-ipv6.dat.gz"}


@lru_cache(maxsize=2)
def _table(version: int) -> Any:
    from geoip2fast import GeoIP2Fast

    return GeoIP2Fast(geoip2fast_data_file=TABLE_FILES[version])


@lru_cache(maxsize=1)
def table_source() -> str:
    """The names and dates of the tables' data, as the tables record them."""
    v4, v6 = (str(_table(version).get_database_info()["source_info"]) for version in (4, 6))
    return f"{v4}; IPv6: {v6}"


@lru_cache(maxsize=65536)
def _lookup(address: object) -> Any:
    """The table's entry of a globally routed IPv4 or IPv6 address; None for anything else (private or
    special-use, not an IP address)."""
    ip = _ip(address)
    return _table(ip.version).lookup(str(ip)) if ip is not None and ip.is_global else None


def as_name(address: object) -> str | None:
    """The organisation of the AS announcing a globally routed IP address; None for anything else (private or
    special-use, unannounced, not an IP address)."""
    entry = _lookup(address)
    return (entry.asn_name or None) if entry is not None else None


def country_code(address: object) -> str | None:
    """The ISO 3166 alpha-2 country of a globally routed IP address's network; None where the table has none."""
    entry = _lookup(address)
    code = entry.country_code if entry is not None else None
    return code if is_country_code(code) else None


def is_country_code(code: object) -> bool:
    """Whether ``code`` is one ISO 3166 alpha-2 country code (not "--", not "IR|TR")."""
    return isinstance(code, str) and len(code) == 2 and code.isalpha()


def prefix(address: object, part: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The ``network`` (IPv4 /16, IPv6 /32) or ``site`` (/24, /48) prefix of an IP address; None for anything that
    is not one."""
    ip = _ip(address)
    return None if ip is None else ipaddress.ip_network(f"{ip}/{PREFIX_LENGTHS[part][ip.version]}", strict=False)


def _ip(address: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address) if isinstance(address, str) else None
    except ValueError:
        return None
