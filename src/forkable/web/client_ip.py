"""The client's address, with `X-Forwarded-For` believed only when a trusted proxy passed it on.

Each proxy appends the address it got the request from to `X-Forwarded-For`. Read from the
right, the header is a chain of hops, each written by the hop after it: starting from the peer
(the connection's other end), every hop that is a trusted proxy (`FORKABLE_TRUSTED_PROXIES`)
vouches for the one to its left, and the first hop that is not trusted is the client. Whatever
lies further left was written by the client itself and is never believed. An untrusted peer's
headers are ignored altogether: its own address is the client's.

`ForwardedClientMiddleware` puts the result into the ASGI scope, so throttles, audit rows and
logs all see the same address whichever server runs the app (uvicorn through `forkable serve`,
which is given the same list, Vercel's runtime, or any other).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_SCHEMES = frozenset({"http", "https"})


def parse_address(text: str) -> Address | None:
    """The IP address in a peer name or a forwarded hop, or None when there is none.

    Ports (`1.2.3.4:5678`, `[2001:db8::1]:443`) are dropped, and an IPv4 address written as
    IPv6 (`::ffff:1.2.3.4`, as dual-stack sockets report IPv4 peers) is read as IPv4.
    """
    value = text.strip()
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            return None
        value = value[1:end]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_network(entry: str) -> Network:
    """One trusted entry: an address (`10.0.0.2`, `::1`) or a network (`10.0.0.0/8`).

    ValueError, naming the entry, when it is neither. Host bits of a network are dropped
    (`10.0.0.1/8` means `10.0.0.0/8`).
    """
    text = entry.strip()
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or network") from None


# Peer and hop texts whose reading is remembered. A server sees few peers (its proxies, or its
# clients), but hops come from headers: the bound keeps a stream of made-up ones from growing it.
_REMEMBERED_HOPS = 1024


class TrustedProxies:
    """The addresses and networks whose forwarding headers are believed."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(parse_network(entry) for entry in entries)
        # Parsing an address and testing it against each network was a fifth of the landing
        # page's instructions, for the same peer every time (docs/benchmarks.md).
        self.read_hop = functools.lru_cache(maxsize=_REMEMBERED_HOPS)(self._read_hop)

    def trusts(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def _read_hop(self, text: str) -> tuple[str, bool] | None:
        """A peer name or forwarded hop as (its address, written out; whether it is trusted),
        or None when it is no IP address."""
        address = parse_address(text)
        if address is None:
            return None
        return str(address), self.trusts(address)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: TrustedProxies
) -> str | None:
    """The client's address for a request from ``peer`` carrying these X-Forwarded-For values.

    ``forwarded_for`` holds each X-Forwarded-For header's value, in order. A hop that is not an
    address (`unknown`, an obfuscated name, garbage) ends the walk: the client is then the
    nearest trusted hop, which never lets a client choose its own address.
    """
    if peer is None:
        return None
    read = trusted.read_hop(peer)
    if read is None:
        return peer  # not an IP peer (a Unix socket, a test client): nothing to resolve
    nearest, trusted_hop = read
    if not trusted_hop:
        return nearest
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        read = trusted.read_hop(hop)
        if read is None:
            break
        address, trusted_hop = read
        if not trusted_hop:
            return address
        nearest = address
    # Every hop was a trusted proxy: the request started at the leftmost of them.
    return nearest


def forwarded_scheme(values: Sequence[str]) -> str | None:
    """`http` or `https` from one X-Forwarded-Proto header naming exactly one; else None."""
    if len(values) != 1:
        return None
    scheme = values[0].strip().lower()
    return scheme if scheme in _SCHEMES else None


class ForwardedClientMiddleware:
    """Pure ASGI: the scope's client (and scheme) as a trusted proxy says they were."""

    def __init__(self, app: ASGIApp, *, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.trusted.networks:
            self._resolve(scope)
        await self.app(scope, receive, send)

    def _resolve(self, scope: Scope) -> None:
        client = scope.get("client")
        if not client:
            return
        peer = str(client[0])
        read = self.trusted.read_hop(peer)
        if read is None or not read[1]:
            return
        forwarded_for: list[str] = []
        forwarded_proto: list[str] = []
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded_for.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                forwarded_proto.append(value.decode("latin-1"))
        resolved = client_address(peer, forwarded_for, self.trusted)
        if resolved is not None and resolved != client[0]:
            scope["client"] = (resolved, 0)  # the client's own port is not forwarded
        scheme = forwarded_scheme(forwarded_proto)
        if scheme is not None:
            scope["scheme"] = scheme


def client_host(connection: HTTPConnection) -> str:
    """The request's client address, as resolved above ("unknown" without one)."""
    return connection.client.host if connection.client else "unknown"
