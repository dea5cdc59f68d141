"""Fetch stage: one polite, guarded, capped HTTP GET per feed -> FetchResult.

    async with Fetcher(settings) as fetcher:
        result = await fetcher.fetch(feed)      # never raises for the feed's own problems

One request, step by step (each hop of a redirect chain repeats 1-4):

1. wait for the host's turn: at most `per_host_concurrency` requests in flight to one host and
   `per_host_delay_s` between two request starts (on by default; miniflux #2336);
2. send it through the process's one httpx.AsyncClient, whose transport (ingest/transport.py)
   resolves the host itself, refuses internal addresses and connects to exactly the address
   it checked (through a proxy: checks the target before handing the request over), keeping
   connections alive for the next request to the host;
3. send a conditional GET (If-None-Match / If-Modified-Since) with a descriptive User-Agent,
   a feed Accept header and Accept-Encoding gzip, deflate, br; the feed's basic auth,
   headers and cookies go to its own host only, never to another host a redirect names;
4. redirects are followed here, not by httpx: 301/308 chains are reported as
   `permanent_redirect` (only when the chain ends in success), 302/303/307 are followed without
   being recorded, loops and chains longer than `max_redirects` are a RedirectError;
5. the body is streamed with a cap on the wire (`max_body_bytes`) and is decompressed by us
   with a cap on the output (`max_decompressed_bytes`), so gzip / deflate / brotli bombs stop at
   the cap without ever holding more than the cap in memory;
6. connect / read / write timeouts are httpx's, per socket operation; a total timeout per
   fetch (`total_timeout_s`, time spent waiting for the host's turn excluded) cuts off
   servers that trickle a byte a second;
7. the body's xxh3-128 hash is compared with the stored one: equal bytes are "not modified"
   whatever the validators said (servers sending `Expires: 0`, or a new ETag on every request).

Status mapping (ingest/statuses.py): 304 -> not_modified; 410 -> GoneError; 401 / 407 -> CredentialsError
("needs credentials" / "proxy needs credentials"); 429 / 503 -> RateLimitedError with
Retry-After (seconds or HTTP date); a bot-protection challenge (403 + `cf-mitigated: challenge`,
or a known challenge page) -> BotWallError naming the wall; other >= 400 -> HTTPStatusError.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import brotli
import httpx
import xxhash

from .decoding import Decoder, OverCapError
from .errors import (
    BlockedAddressError,
    CredentialsError,
    FeedError,
    FetchError,
    HTTPStatusError,
    NetworkError,
    RedirectError,
    TimeoutError_,
    TooLargeError,
    in_words,
    mask_url,
)
from .models import Feed, FeedOptions, FetchResult
from .netguard import AddressBlockedError
from .settings import Settings
from .statuses import PROXY_AUTH, SNIFF_BYTES, detect_bot_wall, parse_retry_after, status_error
from .transport import ALLOW_PRIVATE, PROXY, TLS, GuardedTransport

__all__ = [
    "FEED_ACCEPT",
    "Fetcher",
    "body_hash",
    "detect_bot_wall",
    "parse_retry_after",
]

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, text/html;q=0.5, */*;q=0.1"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
ACCEPT_ENCODING = "gzip, deflate, br"
_REDIRECTS = {301, 302, 303, 307, 308}
_PERMANENT = {301, 308}


def body_hash(body: bytes) -> str:
    """The hash stored as Feed.body_hash (xxh3-128, hex): fast, and 32 hex digits."""
    return xxhash.xxh3_128_hexdigest(body)


# --------------------------------------------------------------------------- politeness


class _HostGate:
    """Per-host concurrency cap and minimum gap between request starts to one host."""

    def __init__(self, limit: int, delay_s: float) -> None:
        self.limit = max(1, limit)
        self.delay_s = max(0.0, delay_s)
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._next: dict[str, float] = {}

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[float]:
        """Hold one of the host's slots; yields the seconds spent waiting for it."""
        t0 = time.monotonic()
        sem = self._sems.get(host)
        if sem is None:
            sem = self._sems[host] = asyncio.Semaphore(self.limit)
        async with sem:
            if self.delay_s:
                now = time.monotonic()
                start = max(now, self._next.get(host, 0.0))
                self._next[host] = start + self.delay_s
                if start > now:
                    await asyncio.sleep(start - now)
            yield time.monotonic() - t0


# --------------------------------------------------------------------------- transport


@functools.cache
def _tls(ca_bundle: str, cert_file: str, cert_dir: str) -> TLS:
    """One TLS context per process and CA source: every Fetcher of the process (a daemon
    makes one a pass) shares it, and its CA certificates are read once."""
    return TLS(ca_bundle, {"SSL_CERT_FILE": cert_file, "SSL_CERT_DIR": cert_dir})


def _no_cookie_jar() -> CookieJar:
    """A jar that keeps nothing: fetches stay independent of one another (a feed's own
    `cookies` are sent as a header to its host only)."""
    return CookieJar(DefaultCookiePolicy(allowed_domains=[]))


@dataclass(frozen=True, slots=True)
class _Ask:
    """What one chain of requests sends: the Accept header, the feed's address policy and
    proxy, and what goes to the feed's own host only (basic auth, headers, cookies)."""

    accept: str
    allow_private: bool
    proxy: str | None = None
    user_agent: str | None = None
    auth: tuple[str, str] | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, accept: str, options: FeedOptions, allow_private: bool, proxy: str) -> _Ask:
        own = list(options.headers)
        if options.cookies:
            own.append(("Cookie", "; ".join(f"{k}={v}" for k, v in options.cookies)))
        auth = None
        if options.username is not None or options.password is not None:
            auth = (options.username or "", options.password or "")
        return cls(
            accept=accept,
            allow_private=allow_private,
            proxy=options.proxy or proxy or None,
            user_agent=options.user_agent,
            auth=auth,
            headers=tuple(own),
        )


@dataclass(slots=True)
class _Final:
    """The last response of a redirect chain."""

    url: str
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes | None
    permanent: str | None
    bytes_read: int
    sent_auth: bool


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Response headers by lower-case name; repeated ones joined by ", "."""
    out: dict[str, str] = {}
    for kb, vb in raw:
        k = kb.decode("latin-1").lower()
        v = vb.decode("latin-1")
        out[k] = f"{out[k]}, {v}" if k in out else v
    return out


def _mib(n: int) -> str:
    return f"{n / 1048576:.0f} MiB" if n >= 1048576 else f"{n} bytes"


def _same_host(a: httpx.URL, b: httpx.URL) -> bool:
    """`b` is the host of `a` (same port, or the http -> https upgrade of it): where a
    feed's credentials, headers and cookies may go (httpx's own redirect rule)."""
    if a.host != b.host:
        return False
    if a.scheme == b.scheme and a.port == b.port:
        return True
    return (
        a.scheme == "http"
        and b.scheme == "https"
        and a.port in (80, None)
        and b.port
        in (
            443,
            None,
        )
    )


async def _drain(resp: httpx.Response) -> None:
    """Read the end of a body nobody wants (a 304's, a redirect's few bytes): a connection
    goes back to the pool only once its response was read to the end. A long one is not
    worth it: closing the connection costs less."""
    nread = 0
    async for chunk in resp.aiter_raw():
        nread += len(chunk)
        if nread > SNIFF_BYTES:
            break


class Fetcher:
    """Owns the process's httpx.AsyncClient (over ingest/transport.py: the guard, the
    proxies, the kept-alive connections) and the per-host politeness gate; `aclose` closes
    them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._gate = _HostGate(settings.per_host_concurrency, settings.per_host_delay_s)
        env = os.environ
        tls = _tls(settings.ca_bundle, env.get("SSL_CERT_FILE", ""), env.get("SSL_CERT_DIR", ""))
        self.transport = GuardedTransport(
            tls, http2=settings.http2, per_host=settings.per_host_concurrency
        )
        self._client = httpx.AsyncClient(
            transport=self.transport,
            timeout=httpx.Timeout(
                connect=settings.connect_timeout_s,
                read=settings.read_timeout_s,
                write=settings.read_timeout_s,
                pool=None,
            ),
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            cookies=_no_cookie_jar(),
            follow_redirects=False,  # followed by _get: it keeps the books on them
            trust_env=False,  # the transport reads the proxy variables itself
        )
        del self._client.headers["Connection"]  # HTTP/1.1 keeps connections open anyway

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # ------------------------------------------------------------------ public

    async def fetch(self, feed: Feed) -> FetchResult:
        """Fetch one feed. Every problem of the feed's own ends up in `result.error`."""
        t0 = time.monotonic()
        fetched_at = datetime.now(UTC)
        ask = _Ask.of(
            FEED_ACCEPT,
            feed.options,
            feed.options.allow_private_network or self.settings.allow_private_networks,
            self.settings.proxy,
        )
        conditional: dict[str, str] = {}
        if feed.etag:
            conditional["If-None-Match"] = feed.etag
        if feed.last_modified:
            conditional["If-Modified-Since"] = feed.last_modified
        try:
            final = await self._get(feed.url, ask, conditional)
        except FeedError as exc:
            return FetchResult(
                url=feed.url, final_url=feed.url, error=exc, fetched_at=fetched_at,
                elapsed_s=time.monotonic() - t0,
            )  # fmt: skip
        common = {
            "url": feed.url,
            "final_url": final.url,
            "status": final.status,
            "headers": final.headers,
            "fetched_at": fetched_at,
            "bytes_read": final.bytes_read,
        }
        error = status_error(
            feed.url, final.status, final.reason, final.headers, final.body or b"", final.sent_auth
        )
        if error is not None:
            return FetchResult(**common, error=error, elapsed_s=time.monotonic() - t0)  # type: ignore[arg-type]
        etag = final.headers.get("etag") or None
        last_modified = final.headers.get("last-modified") or None
        if final.status == 304:
            return FetchResult(
                **common,  # type: ignore[arg-type]
                not_modified=True,
                body_hash=feed.body_hash,
                etag=etag or feed.etag,
                last_modified=last_modified or feed.last_modified,
                permanent_redirect=final.permanent,
                elapsed_s=time.monotonic() - t0,
            )
        body = final.body or b""
        digest = body_hash(body)
        same = digest == feed.body_hash
        return FetchResult(
            **common,  # type: ignore[arg-type]
            body=None if same else body,
            body_hash=digest,
            not_modified=same,
            unchanged_body=same,
            etag=etag,
            last_modified=last_modified,
            permanent_redirect=final.permanent,
            elapsed_s=time.monotonic() - t0,
        )

    async def get_page(
        self, url: str, *, allow_private: bool, options: FeedOptions | None = None
    ) -> bytes:
        """A plain GET of an article page (full-text extraction) with the same guards, caps
        and politeness, through the feed's proxy with its User-Agent (its credentials,
        headers and cookies are the feed's own: not sent). Raises a FeedError subclass
        naming `url`."""
        opts = options or FeedOptions()
        ask = _Ask(
            accept=PAGE_ACCEPT,
            allow_private=allow_private or self.settings.allow_private_networks,
            proxy=opts.proxy or self.settings.proxy or None,
            user_agent=opts.user_agent,
        )
        final = await self._get(url, ask, {})
        error = status_error(url, final.status, final.reason, final.headers, final.body or b"")
        if error is not None:
            raise error
        if final.status == 304:
            raise HTTPStatusError(url, 304, "HTTP 304 to an unconditional request")
        return final.body or b""

    async def post_form(
        self, url: str, form: dict[str, str], *, allow_private: bool, options: FeedOptions
    ) -> tuple[int, str]:
        """POST `form` (urlencoded) to `url` -- a WebSub hub -- under the same address
        guard, proxy and timeouts as a fetch; redirects are not followed. Returns (status,
        the first line of the answer's text); raises a FetchError subclass naming `url`."""
        ask = _Ask.of("*/*", options, allow_private or self.settings.allow_private_networks,
                      self.settings.proxy)  # fmt: skip
        try:
            dest = httpx.URL(url)
        except (httpx.InvalidURL, ValueError) as exc:
            raise FetchError(url, f"invalid URL: {exc}") from None
        if dest.scheme not in ("http", "https") or not dest.host:
            raise FetchError(url, "not an http(s) URL with a host")
        request = self._client.build_request(
            "POST", dest, data=form,
            headers=[("User-Agent", ask.user_agent)] if ask.user_agent else None,
            extensions={ALLOW_PRIVATE: ask.allow_private, PROXY: ask.proxy},
        )  # fmt: skip
        try:
            async with asyncio.timeout(self.settings.total_timeout_s):
                resp = await self._client.send(request, stream=True)
                try:
                    hdrs = _headers(resp.headers.raw)
                    body, _ = await self._read(resp, hdrs, url, sniff_only=True)
                finally:
                    await resp.aclose()
        except TimeoutError:
            why = f"no answer within {self.settings.total_timeout_s:g} s (total timeout)"
            raise TimeoutError_(url, why) from None
        except AddressBlockedError as exc:
            raise BlockedAddressError(
                url, f"{exc} (allow_private_network for the feed permits it)"
            ) from None
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            raise NetworkError(url, f"{dest.host}: {in_words(exc)}") from None
        lines = body.decode("utf-8", "replace").strip().splitlines()
        return resp.status_code, (lines[0][:200] if lines else resp.reason_phrase)

    def idle_connections(self) -> int:
        """Kept-alive connections waiting for a next request."""
        return self.transport.idle_connections()

    # ------------------------------------------------------------------ one chain

    async def _get(self, url: str, ask: _Ask, conditional: dict[str, str]) -> _Final:
        budget = self.settings.total_timeout_s
        seen = [url]
        permanent: str | None = None
        all_permanent = True
        current = url
        first: httpx.URL | None = None
        while True:
            try:
                dest = httpx.URL(current)
            except (httpx.InvalidURL, ValueError) as exc:
                why = f"invalid URL {mask_url(current)!r}: {exc}"
                raise (FetchError if current == url else RedirectError)(url, why) from None
            if dest.scheme not in ("http", "https") or not dest.host:
                if current == url:
                    raise FetchError(url, "not an http(s) URL with a host")
                raise RedirectError(url, f"redirected to an unfetchable URL {mask_url(current)!r}")
            first = first or dest
            own = _same_host(first, dest)
            t_hop = time.monotonic()
            async with self._gate.slot(dest.host) as waited:
                try:
                    async with asyncio.timeout(budget):
                        hop = await self._hop(dest, ask, conditional, own, url)
                except TimeoutError:
                    raise TimeoutError_(
                        url,
                        f"no complete response within {self.settings.total_timeout_s:g} s"
                        " (total timeout)",
                    ) from None
            status, reason, hdrs, body, nread, location = hop
            budget -= time.monotonic() - t_hop - waited
            if status not in _REDIRECTS or location is None:
                sent_auth = own and (ask.auth is not None or bool(dest.userinfo))
                return _Final(current, status, reason, hdrs, body, permanent, nread, sent_auth)
            try:
                nxt = urljoin(current, location)
            except ValueError:
                raise RedirectError(
                    url, f"redirected to an invalid URL {mask_url(location)!r}"
                ) from None
            if urlsplit(nxt).scheme.lower() not in ("http", "https"):
                raise RedirectError(url, f"redirected to an unfetchable URL {mask_url(location)!r}")
            if nxt in seen:
                chain = " -> ".join(mask_url(u) for u in [*seen[seen.index(nxt) :], nxt])
                raise RedirectError(url, f"redirect loop: {chain}")
            if len(seen) > self.settings.max_redirects:
                raise RedirectError(
                    url,
                    f"more than {self.settings.max_redirects} redirects (last to {mask_url(nxt)})",
                )
            if status in _PERMANENT and all_permanent:
                permanent = nxt
            else:
                all_permanent = False
            seen.append(nxt)
            current = nxt

    async def _hop(
        self,
        dest: httpx.URL,
        ask: _Ask,
        conditional: dict[str, str],
        own: bool,
        url: str,
    ) -> tuple[int, str, dict[str, str], bytes | None, int, str | None]:
        """One request. Returns (status, reason, headers, body, wire bytes, Location)."""
        s = self.settings
        headers = [("Accept", ask.accept)]
        if ask.user_agent:
            headers.append(("User-Agent", ask.user_agent))
        if own:
            headers.extend(ask.headers)
        headers.extend(conditional.items())
        request = self._client.build_request(
            "GET",
            dest,
            headers=headers,
            extensions={ALLOW_PRIVATE: ask.allow_private, PROXY: ask.proxy},
        )
        host = dest.netloc.decode("ascii", "replace").rpartition("@")[2]
        try:
            resp = await self._client.send(request, auth=ask.auth if own else None, stream=True)
            try:
                hdrs = _headers(resp.headers.raw)
                status = resp.status_code
                reason = resp.reason_phrase
                if status in _REDIRECTS and "location" in hdrs:
                    await _drain(resp)
                    return status, reason, hdrs, None, 0, hdrs["location"]
                if status == 304:
                    await _drain(resp)
                    return status, reason, hdrs, None, 0, None
                body, nread = await self._read(resp, hdrs, url, sniff_only=status >= 300)
                return status, reason, hdrs, body, nread, None
            finally:
                await resp.aclose()
        except AddressBlockedError as exc:
            raise BlockedAddressError(
                url,
                f"{exc} (allow_private_network for this feed, or allow_private_networks,"
                " permits it)",
            ) from None
        except httpx.ConnectTimeout:
            raise TimeoutError_(
                url, f"connect timeout ({s.connect_timeout_s:g} s) to {host}"
            ) from None
        except (httpx.ReadTimeout, httpx.WriteTimeout):
            raise TimeoutError_(
                url, f"read timeout: {host} sent nothing for {s.read_timeout_s:g} s"
            ) from None
        except httpx.ProxyError as exc:
            if str(exc).startswith("407"):
                raise CredentialsError(url, 407, PROXY_AUTH) from None
            raise NetworkError(url, f"proxy error on the way to {host}: {in_words(exc)}") from None
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            # in words, never a class name ("_NoAnswer from ...", issue #17)
            raise NetworkError(url, f"{host}: {in_words(exc)}") from None

    async def _read(
        self, resp: httpx.Response, hdrs: dict[str, str], url: str, sniff_only: bool
    ) -> tuple[bytes, int]:
        """Stream the body under both caps. Error pages: only the first 64 KiB, for sniffing."""
        s = self.settings
        wire_cap = SNIFF_BYTES if sniff_only else s.max_body_bytes
        out_cap = SNIFF_BYTES if sniff_only else s.max_decompressed_bytes
        declared = hdrs.get("content-length", "")
        if not sniff_only and declared.isdigit() and int(declared) > wire_cap:
            raise TooLargeError(
                url,
                f"response of {_mib(int(declared))} exceeds the {_mib(wire_cap)} size cap"
                " (Content-Length; not downloaded)",
            )
        encodings = [e.strip().lower() for e in hdrs.get("content-encoding", "").split(",")]
        try:
            decoder = Decoder([e for e in encodings if e], out_cap)
        except ValueError as exc:
            raise FetchError(url, str(exc)) from None
        parts: list[bytes] = []
        nread = 0
        try:
            async for chunk in resp.aiter_raw():  # as sent: decoded here, under the cap
                nread += len(chunk)
                if nread > wire_cap:
                    if sniff_only:
                        break
                    raise TooLargeError(
                        url,
                        f"response body exceeds the {_mib(wire_cap)} size cap"
                        f" (stopped reading at {_mib(nread)})",
                    )
                parts.append(decoder.feed(chunk))
        except OverCapError:
            if sniff_only:
                return b"".join(parts), nread
            raise TooLargeError(
                url,
                f"decompressed body exceeds the {_mib(out_cap)} cap"
                f" ({hdrs.get('content-encoding')} after {_mib(nread)} on the wire:"
                " a compression bomb?)",
            ) from None
        except (zlib.error, brotli.error) as exc:
            if sniff_only:
                return b"".join(parts), nread
            raise FetchError(
                url, f"could not decode the {hdrs.get('content-encoding')} body: {exc}"
            ) from None
        return b"".join(parts), nread
