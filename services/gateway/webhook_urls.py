"""Where the gateway may deliver a tenant's events: https to a public address, and nowhere
inside the deployment.

A webhook makes the gateway send requests to an address a tenant chose, from inside the
platform's network; without these bounds a tenant could have it post to the database, the
broker or a cloud metadata endpoint. The URL is checked when it is registered, and the address
its host resolves to each time it is delivered to (a name may resolve elsewhere later). A
deployment that must be sure puts the gateway's egress behind a network policy as well: a name
can still resolve differently between the check and the connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from typing import Final
from urllib.parse import urlsplit

MAX_URL_CHARS: Final = 2_000
_PRINTABLE: Final = re.compile(r"^[!-~]+$")
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})


class UrlNotAllowed(ValueError):
    """Why a URL is no webhook's: said to the tenant, so never more than the URL's shape."""


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_allowed(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_loopback: bool
) -> bool:
    if address.is_loopback:
        return allow_loopback
    return address.is_global and not address.is_multicast


def checked_url(url: str, *, allow_loopback: bool) -> str:
    """The URL, if a webhook may be registered at it; otherwise UrlNotAllowed."""
    if len(url) > MAX_URL_CHARS or not _PRINTABLE.match(url):
        raise UrlNotAllowed(f"at most {MAX_URL_CHARS} printable ASCII characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlNotAllowed("not a URL") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlNotAllowed("no host")
    if parts.username is not None or parts.password is not None:
        raise UrlNotAllowed("no credentials in the URL: verify the signature instead")
    if parts.fragment:
        raise UrlNotAllowed("no fragment")
    if port == 0:
        raise UrlNotAllowed("not a port")
    literal = _address(host)
    loopback = host in _LOOPBACK_NAMES or (literal is not None and literal.is_loopback)
    if loopback and not allow_loopback:
        raise UrlNotAllowed("not on this deployment's own network")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise UrlNotAllowed("https only")
    if literal is not None and not address_allowed(literal, allow_loopback=allow_loopback):
        raise UrlNotAllowed("not a public address")
    return url


async def resolves_to_allowed(url: str, *, allow_loopback: bool) -> bool:
    """Whether every address the URL's host resolves to now may be delivered to."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return False
    addresses = [_address(str(info[4][0])) for info in found]
    return bool(addresses) and all(
        a is not None and address_allowed(a, allow_loopback=allow_loopback) for a in addresses
    )
