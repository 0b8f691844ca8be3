"""Autonomous systems and countries of IPv4 addresses, from an offline and dated table.

The table is MaxMind's GeoLite2 country + ASN data that the ``geoip2fast`` package ships (1.2.2: the table of
2024-06-18; :func:`table_source` gives the exact name). It names each AS by its organisation and gives the network
the AS announces, and the country of each network; it carries no AS numbers, so an AS is identified here by its
organisation name. The table is of its own date: for measurements years older, an address's AS and country are
those of its network at the table's date.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

TABLE_FILE = "geoip2fast-asn.dat.gz"


@lru_cache(maxsize=1)
def _table() -> Any:
    from geoip2fast import GeoIP2Fast

    return GeoIP2Fast(geoip2fast_data_file=TABLE_FILE)


def table_source() -> str:
    """The name and date of the table's data, as the table records it."""
    return str(_table().get_database_info()["source_info"])


@lru_cache(maxsize=65536)
def _lookup(address: object) -> Any:
    """The table's entry of a globally routed IPv4 address; None for anything else (private or special-use, not
    an IPv4 address)."""
    try:
        routed = ipaddress.IPv4Address(address).is_global if isinstance(address, str) else False
    except ipaddress.AddressValueError:
        return None
    return _table().lookup(address) if routed else None


def as_name(address: object) -> str | None:
    """The organisation of the AS announcing a globally routed IPv4 address; None for anything else (private or
    special-use, unannounced, not an IPv4 address)."""
    entry = _lookup(address)
    return (entry.asn_name or None) if entry is not None else None


def country_code(address: object) -> str | None:
    """The ISO 3166 alpha-2 country of a globally routed IPv4 address's network; None where the table has none."""
    entry = _lookup(address)
    code = entry.country_code if entry is not None else None
    return code if isinstance(code, str) and len(code) == 2 and code.isalpha() else None
