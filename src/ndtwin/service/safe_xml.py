"""Uploaded XML is parsed with defusedxml first: no DTDs, entities or external references reach the reader."""

from __future__ import annotations

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from ndtwin.service.problems import ApiError


def looks_like_xml(data: bytes) -> bool:
    """Whether ``data`` starts like an XML document (as the topology reader tells GraphML from GML)."""
    return data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def check_xml(data: bytes, field: str) -> None:
    """ApiError 422 naming ``field`` unless ``data`` is well-formed XML without a DTD, entity declarations or
    external references (billion laughs, XXE)."""
    try:
        fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise ApiError(422, f"XML with a DTD, entities or external references is refused ({error})", field) from None
    except ParseError as error:
        raise ApiError(422, f"not well-formed XML ({error})", field) from None
