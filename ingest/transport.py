"""The one seam between httpx and httpcore: a custom `httpx.AsyncBaseTransport` whose
connections are made by `GuardedBackend`, an httpcore network backend that checks the
resolved address of every connection it opens (ingest/netguard.py).

    client = httpx.AsyncClient(transport=GuardedTransport(...))
    request = client.build_request("GET", url, extensions={ALLOW_PRIVATE: False, PROXY: None})

httpx's own `AsyncHTTPTransport` takes no network backend, so this transport holds
`httpcore.AsyncConnectionPool`s itself, as httpx's does: one a host (see `_pool`), the
least recently used closed past MAX_POOLS hosts or KEEPALIVE_S unused, and apart by two
request extensions:

- `ALLOW_PRIVATE` (bool): the feed may reach private networks. Such requests go through a
  pool of their own, so a connection opened for one feed is never lent to another whose
  address policy is stricter;
- `PROXY` (str | None): the `proxy` setting of the feed or the process ("direct": none);
  None leaves the choice to the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and
  NO_PROXY, lower-case too, read once when the transport is made; see `proxy_for`).

Through a proxy, the proxy opens the connection to the feed's host and resolves its name,
so the guard cannot sit in the socket: the target's name is resolved and checked here
before the request is handed to the proxy (a literal IP is checked as it is). The proxy
itself is the operator's choice and is not checked. What remains is the window between our
lookup and the proxy's (DNS rebinding); on networks where feeds' names do not resolve
locally at all, every guarded feed fails with a DNS error and `allow_private_networks`
hands the decision to the proxy. (README: "Behind a proxy / private feeds".)

A GET that got no answer at all (the server closed the connection, or reset it, before
the response began: typically a kept-alive connection the server had just timed out) is
sent once more; httpcore then opens a new connection.

The TLS context is made once; its CA certificates (the `ca_bundle` setting, else
SSL_CERT_FILE / SSL_CERT_DIR, else certifi's bundle, as httpx does) are loaded before the
first https request, so a run that only meets plain-http feeds never pays for loading them.
Errors are httpx's (mapped from httpcore's as httpx's own transport maps them), besides
netguard.AddressBlockedError.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import time
import urllib.request
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import httpcore
import httpx

from . import netguard

__all__ = [
    "ALLOW_PRIVATE",
    "PROXY",
    "TLS",
    "GuardedBackend",
    "GuardedTransport",
    "bypassed",
    "proxy_for",
]

ALLOW_PRIVATE = "ingest.allow_private"
PROXY = "ingest.proxy"
DIRECT = "direct"  # a `proxy` value: connect directly, whatever the environment says
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
KEEPALIVE_S = 4.0  # an idle connection is used again within this long (Apache closes at 5)
MAX_POOLS = 128  # hosts whose idle connections are kept (each keeps per_host_concurrency)

_Key = tuple[bool, str | None, bytes, bytes, int | None]  # allow, proxy, scheme, host, port


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves the host itself (netguard), refuses
    blocked addresses, and connects to exactly the checked IP. TLS still uses the host
    name for SNI and certificates: httpcore passes it to start_tls separately."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await netguard.checked_addresses(host, port, timeout)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"DNS lookup of {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"DNS lookup of {host} failed: {exc}") from exc
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    ip, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used by the fetcher")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# --------------------------------------------------------------------------- proxies


def proxy_for(url: httpx.URL, setting: str | None, environ: Mapping[str, str]) -> str | None:
    """The proxy URL a request to `url` goes through, or None (direct). `setting`: the
    feed's or the process's `proxy` (wins over the environment; "direct": none);
    `environ`: urllib's reading of the *_PROXY variables ({"http": ..., "no": ...})."""
    if setting:
        return None if setting == DIRECT else setting
    chosen = environ.get(url.scheme) or environ.get("all")
    if not chosen:
        return None
    if bypassed(url.host, url.port, environ.get("no", "")):
        return None
    return chosen if "://" in chosen else f"http://{chosen}"


def bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """NO_PROXY says `host` is reached directly. Entries, comma-separated: "*" (every
    host), a name (itself and its subdomains; a leading "." allowed), an IP address or
    network (10.0.0.0/8), any of these with ":port"."""
    host = host.lower().strip("[]")
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for entry in no_proxy.replace(" ", "").lower().split(","):
        if entry == "*":
            return True
        if entry.startswith("["):  # [IPv6] or [IPv6]:port
            name, _, rest = entry[1:].partition("]")
            want_port = rest[1:] if rest.startswith(":") else ""
        elif entry.count(":") == 1:
            name, _, want_port = entry.partition(":")
        else:
            name, want_port = entry, ""
        if want_port and (not want_port.isdigit() or int(want_port) != port):
            continue
        name = name.lstrip(".")
        if not name:
            continue
        if ip is not None:
            try:
                if ip in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        if host == name or host.endswith("." + name):
            return True
    return False


def _proxy(url: str, tls: TLS) -> httpcore.Proxy:
    parsed = httpx.URL(url)
    if parsed.scheme not in PROXY_SCHEMES or not parsed.host:
        raise httpx.ProxyError(f"unsupported proxy URL (expected {', '.join(PROXY_SCHEMES)})")
    auth = (parsed.username, parsed.password) if parsed.username or parsed.password else None
    return httpcore.Proxy(
        url=httpcore.URL(
            scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=b"/"
        ),
        auth=auth,
        ssl_context=tls.context if parsed.scheme == "https" else None,
    )


# --------------------------------------------------------------------------- TLS


class TLS:
    """One verifying TLS context, its CA certificates loaded by `ready()` on first need."""

    def __init__(self, ca_bundle: str = "", environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.ca_bundle = ca_bundle
        self.cert_file = env.get("SSL_CERT_FILE", "")
        self.cert_dir = env.get("SSL_CERT_DIR", "")
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certs and names
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.loaded = False

    def ready(self) -> None:
        if self.loaded:
            return
        if self.ca_bundle or self.cert_file:
            self.context.load_verify_locations(cafile=self.ca_bundle or self.cert_file)
        elif self.cert_dir:
            self.context.load_verify_locations(capath=self.cert_dir)
        else:
            import certifi

            self.context.load_verify_locations(cafile=certifi.where())
        self.loaded = True


# --------------------------------------------------------------------------- errors

# httpcore's errors and httpx's, most specific first (as httpx's own transport maps them)
_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)
NO_ANSWER = "the server closed the connection without answering"


def _mapped(exc: Exception) -> Exception:
    for theirs, ours in _ERRORS:
        if isinstance(exc, theirs):
            if isinstance(exc, httpcore.RemoteProtocolError) and "without sending a response" in (
                str(exc)
            ):
                return ours(NO_ANSWER)
            return ours(str(exc) or type(exc).__name__)
    return exc


def _no_answer(exc: Exception) -> bool:
    """Nothing at all came back for the request: it can be sent again."""
    if isinstance(exc, httpcore.RemoteProtocolError):
        return "without sending a response" in str(exc)
    return isinstance(exc, httpcore.ReadError | httpcore.WriteError)


class _Body(httpx.AsyncByteStream):
    """The response body as httpcore streams it, its errors made httpx's."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except Exception as exc:
            raise _mapped(exc) from exc

    async def aclose(self) -> None:
        await self._stream.aclose()


# --------------------------------------------------------------------------- transport


class GuardedTransport(httpx.AsyncBaseTransport):
    """httpcore connection pools (kept-alive connections), one per host, address policy and
    proxy, made on first use, closed when the host was not asked for a while, and all by
    `aclose`. `per_host`: idle connections kept for one host."""

    def __init__(
        self,
        tls: TLS,
        *,
        http2: bool = False,
        per_host: int = 2,
        environ_proxies: Mapping[str, str] | None = None,
    ) -> None:
        self.tls = tls
        self.http2 = http2
        env = (
            urllib.request.getproxies_environment() if environ_proxies is None else environ_proxies
        )
        self.environ_proxies: dict[str, str] = dict(env)
        self._plain = httpcore.AnyIOBackend()
        self._guarded = GuardedBackend(self._plain)
        self.per_host = max(1, per_host)
        # least recently used first; with the time of their last use
        self._pools: OrderedDict[_Key, tuple[httpcore.AsyncConnectionPool, float]] = OrderedDict()

    async def _pool(
        self, allow_private: bool, proxy: str | None, url: httpx.URL
    ) -> httpcore.AsyncConnectionPool:
        """The pool of one host (and address policy and proxy). One pool a host, not one for
        all: httpcore's pool walks all its connections, pairwise, on every request and
        response, which costs milliseconds a request once it keeps a few dozen."""
        key: _Key = (allow_private, proxy, url.raw_scheme, url.raw_host, url.port)
        now = time.monotonic()
        entry = self._pools.get(key)
        if entry is not None:
            self._pools.move_to_end(key)
            self._pools[key] = (entry[0], now)
            return entry[0]
        await self._prune(now)
        pool = httpcore.AsyncConnectionPool(
            ssl_context=self.tls.context,
            proxy=_proxy(proxy, self.tls) if proxy else None,
            max_connections=None,  # the host gate of the fetcher bounds these
            max_keepalive_connections=self.per_host,
            keepalive_expiry=KEEPALIVE_S,
            http1=True,
            http2=self.http2,
            # the proxy is the operator's choice; feeds' hosts are checked before
            network_backend=self._plain if allow_private or proxy else self._guarded,
        )
        self._pools[key] = (pool, now)
        return pool

    async def _prune(self, now: float) -> None:
        """Close the pools of hosts not asked for KEEPALIVE_S (their connections are too old
        to use), and the least recently used ones beyond MAX_POOLS, unless busy."""
        closing = []  # chosen and taken out without a pause: other requests run meanwhile
        for key, (pool, used) in list(self._pools.items()):
            stale = now - used >= KEEPALIVE_S
            if not stale and len(self._pools) < MAX_POOLS:
                break  # the rest were used more recently
            if all(conn.is_idle() for conn in pool.connections):
                del self._pools[key]
                closing.append(pool)
        for pool in closing:
            await pool.aclose()

    def idle_connections(self) -> int:
        """Kept-alive connections waiting for their next request."""
        return sum(
            1 for pool, _ in self._pools.values() for conn in pool.connections if conn.is_idle()
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        ext = request.extensions
        allow = bool(ext.get(ALLOW_PRIVATE))
        url = request.url
        proxy = proxy_for(url, ext.get(PROXY), self.environ_proxies)
        if url.scheme == "https" or (proxy or "").startswith("https:"):
            self.tls.ready()
        if proxy and not allow:
            await self._check_target(url, ext)
        pool = await self._pool(allow, proxy, url)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=ext,
        )
        try:
            try:
                resp = await pool.handle_async_request(core)
            except Exception as exc:
                if request.method != "GET" or not _no_answer(exc):
                    raise
                resp = await pool.handle_async_request(core)  # once more, on a new connection
        except Exception as exc:
            raise _mapped(exc) from exc
        return httpx.Response(
            status_code=resp.status,
            headers=resp.headers,
            stream=_Body(resp.stream),
            extensions=resp.extensions,
        )

    async def _check_target(self, url: httpx.URL, ext: Mapping[str, Any]) -> None:
        """Before a request goes to a proxy: the target's addresses, checked here."""
        port = url.port or (443 if url.scheme == "https" else 80)
        timeout = (ext.get("timeout") or {}).get("connect")
        try:
            await netguard.checked_addresses(url.host, port, timeout)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"DNS lookup of {url.host} timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"DNS lookup of {url.host} failed: {exc}") from None

    async def aclose(self) -> None:
        pools, self._pools = self._pools, OrderedDict()
        for pool, _ in pools.values():
            await pool.aclose()
