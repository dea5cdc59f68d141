"""The fetcher's HTTP/1.1 exchanges (httpx over ingest/transport.py) against a raw loopback
socket that answers with exact, hand-written bytes: chunked bodies, 1xx answers, broken
servers, and connections kept alive or not."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

import pytest
from feedserver import FeedServer

from ingest.errors import NetworkError
from ingest.fetch import Fetcher
from ingest.models import Feed, FeedOptions, FetchResult
from ingest.settings import Settings

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


class _Loopback:
    """A listening socket on 127.0.0.1 whose connections, accepted on a thread of their
    own, go to `_connection` one at a time; `close` stops it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._connection(conn)

    def _connection(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()


class RawServer(_Loopback):
    """Accepts connections on 127.0.0.1, reads the request head, sends `reply`, closes."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        super().__init__()

    def _connection(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                head += chunk
            self.requests.append(head)
            conn.sendall(self.reply)


_S = TypeVar("_S", "RawServer", "KeepAliveServer")


def _closed_after(cls: type[_S]) -> Iterator[type[_S]]:
    """`cls` for a test to start servers with; every one started is closed afterwards."""
    servers: list[_S] = []

    class Tracked(cls):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            servers.append(self)

    yield Tracked
    for s in servers:
        s.close()


@pytest.fixture
def raw() -> Iterator[type[RawServer]]:
    yield from _closed_after(RawServer)


def _fetch(port: int) -> FetchResult:
    async def go() -> FetchResult:
        settings = Settings(allow_private_networks=True, per_host_delay_s=0, read_timeout_s=5)
        async with Fetcher(settings) as f:
            return await f.fetch(Feed(url=f"http://127.0.0.1:{port}/feed.xml"))

    return asyncio.run(go())


def test_chunked_body_is_assembled(raw: type[RawServer]) -> None:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (RSS[:30], RSS[30:])) + b"0\r\n\r\n"
    server = raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    r = _fetch(server.port)
    assert r.error is None and r.status == 200 and r.body == RSS


def test_request_is_one_get_on_a_persistent_connection(raw: type[RawServer]) -> None:
    server = raw(b"HTTP/1.1 304 Not Modified\r\n\r\n")
    r = _fetch(server.port)
    assert r.status == 304 and r.not_modified
    (head,) = server.requests
    lines = head.decode().split("\r\n")
    assert lines[0] == "GET /feed.xml HTTP/1.1"
    headers = {k.lower(): v for k, v in (ln.split(": ", 1) for ln in lines[1:] if ln)}
    assert headers["host"] == f"127.0.0.1:{server.port}"
    # HTTP/1.1 connections persist by default: no "Connection: close"
    assert "connection" not in headers and "gzip" in headers["accept-encoding"]


def test_informational_answer_before_the_real_one(raw: type[RawServer]) -> None:
    server = raw(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(RSS), RSS)
    )
    r = _fetch(server.port)
    assert r.error is None and r.status == 200 and r.body == RSS


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (b"", "closed the connection without answering"),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "the server broke the HTTP protocol"),  # not HTTP at all
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + RSS,
            "the server broke the HTTP protocol",
        ),
        (
            b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 200_000 + b"\r\n\r\n",
            "the server broke the HTTP protocol",
        ),
    ],
    ids=["no answer", "not http", "truncated body", "huge head"],
)
def test_broken_answers_are_named_network_errors(
    raw: type[RawServer], reply: bytes, why: str
) -> None:
    server = raw(reply)
    r = _fetch(server.port)
    assert isinstance(r.error, NetworkError), r
    assert why in str(r.error) and f"127.0.0.1:{server.port}/feed.xml" in str(r.error)


# --------------------------------------------------------------------------- request targets


def test_a_feed_url_with_spaces_and_accents_is_requested_encoded(
    feed_server: FeedServer,
) -> None:
    """What reaches the server is the percent-encoded path (and the Host header)."""
    feed_server.route("/caf%C3%A9%20feed.xml", body=b"<rss/>")
    url = feed_server.url("/café feed.xml")

    async def go() -> FetchResult:
        async with Fetcher(Settings(allow_private_networks=True, per_host_delay_s=0)) as f:
            return await f.fetch(Feed(url=url))

    assert asyncio.run(go()).error is None
    got = feed_server.requests[-1]
    assert got.path == "/caf%C3%A9%20feed.xml"
    assert got.headers["host"] == feed_server.base_url.removeprefix("http://")


# --------------------------------------------------------------------------- kept-alive


class KeepAliveServer(_Loopback):
    """HTTP/1.1 on 127.0.0.1 that keeps each connection open for more requests and answers
    every one with `reply` (a list: the n-th request of a connection gets the n-th reply);
    with `drop_second`, it closes a connection without answering its second request (as a
    server does whose keep-alive timeout has just run out)."""

    def __init__(self, reply: bytes | list[bytes], *, drop_second: bool = False) -> None:
        self.reply = reply
        self.drop_second = drop_second
        self.requests: list[tuple[int, bytes]] = []  # (connection number, request head)
        self.connections = 0
        self.ended = threading.Event()  # set when a client closed a connection
        super().__init__()

    def _connection(self, conn: socket.socket) -> None:
        self.connections += 1
        threading.Thread(target=self._serve, args=(conn, self.connections), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        try:
            self._exchanges(conn, number)
        except OSError:  # the client closed in the middle of a reply (a body read in part)
            pass

    def _exchanges(self, conn: socket.socket, number: int) -> None:
        with conn:
            buf = b""
            answered = 0
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        self.ended.set()
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                self.requests.append((number, head))
                if self.drop_second and answered == 1:
                    return
                reply = self.reply
                conn.sendall(reply[answered] if isinstance(reply, list) else reply)
                answered += 1


@pytest.fixture
def keepalive() -> Iterator[type[KeepAliveServer]]:
    yield from _closed_after(KeepAliveServer)


def _ok(body: bytes = RSS, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def _fetch_all(
    urls: list[str],
    settings: Settings | None = None,
    options: list[FeedOptions] | None = None,
    pause: float = 0.0,
) -> tuple[list[FetchResult], int]:
    """Fetch `urls` one after the other (`pause` s apart) with one Fetcher: the results, and
    how many connections it still kept just before it closed."""
    settings = settings or Settings(allow_private_networks=True, per_host_delay_s=0)

    async def go() -> tuple[list[FetchResult], int]:
        async with Fetcher(settings) as f:
            out = []
            for i, url in enumerate(urls):
                opts = options[i] if options else FeedOptions()
                out.append(await f.fetch(Feed(url=url, options=opts)))
                await asyncio.sleep(pause)
            return out, f.idle_connections()

    return asyncio.run(go())


def test_connection_is_kept_for_the_next_feeds_of_the_host(
    keepalive: type[KeepAliveServer],
) -> None:
    server = keepalive(_ok())
    base = f"http://127.0.0.1:{server.port}"
    results, kept = _fetch_all([f"{base}/a.xml", f"{base}/b.xml", f"{base}/c.xml"])
    assert [r.body for r in results] == [RSS] * 3
    assert server.connections == 1 and [n for n, _ in server.requests] == [1, 1, 1]
    assert kept == 1
    assert server.ended.wait(5)  # the Fetcher closed it on the way out


def test_unread_304_and_redirect_bodies_still_leave_the_connection_usable(
    keepalive: type[KeepAliveServer],
) -> None:
    # a 304 has no body; a redirect's short body arrives with its head and is never read
    server = keepalive(
        [
            b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
            b"HTTP/1.1 301 Moved\r\nLocation: /b.xml\r\nContent-Length: 5\r\n\r\nmoved",
            _ok(),
        ]
    )
    url = f"http://127.0.0.1:{server.port}/a.xml"
    (first, second), kept = _fetch_all([url, url])
    assert first.status == 304
    assert second.status == 200 and second.body == RSS  # after the 301, on the same connection
    assert server.connections == 1 and len(server.requests) == 3
    assert kept == 1


def test_kept_connection_the_server_closed_is_replaced_by_a_new_one(
    keepalive: type[KeepAliveServer],
) -> None:
    server = keepalive(_ok(), drop_second=True)
    base = f"http://127.0.0.1:{server.port}"
    results, _ = _fetch_all([f"{base}/a.xml", f"{base}/b.xml"])
    assert [(r.error, r.body) for r in results] == [(None, RSS), (None, RSS)]
    # the second GET went out on the kept connection, found it closed, and was sent again
    assert [n for n, _ in server.requests] == [1, 1, 2]


@pytest.mark.parametrize("pause", [0.0, 0.05])
def test_server_closing_after_each_answer_still_gets_every_request(
    raw: type[RawServer], pause: float
) -> None:
    # it answers, then closes without saying so: the kept connection is found closed before
    # it is used (its end of stream arrived during the pause) or when the GET on it gets no
    # answer (sent again on a new connection)
    server = raw(_ok())
    base = f"http://127.0.0.1:{server.port}"
    urls = [f"{base}/a.xml", f"{base}/b.xml", f"{base}/c.xml"]
    results, _ = _fetch_all(urls, pause=pause)
    assert [(r.error, r.body) for r in results] == [(None, RSS)] * 3
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (_ok(extra=b"Connection: close\r\n"), "the server asked to close"),
        (b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(RSS), RSS), "HTTP/1.0"),
        (_ok(b"<html>" + b"x" * 200_000), "an error page read only in part"),
    ],
)
def test_connection_is_not_kept_when_the_exchange_did_not_end_cleanly(
    keepalive: type[KeepAliveServer], reply: bytes, why: str
) -> None:
    if "error page" in why:
        reply = reply.replace(b"200 OK", b"404 Not Found")
    server = keepalive(reply)
    base = f"http://127.0.0.1:{server.port}"
    results, kept = _fetch_all([f"{base}/a.xml", f"{base}/b.xml"])
    assert all(r.status in (200, 404) for r in results), why
    assert server.connections == 2 and kept == 0, why


def test_connection_kept_for_a_private_network_feed_is_not_lent_to_another(
    keepalive: type[KeepAliveServer],
) -> None:
    """Per-feed address policy: a connection to 127.0.0.1 opened for a feed allowed to reach
    private networks must not carry a request of a feed that is not."""
    server = keepalive(_ok())
    base = f"http://127.0.0.1:{server.port}"
    settings = Settings(per_host_delay_s=0)  # private networks refused unless a feed allows
    (allowed, refused), _ = _fetch_all(
        [f"{base}/a.xml", f"{base}/b.xml"],
        settings,
        [FeedOptions(allow_private_network=True), FeedOptions()],
    )
    assert allowed.error is None and allowed.body == RSS
    assert refused.error is not None and refused.error.kind == "blocked_address"
    assert len(server.requests) == 1


def test_connections_of_hosts_not_asked_again_are_closed(
    keepalive: type[KeepAliveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kept connections are bounded by hosts: past MAX_POOLS hosts the least recently asked
    one's connections close (a long run over thousands of hosts holds a bounded number of
    sockets open)."""
    from ingest import transport

    monkeypatch.setattr(transport, "MAX_POOLS", 2)
    servers = [keepalive(_ok()) for _ in range(3)]
    settings = Settings(allow_private_networks=True, per_host_delay_s=0)

    async def go() -> tuple[bool, bool, int]:
        async with Fetcher(settings) as f:
            for s in servers:
                r = await f.fetch(Feed(url=f"http://127.0.0.1:{s.port}/a.xml"))
                assert r.body == RSS
            first = await asyncio.to_thread(servers[0].ended.wait, 5)
            return first, servers[1].ended.is_set(), f.idle_connections()

    # the first host's connection was closed when the third host came; the second's kept
    assert asyncio.run(go()) == (True, False, 2)


def test_many_new_hosts_at_once_while_old_pools_close(
    keepalive: type[KeepAliveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests to new hosts arriving together, each closing the pools of hosts not asked
    for a while (which pauses): every one gets its answer (two of them closing the same
    pool was a KeyError once)."""
    from ingest import transport

    monkeypatch.setattr(transport, "KEEPALIVE_S", 0.001)  # every other host's pool is stale
    real_close = transport.httpcore.AsyncConnectionPool.aclose

    async def slow_close(self: Any) -> None:  # as a TLS goodbye to a slow peer takes a while
        await asyncio.sleep(0.01)
        await real_close(self)

    monkeypatch.setattr(transport.httpcore.AsyncConnectionPool, "aclose", slow_close)
    servers = [keepalive(_ok()) for _ in range(8)]
    settings = Settings(allow_private_networks=True, per_host_delay_s=0)

    async def go() -> list[FetchResult]:
        async with Fetcher(settings) as f:
            out = []
            for _ in range(3):
                out += await asyncio.gather(
                    *(f.fetch(Feed(url=f"http://127.0.0.1:{s.port}/a.xml")) for s in servers)
                )
                await asyncio.sleep(0.01)
            return out

    results = asyncio.run(go())
    assert [(r.error, r.body) for r in results] == [(None, RSS)] * 24


def test_passes_given_the_same_fetcher_share_its_connections(
    keepalive: type[KeepAliveServer], tmp_path: Any
) -> None:
    """The daemon gives every pass its one Fetcher: the second pass asks on the connection
    the first one kept, and the Fetcher stays open after a pass."""
    from ingest.pipeline import run_once
    from ingest.settings import FeedSpec
    from storage import open_store

    server = keepalive(_ok())
    settings = Settings(allow_private_networks=True, per_host_delay_s=0)
    store = open_store(tmp_path / "t.db")
    store.add_feed(FeedSpec(url=f"http://127.0.0.1:{server.port}/a.xml"))

    async def go() -> int:
        async with Fetcher(settings) as f:
            for _ in range(2):
                await asyncio.sleep(0.01)
                report = await run_once(store, settings, force=True, fetcher=f)
                assert [o.error for o in report.outcomes] == [None]
            return f.idle_connections()

    try:
        assert asyncio.run(go()) == 1
    finally:
        store.close()
    assert server.connections == 1 and len(server.requests) == 2
