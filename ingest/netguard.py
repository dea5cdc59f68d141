"""Private-network guard: refuse to connect to addresses a feed URL must never reach.

A feed URL is operator input, often pasted from anywhere (OPML files, `feeds add`).  Without a
guard, `http://169.254.169.254/latest/meta-data/` or `http://localhost:6379/` would be fetched
from inside the operator's network (SSRF).  The check is made on the *resolved address we
actually connect to*, inside the connection itself (see ingest/transport.py), so:

- a hostname that resolves to an internal address is refused (whatever its name says);
- DNS rebinding (public on the first lookup, internal on the next) is refused: we resolve
  once, check, and connect to exactly the address we checked;
- a redirect from an allowed host to an internal one is refused: every hop opens its own
  connection through the same check.

`blocked_reason(ip)` is the pure core (table-tested); `resolve()` is the one DNS seam (tests
monkeypatch it to simulate rebinding); `checked_addresses()` puts the two together.  The
connection itself is made by ingest/transport.py (GuardedBackend, an httpcore network
backend under httpx), which calls `checked_addresses` before every connection it opens.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

__all__ = ["AddressBlockedError", "blocked_reason", "checked_addresses", "resolve"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance-metadata endpoints, named so the error says what was at stake.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("192.0.0.192"),  # Oracle Cloud
}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in a v4-mapped, 6to4 or NAT64 IPv6 address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(address: str | IPAddress) -> str | None:
    """Why a connection to `address` must be refused ("loopback", "private", ...), or None
    when it is a public address."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        inner = _embedded_v4(ip)
        if inner is not None:
            why = blocked_reason(inner)
            return f"{why} (embedded in IPv6)" if why else None
    if ip in _METADATA:
        return "cloud metadata"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "carrier-grade NAT"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "reserved"
    return None


class AddressBlockedError(Exception):
    """Raised inside a connection attempt; the fetcher turns it into BlockedAddressError."""

    def __init__(self, host: str, ip: str, why: str) -> None:
        self.host = host
        self.ip = ip
        self.why = why
        shown = ip if host == ip else f"{host} resolves to {ip}"
        super().__init__(f"refused to connect: {shown} is a {why} address")


async def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (IPv6 and IPv4), in the resolver's order."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = str(sockaddr[0])
        if ip not in out:
            out.append(ip)
    return out


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


async def checked_addresses(host: str, port: int, timeout: float | None) -> list[str]:
    """The addresses to connect to for `host`, every one of them checked: a literal IP as it
    is, a name resolved once (by `resolve`). Raises AddressBlockedError when ANY address is
    internal (a public name mixing in an internal address is either misconfigured or an
    attack, and the public one must not be picked by luck); TimeoutError / OSError when the
    lookup fails or finds nothing."""
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        addresses = await asyncio.wait_for(resolve(host, port), timeout)
    if not addresses:
        raise OSError(f"{host} has no address")
    for ip in addresses:
        why = blocked_reason(ip)
        if why is not None:
            raise AddressBlockedError(host, ip, why)
    return addresses
