"""Fetch stage: one polite, guarded, capped HTTP GET per feed -> FetchResult.

    async with Fetcher(settings) as fetcher:
        result = await fetcher.fetch(feed)      # never raises for the feed's own problems

One request, step by step (each hop of a redirect chain repeats 1-4):

1. wait for the host's turn: at most `per_host_concurrency` requests in flight to one host and
   `per_host_delay_s` between two request starts (on by default; miniflux #2336);
2. connect through netguard.GuardedBackend: the host is resolved by us, internal addresses are
   refused, and the socket goes to exactly the address that was checked;
3. send a conditional GET (If-None-Match / If-Modified-Since) with a descriptive User-Agent,
   a feed Accept header and Accept-Encoding gzip, deflate, br;
4. redirects are followed here, not by httpx: 301/308 chains are reported as
   `permanent_redirect` (only when the chain ends in success), 302/303/307 are followed without
   being recorded, loops and chains longer than `max_redirects` are a RedirectError;
5. the body is streamed with a cap on the wire (`max_body_bytes`) and is decompressed by us
   with a cap on the output (`max_decompressed_bytes`), so gzip / deflate / brotli bombs stop at
   the cap without ever holding more than the cap in memory;
6. connect / read / write timeouts are enforced per socket operation (ingest/aionet.py); a total timeout per fetch (`total_timeout_s`, time
   spent waiting for the host's turn excluded) cuts off servers that trickle a byte a second;
7. the body's xxh3-128 hash is compared with the stored one: equal bytes are "not modified"
   whatever the validators said (servers sending `Expires: 0`, or a new ETag on every request).

Status mapping: 304 -> not_modified; 410 -> GoneError; 429 / 503 -> RateLimitedError with
Retry-After (seconds or HTTP date); a bot-protection challenge (403 + `cf-mitigated: challenge`,
or a known challenge page) -> BotWallError naming the wall; other >= 400 -> HTTPStatusError.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import brotli
import httpcore
import xxhash

from .errors import (
    BlockedAddressError,
    BotWallError,
    FeedError,
    FetchError,
    GoneError,
    HTTPStatusError,
    NetworkError,
    RateLimitedError,
    RedirectError,
    TimeoutError_,
    TooLargeError,
    in_words,
)
from .http11 import Pool, Response, Target, open_response, target
from .models import Feed, FetchResult
from .netguard import AddressBlockedError, GuardedBackend
from .settings import Settings

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
_SNIFF_BYTES = 64 * 1024  # how much of an error page is read to recognise a bot wall
_REDIRECTS = {301, 302, 303, 307, 308}
_PERMANENT = {301, 308}


def body_hash(body: bytes) -> str:
    """The hash stored as Feed.body_hash (xxh3-128, hex): fast, and 32 hex digits."""
    return xxhash.xxh3_128_hexdigest(body)


# --------------------------------------------------------------------------- pure helpers


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delay-seconds or an HTTP date. None when
    absent or unreadable; never negative."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


# (header name, predicate on its lower-cased value, wall name)
_WALL_HEADERS: tuple[tuple[str, Callable[[str], bool], str], ...] = (
    ("cf-mitigated", lambda v: "challenge" in v, "Cloudflare"),
    ("x-vercel-mitigated", lambda v: "challenge" in v, "Vercel"),
    ("x-amzn-waf-action", lambda v: v in ("challenge", "captcha"), "AWS WAF"),
    ("x-datadome", lambda v: True, "DataDome"),
    ("x-sucuri-block", lambda v: True, "Sucuri"),
    ("server", lambda v: v.startswith("ddos-guard"), "DDoS-Guard"),
)
# (marker in the first bytes of the page, lower-cased, wall name)
_WALL_MARKERS: tuple[tuple[bytes, str], ...] = (
    (b"cf-browser-verification", "Cloudflare"),
    (b"_cf_chl_opt", "Cloudflare"),
    (b"/cdn-cgi/challenge-platform/", "Cloudflare"),
    (b"<title>just a moment...</title>", "Cloudflare"),
    (b"<title>attention required! | cloudflare</title>", "Cloudflare"),
    (b"captcha-delivery.com", "DataDome"),
    (b"sucuri website firewall", "Sucuri"),
    (b"incapsula incident id", "Imperva Incapsula"),
    (b"_incapsula_resource", "Imperva Incapsula"),
    (b"px-captcha", "PerimeterX (HUMAN)"),
    (b"ddos-guard", "DDoS-Guard"),
    (b"awswafintegration", "AWS WAF"),
    (b"vercel security checkpoint", "Vercel"),
    (b"checking your browser before accessing", "a browser check"),
)


def detect_bot_wall(status: int, headers: Mapping[str, str], body_head: bytes) -> str | None:
    """The name of the bot-protection wall that answered, or None. `headers` lower-cased.

    A challenge comes as 403 / 429 / 503 (Cloudflare, DataDome, ...), 202 or 405 (AWS WAF),
    and occasionally as a 200 HTML page; a real feed never carries these markers."""
    for name, pred, wall in _WALL_HEADERS:
        value = headers.get(name)
        if value is not None and pred(value.lower()) and (status >= 400 or status == 202):
            return wall
    if status < 400 and status != 202:
        ctype = headers.get("content-type", "")
        if "html" not in ctype:
            return None
    head = body_head[:_SNIFF_BYTES].lower()
    for marker, wall in _WALL_MARKERS:
        if marker in head:
            return wall
    return None


def _status_error(url: str, status: int, reason: str, headers: Mapping[str, str],
                  body_head: bytes) -> FeedError | None:  # fmt: skip
    """The error a final response stands for (None for success / 304)."""
    retry = parse_retry_after(headers.get("retry-after"))
    wall = detect_bot_wall(status, headers, body_head)
    if wall is not None:
        return BotWallError(
            url, status, f"HTTP {status}: blocked by a {wall} bot challenge", retry_after_s=retry
        )
    if status < 300 or status == 304:
        return None
    if status == 410:
        return GoneError(url, status, "HTTP 410 Gone: the server says the feed was removed")
    if status in (429, 503):
        hint = f", Retry-After {retry:.0f} s" if retry is not None else ""
        what = "Too Many Requests" if status == 429 else "Service Unavailable"
        return RateLimitedError(url, status, f"HTTP {status} {what}{hint}", retry_after_s=retry)
    phrase = f" {reason}" if reason else ""
    return HTTPStatusError(url, status, f"HTTP {status}{phrase}", retry_after_s=retry)


# --------------------------------------------------------------------------- decoding


class _TooBigError(Exception):
    pass


class _Decoder:
    """Content-Encoding decoder with an output cap, fed raw chunks as they arrive."""

    def __init__(self, encodings: list[str], limit: int) -> None:
        self.limit = limit
        self.total = 0
        self._stages: list[Callable[[bytes, int], bytes]] = []
        # Content-Encoding lists codings in the order applied: undo them in reverse
        for enc in reversed(encodings):
            if enc in ("gzip", "x-gzip"):
                self._stages.append(_ZlibStage(47).feed)  # 32 + 15: gzip or zlib header
            elif enc == "deflate":
                self._stages.append(_ZlibStage(15, fallback_raw=True).feed)
            elif enc == "br":
                self._stages.append(_BrotliStage().feed)
            elif enc in ("identity", ""):
                continue
            else:
                raise ValueError(f"unsupported Content-Encoding {enc!r}")

    def feed(self, chunk: bytes) -> bytes:
        for stage in self._stages:
            chunk = stage(chunk, self.limit - self.total)
        self.total += len(chunk)
        if self.total > self.limit:
            raise _TooBigError
        return chunk


class _ZlibStage:
    def __init__(self, wbits: int, fallback_raw: bool = False) -> None:
        self.wbits = wbits
        self.fallback_raw = fallback_raw
        self.started = False
        self.d = zlib.decompressobj(wbits)

    def feed(self, data: bytes, room: int) -> bytes:
        out: list[bytes] = []
        produced = 0
        while data:
            try:
                piece = self.d.decompress(data, max(1, room - produced + 1))
            except zlib.error:
                if self.fallback_raw and not self.started:  # "deflate" sent without zlib header
                    self.d = zlib.decompressobj(-15)
                    self.fallback_raw = False
                    continue
                raise
            self.started = True
            produced += len(piece)
            out.append(piece)
            if produced > room:
                raise _TooBigError
            if self.d.eof:
                rest = self.d.unused_data
                if rest[:2] == b"\x1f\x8b":  # another gzip member follows
                    self.d = zlib.decompressobj(self.wbits)
                    data = rest
                    continue
                break  # trailing garbage after the stream: ignored, as browsers do
            data = self.d.unconsumed_tail
        return b"".join(out)


class _BrotliStage:
    def __init__(self) -> None:
        self.d = brotli.Decompressor()

    def feed(self, data: bytes, room: int) -> bytes:
        limit = max(1, room + 1)
        out = [self.d.process(data, output_buffer_limit=limit)]
        produced = len(out[0])
        while produced <= room and not self.d.is_finished() and not self.d.can_accept_more_data():
            piece = self.d.process(b"", output_buffer_limit=limit)
            if not piece:
                break
            out.append(piece)
            produced += len(piece)
        if produced > room:
            raise _TooBigError
        return b"".join(out)


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
def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process. Its CA bundle is loaded by `_load_cas` before
    the first handshake, so a run that meets only plain-http feeds never pays for it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


_cas_loaded = False


def _load_cas(ctx: ssl.SSLContext) -> None:
    """Load the CA bundle (certifi's, as httpx does) into `ctx` once: ~15 ms."""
    global _cas_loaded
    if not _cas_loaded and ctx is _ssl_context():
        import certifi

        ctx.load_verify_locations(cafile=certifi.where())
        _cas_loaded = True


def _backend(allow_private: bool) -> GuardedBackend:
    """netguard's address checks over plain asyncio streams (see ingest/aionet.py), with the
    CA bundle loaded before the first TLS handshake."""
    from .aionet import AsyncioBackend

    return GuardedBackend(allow_private=allow_private, inner=AsyncioBackend(on_tls=_load_cas))


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


class Fetcher:
    """Owns the network backends (one guarded backend; a second one, created on first use,
    for feeds allowed to reach private networks), the per-host politeness gate and the
    kept-alive connections (ingest/http11.py), closed by `aclose`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._backends: dict[bool, GuardedBackend] = {}
        self._gate = _HostGate(settings.per_host_concurrency, settings.per_host_delay_s)
        # kept-alive connections: as many a host as may be in flight to it
        self._pool = Pool(settings.per_host_concurrency)
        self._timeouts = {
            "connect": settings.connect_timeout_s,
            "read": settings.read_timeout_s,
            "write": settings.read_timeout_s,
        }
        self._base_headers = [
            (b"User-Agent", settings.user_agent.encode("latin-1", "replace")),
            (b"Accept-Encoding", ACCEPT_ENCODING.encode()),
        ]

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
        await self._pool.aclose()
        self._backends = {}

    def _backend(self, allow_private: bool) -> GuardedBackend:
        allow = allow_private or self.settings.allow_private_networks
        backend = self._backends.get(allow)
        if backend is None:
            backend = self._backends[allow] = _backend(allow)
        return backend

    # ------------------------------------------------------------------ public

    async def fetch(self, feed: Feed) -> FetchResult:
        """Fetch one feed. Every problem of the feed's own ends up in `result.error`."""
        t0 = time.monotonic()
        fetched_at = datetime.now(UTC)
        headers = {"Accept": FEED_ACCEPT}
        if feed.etag:
            headers["If-None-Match"] = feed.etag
        if feed.last_modified:
            headers["If-Modified-Since"] = feed.last_modified
        try:
            final = await self._get(feed.url, headers, feed.options.allow_private_network)
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
        error = _status_error(
            feed.url, final.status, final.reason, final.headers, final.body or b""
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

    async def get_page(self, url: str, *, allow_private: bool) -> bytes:
        """A plain GET of an article page (full-text extraction) with the same guards, caps
        and politeness. Raises a FeedError subclass naming `url`."""
        final = await self._get(url, {"Accept": PAGE_ACCEPT}, allow_private)
        error = _status_error(url, final.status, final.reason, final.headers, final.body or b"")
        if error is not None:
            raise error
        if final.status == 304:
            raise HTTPStatusError(url, 304, "HTTP 304 to an unconditional request")
        return final.body or b""

    # ------------------------------------------------------------------ one chain

    async def _get(self, url: str, headers: dict[str, str], allow_private: bool) -> _Final:
        backend = self._backend(allow_private)
        budget = self.settings.total_timeout_s
        seen = [url]
        permanent: str | None = None
        all_permanent = True
        current = url
        while True:
            try:
                dest = target(current)
            except ValueError as exc:
                why = f"invalid URL {current!r}: {exc}"
                raise (FetchError if current == url else RedirectError)(url, why) from None
            if dest.scheme not in ("http", "https"):
                if current == url:
                    raise FetchError(url, "not an http(s) URL with a host")
                raise RedirectError(url, f"redirected to an unfetchable URL {current!r}")
            t_hop = time.monotonic()
            async with self._gate.slot(dest.host) as waited:
                try:
                    async with asyncio.timeout(budget):
                        status, reason, hdrs, body, nread, location = await self._hop(
                            backend, dest, headers, url
                        )
                except TimeoutError:
                    raise TimeoutError_(
                        url,
                        f"no complete response within {self.settings.total_timeout_s:g} s"
                        " (total timeout)",
                    ) from None
            budget -= time.monotonic() - t_hop - waited
            if status not in _REDIRECTS or location is None:
                return _Final(current, status, reason, hdrs, body, permanent, nread)
            try:
                nxt = urljoin(current, location)
            except ValueError:
                raise RedirectError(url, f"redirected to an invalid URL {location!r}") from None
            if urlsplit(nxt).scheme.lower() not in ("http", "https"):
                raise RedirectError(url, f"redirected to an unfetchable URL {location!r}")
            if nxt in seen:
                chain = " -> ".join([*seen[seen.index(nxt) :], nxt])
                raise RedirectError(url, f"redirect loop: {chain}")
            if len(seen) > self.settings.max_redirects:
                raise RedirectError(
                    url, f"more than {self.settings.max_redirects} redirects (last to {nxt})"
                )
            if status in _PERMANENT and all_permanent:
                permanent = nxt
            else:
                all_permanent = False
            seen.append(nxt)
            current = nxt

    async def _hop(
        self,
        backend: GuardedBackend,
        dest: Target,
        headers: dict[str, str],
        url: str,
    ) -> tuple[int, str, dict[str, str], bytes | None, int, str | None]:
        """One request. Returns (status, reason, headers, body, wire bytes, Location)."""
        s = self.settings
        try:
            resp = await open_response(
                backend,
                scheme=dest.scheme,
                host=dest.host,
                port=dest.port,
                target=dest.path,
                headers=[
                    (b"Host", dest.netloc),  # host[:port], IDNA-encoded
                    *self._base_headers,
                    *((k.encode(), v.encode("latin-1", "replace")) for k, v in headers.items()),
                ],
                timeouts=self._timeouts,
                ssl_context=_ssl_context(),
                pool=self._pool,
            )
            try:
                hdrs = _headers(resp.headers)
                status = resp.status
                reason = resp.reason
                if status in _REDIRECTS and "location" in hdrs:
                    return status, reason, hdrs, None, 0, hdrs["location"]
                if status == 304:
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
        except httpcore.ConnectTimeout:
            raise TimeoutError_(
                url, f"connect timeout ({s.connect_timeout_s:g} s) to {dest.host}"
            ) from None
        except (httpcore.ReadTimeout, httpcore.WriteTimeout):
            raise TimeoutError_(
                url, f"read timeout: {dest.host} sent nothing for {s.read_timeout_s:g} s"
            ) from None
        except (
            httpcore.NetworkError,
            httpcore.ProtocolError,
            httpcore.UnsupportedProtocol,
            httpcore.ProxyError,
        ) as exc:
            raise NetworkError(url, f"{dest.host}: {in_words(exc)}") from None

    async def _read(
        self, resp: Response, hdrs: dict[str, str], url: str, sniff_only: bool
    ) -> tuple[bytes, int]:
        """Stream the body under both caps. Error pages: only the first 64 KiB, for sniffing."""
        s = self.settings
        wire_cap = _SNIFF_BYTES if sniff_only else s.max_body_bytes
        out_cap = _SNIFF_BYTES if sniff_only else s.max_decompressed_bytes
        declared = hdrs.get("content-length", "")
        if not sniff_only and declared.isdigit() and int(declared) > wire_cap:
            raise TooLargeError(
                url,
                f"response of {_mib(int(declared))} exceeds the {_mib(wire_cap)} size cap"
                " (Content-Length; not downloaded)",
            )
        encodings = [e.strip().lower() for e in hdrs.get("content-encoding", "").split(",")]
        try:
            decoder = _Decoder([e for e in encodings if e], out_cap)
        except ValueError as exc:
            raise FetchError(url, str(exc)) from None
        parts: list[bytes] = []
        nread = 0
        try:
            async for chunk in resp.aiter_stream():
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
        except _TooBigError:
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
