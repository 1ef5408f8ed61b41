"""The address of the client behind a request, for the sign-in throttle.

Rules:
- without trusted proxies the peer of the TCP connection is the client;
- behind a reverse proxy every request comes from the proxy: when the peer is one of
  ``trusted`` (addresses or networks), the client is the right-most address of
  ``X-Forwarded-For`` that is not itself a trusted proxy (the left part of that header
  is whatever the client sent, so it is never believed);
- a value that is not an IP address ends the walk: the last trusted hop is taken
  instead, so a garbled header never lets a client choose its own address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.1", "192.168.0.0/16"]`` as networks (ValueError on a bad one)."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: str | None,
                   trusted: tuple[Network, ...] = ()) -> str:
    """The client's address, written one way (see the module rules); "unknown"
    without a peer."""
    address = _address(peer or "")
    if address is None:
        return peer or "unknown"
    if not trusted or not any(address in net for net in trusted) or not forwarded_for:
        return str(address)
    for hop in reversed(forwarded_for.split(",")):
        previous, address = address, _address(hop)
        if address is None:
            return str(previous)
        if not any(address in net for net in trusted):
            break
    return str(address)
