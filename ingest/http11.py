"""HTTP/1.1 exchanges: h11 (httpx's own HTTP/1.1 state machine) over a netguard-checked
asyncio stream, with the connection kept for the next request to the same host.

A request opens its connection (through `netguard.GuardedBackend`: the resolved address is
checked, then connected to), or takes one that an earlier exchange with the same host, port
and scheme, under the same address policy, left in the `Pool` less than KEEPALIVE_S ago.
A connection goes back to the pool only when both sides finished their message cleanly and
the server did not ask to close (h11 decides: `Connection: close`, HTTP/1.0, a body cut
short); anything else closes it. Feeds often share a host (a site's dozens of section
feeds), so the next one is asked without a new TCP (and TLS) handshake: on the bench farm,
five feeds a host, a warm run opens a fraction of the connections it did. A kept
connection the server closed meanwhile is noticed before it is used (end of stream), or
when the request on it gets no answer at all: that GET is sent again on a new connection,
once. (httpcore's own pool cost 0.42 ms of CPU per request on the farm, this 0.21 ms.)

Errors are httpcore's, as the network backend raises them (ConnectTimeout, ConnectError,
ReadTimeout, ReadError, WriteTimeout, WriteError); a malformed or truncated response is a
RemoteProtocolError.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote, urlsplit

import h11
import httpcore

__all__ = ["KEEPALIVE_S", "Pool", "Response", "Target", "open_response", "target"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a request goes and what it says (see :func:`target`)."""

    scheme: str  # lowercase
    host: str  # lowercase ASCII: IDNA-encoded name, IPv4, or IPv6 without brackets
    port: int  # explicit or the scheme's default
    path: bytes  # the request target: percent-encoded path (at least "/") and query
    netloc: bytes  # the Host header: host (IPv6 in brackets), ":port" unless the default


_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_CHARS = re.compile(r"[a-z0-9._-]+")  # an ASCII host name as sent (after IDNA)
# a path or query that is sent as it is: RFC 3986 characters only, every "%" an escape
_PLAIN = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*")
_SAFE = "/?:@!$&'()*+,;=-._~%"  # kept by the quoting of anything else


def target(url: str) -> Target:
    """Parse an http(s) URL for a request, as httpx.URL did here before (a dependency this
    process then no longer imports: ~30 ms and ~6 MB per worker process, and ~70 us per
    request for its parser; a table test compares the two): host names IDNA-encoded and
    lowercased, the path and query percent-encoded where they hold characters outside
    RFC 3986 (spaces, non-ASCII), the fragment dropped. Stricter than httpx on hosts: a
    host with characters no host name has (a space, say) or a port out of range is an
    error. Raises ValueError saying why."""
    parts = urlsplit(url)  # raises ValueError on a broken IPv6 literal
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError as exc:  # not a number, or out of range
        raise ValueError(f"invalid port: {exc}") from None
    raw = parts.hostname or ""  # lowercased, brackets of an IPv6 literal removed
    if not raw:
        raise ValueError("no host")
    if "[" in parts.netloc:
        try:
            host = str(ipaddress.IPv6Address(raw))
        except ValueError:
            raise ValueError(f"invalid IPv6 address {raw!r}") from None
        shown = f"[{host}]"
    else:
        host = raw if raw.isascii() else _idna(raw)
        if not _HOST_CHARS.fullmatch(host):
            raise ValueError(f"invalid host {raw!r}")
        shown = host
    default = _DEFAULT_PORTS.get(scheme)
    if port == 0:
        raise ValueError("invalid port: 0")
    path = parts.path or "/"
    if parts.query or url.endswith("?"):
        path = f"{path}?{parts.query}"
    if not _PLAIN.fullmatch(path):
        path = quote(path, safe=_SAFE)
    netloc = shown if port is None or port == default else f"{shown}:{port}"
    return Target(scheme, host, port or default or 0, path.encode("ascii"), netloc.encode())


def _idna(host: str) -> str:
    import idna  # httpx's own dependency; only for names that are not ASCII

    try:
        return str(idna.encode(host, uts46=True).decode("ascii"))
    except idna.IDNAError as exc:
        raise ValueError(f"invalid international host name {host!r}: {exc}") from None


_READ = 65536
_MAX_HEAD = 100 * 1024  # a response head still incomplete past this is refused (as httpcore)


KEEPALIVE_S = 4.0  # an idle connection is used again within this long (Apache closes at 5)

_Key = tuple[object, str, str, int]  # (backend: the address policy, scheme, host, port)


class Pool:
    """Idle connections, at most `per_key` for each (backend, scheme, host, port) and
    `max_idle` in all, newest used first. When full, the ones idle longer than KEEPALIVE_S
    are closed, then the oldest: a long pass over thousands of hosts holds at most
    `max_idle` sockets open besides those in flight. (A run claims feeds in due order, not
    by host, so a host's next feed often comes a few hundred requests later: on the bench
    farm, 64 kept 401 connections of 1,000 requests, 256 kept 284, and the warm run took 7%
    less.) Only streams that can tell whether they are still usable (`reusable()`:
    ingest.aionet's) are kept. `aclose` closes what is left."""

    def __init__(self, per_key: int = 2, max_idle: int = 256) -> None:
        self.per_key = max(1, per_key)
        self.max_idle = max(1, max_idle)
        self._idle: dict[_Key, list[tuple[httpcore.AsyncNetworkStream, h11.Connection, float]]] = {}
        self._count = 0

    def take(self, key: _Key) -> tuple[httpcore.AsyncNetworkStream, h11.Connection] | None:
        """A kept connection for `key` that is still open and quiet, or None. The ones
        found closed by the server, holding unasked-for bytes or idle too long are
        dropped (aborted: nothing is owed to a server that closed)."""
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            stream, conn, since = idle.pop()
            self._count -= 1
            if not idle:
                del self._idle[key]
            if now - since < KEEPALIVE_S and _reusable(stream):
                return stream, conn
            _abort(stream)
        return None

    def put(self, key: _Key, stream: httpcore.AsyncNetworkStream, conn: h11.Connection) -> bool:
        """Keep the connection (True), or refuse it (False: the caller closes it)."""
        idle = self._idle.get(key, [])
        if len(idle) >= self.per_key or not _reusable(stream):
            return False
        if self._count >= self.max_idle:
            self._drop_expired()
        if self._count >= self.max_idle:
            self._evict_oldest()
        self._idle[key] = idle
        idle.append((stream, conn, time.monotonic()))
        self._count += 1
        return True

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for key, idle in list(self._idle.items()):
            fresh = []
            for entry in idle:
                if now - entry[2] < KEEPALIVE_S:
                    fresh.append(entry)
                else:
                    _abort(entry[0])
                    self._count -= 1
            if fresh:
                self._idle[key] = fresh
            else:
                del self._idle[key]

    def _evict_oldest(self) -> None:
        key = min(self._idle, key=lambda k: self._idle[k][0][2])
        idle = self._idle[key]
        _abort(idle.pop(0)[0])
        self._count -= 1
        if not idle:
            del self._idle[key]

    def __len__(self) -> int:
        return self._count

    async def aclose(self) -> None:
        idle, self._idle, self._count = self._idle, {}, 0
        for conns in idle.values():
            for stream, _, _ in conns:
                await stream.aclose()


def _reusable(stream: httpcore.AsyncNetworkStream) -> bool:
    check = getattr(stream, "reusable", None)
    return bool(check is not None and check())


def _abort(stream: httpcore.AsyncNetworkStream) -> None:
    abort = getattr(stream, "abort", None)
    if abort is not None:
        abort()


class _NoAnswer(httpcore.RemoteProtocolError):
    """The server closed the connection before the response began."""


class Response:
    """A response whose body is still on the wire: read it with `aiter_stream`, always
    `aclose` it (which keeps the connection in the pool when the exchange ended cleanly)."""

    def __init__(
        self,
        stream: httpcore.AsyncNetworkStream,
        conn: h11.Connection,
        head: h11.Response,
        read_timeout: float | None,
        pool: Pool | None = None,
        key: _Key | None = None,
    ) -> None:
        self._stream = stream
        self._conn = conn
        self._read_timeout = read_timeout
        self._pool = pool
        self._key = key
        self.status: int = head.status_code
        self.reason: str = head.reason.decode("latin-1")
        self.headers: list[tuple[bytes, bytes]] = list(head.headers)

    async def aiter_stream(self) -> AsyncIterator[bytes]:
        conn = self._conn
        while True:
            event = await _next_event(conn, self._stream, self._read_timeout)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return

    async def aclose(self) -> None:
        pool, key, conn = self._pool, self._key, self._conn
        if pool is not None and key is not None and _finished(conn):
            conn.start_next_cycle()
            if pool.put(key, self._stream, conn):
                return
        await self._stream.aclose()


def _finished(conn: h11.Connection) -> bool:
    """Both sides done, and nothing else received: the connection can carry another
    exchange. A body that was not read (a 304, a redirect) counts when the bytes already
    received hold all of it."""
    try:
        while conn.their_state is h11.SEND_BODY:
            event = conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return False
    except h11.RemoteProtocolError:
        return False
    return (
        conn.our_state is h11.DONE
        and conn.their_state is h11.DONE
        and conn.trailing_data == (b"", False)
    )


async def _next_event(
    conn: h11.Connection, stream: httpcore.AsyncNetworkStream, timeout: float | None
) -> h11.Event | type[h11.PAUSED]:
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise httpcore.RemoteProtocolError(str(exc) or "malformed response") from None
        if event is not h11.NEED_DATA:
            return cast("h11.Event | type[h11.PAUSED]", event)
        data = await stream.read(_READ, timeout)
        if not data and conn.their_state == h11.SEND_RESPONSE:
            raise _NoAnswer("the server closed the connection without answering")
        try:
            conn.receive_data(data)  # b"": the server closed the connection
        except h11.RemoteProtocolError as exc:
            raise httpcore.RemoteProtocolError(str(exc) or "malformed response") from None


async def open_response(
    backend: httpcore.AsyncNetworkBackend,
    *,
    scheme: str,
    host: str,
    port: int,
    target: bytes,
    headers: Sequence[tuple[bytes, bytes]],
    timeouts: Mapping[str, float],
    ssl_context: ssl.SSLContext,
    pool: Pool | None = None,
) -> Response:
    """Send a GET for `target` with `headers` (Host included by the caller) on a kept
    connection from `pool` or a new one, and read up to the end of the response head. The
    body is read by the caller. Without a pool the request says `Connection: close`."""
    key: _Key = (backend, scheme, host, port)
    kept = pool.take(key) if pool is not None else None
    if kept is not None:
        try:
            return await _exchange(*kept, target, headers, timeouts, pool, key)
        except (_NoAnswer, httpcore.ReadError, httpcore.WriteError):
            pass  # closed by the server while it sat idle: the GET again, on a new connection
    stream = await backend.connect_tcp(host, port, timeout=timeouts.get("connect"))
    try:
        if scheme == "https":
            stream = await stream.start_tls(
                ssl_context, server_hostname=host, timeout=timeouts.get("connect")
            )
    except BaseException:
        await stream.aclose()
        raise
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
    return await _exchange(stream, conn, target, headers, timeouts, pool, key)


async def _exchange(
    stream: httpcore.AsyncNetworkStream,
    conn: h11.Connection,
    target: bytes,
    headers: Sequence[tuple[bytes, bytes]],
    timeouts: Mapping[str, float],
    pool: Pool | None,
    key: _Key,
) -> Response:
    """One request on an open connection, up to the response head (the stream is closed
    on any failure)."""
    try:
        if pool is None:
            headers = [*headers, (b"Connection", b"close")]
        try:
            request = conn.send(h11.Request(method="GET", target=target, headers=list(headers)))
            end = conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise httpcore.LocalProtocolError(str(exc)) from None
        await stream.write((request or b"") + (end or b""), timeouts.get("write"))
        read_timeout = timeouts.get("read")
        while True:
            event = await _next_event(conn, stream, read_timeout)
            if isinstance(event, h11.Response):
                return Response(stream, conn, event, read_timeout, pool, key)
            if isinstance(event, h11.InformationalResponse):
                continue  # 100 Continue and friends: the real answer follows
            raise httpcore.RemoteProtocolError(
                f"unexpected {type(event).__name__} before a response"
            )
    except BaseException:
        await stream.aclose()
        raise
