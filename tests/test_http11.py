"""The fetcher's HTTP/1.1 exchange against a raw loopback socket that answers with exact,
hand-written bytes: chunked bodies, 1xx answers, and broken servers."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
from feedserver import FeedServer

from ingest.errors import NetworkError
from ingest.fetch import Fetcher
from ingest.http11 import target
from ingest.models import Feed, FetchResult
from ingest.settings import Settings

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


class RawServer:
    """Accepts connections on 127.0.0.1, reads the request head, sends `reply`, closes."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    head += chunk
                self.requests.append(head)
                conn.sendall(self.reply)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw() -> Iterator[type[RawServer]]:
    servers: list[RawServer] = []

    class Tracked(RawServer):
        def __init__(self, reply: bytes) -> None:
            super().__init__(reply)
            servers.append(self)

    yield Tracked
    for s in servers:
        s.close()


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


def test_request_is_one_get_that_closes_its_connection(raw: type[RawServer]) -> None:
    server = raw(b"HTTP/1.1 304 Not Modified\r\n\r\n")
    r = _fetch(server.port)
    assert r.status == 304 and r.not_modified
    (head,) = server.requests
    lines = head.decode().split("\r\n")
    assert lines[0] == "GET /feed.xml HTTP/1.1"
    headers = {k.lower(): v for k, v in (ln.split(": ", 1) for ln in lines[1:] if ln)}
    assert headers["host"] == f"127.0.0.1:{server.port}"
    assert headers["connection"] == "close" and "gzip" in headers["accept-encoding"]


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
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "RemoteProtocolError"),  # not HTTP at all
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + RSS, "RemoteProtocolError"),
        (b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 200_000 + b"\r\n\r\n", "RemoteProtocolError"),
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

AS_HTTPX = [
    "http://127.1.0.3:18080/feeds/1.xml",
    "http://A.Example:80/a b?q=1 2#fragment",
    "https://bücher.example/ä?x=ü",
    "http://[::1]:8080/x",
    "http://[2001:DB8::1]/feed",
    "http://a.example",
    "http://a.example?",
    "http://a.example/%7e%20{}",
    "http://a.example/path/?a=1&b=%2F",
    "http://a.example:8080",
    "http://user:secret@a.example/feed",
    "https://news.example/rss?category=world&lang=en",
    "http://a.example/caf%C3%A9/é",
]


@pytest.mark.parametrize("url", AS_HTTPX)
def test_request_target_is_what_httpx_sent(url: str) -> None:
    """`target` replaced httpx.URL in the fetcher: same host, port, request target and
    Host header for the URLs feeds use."""
    import httpx

    ours, ref = target(url), httpx.URL(url)
    assert ours.scheme == ref.scheme
    assert ours.host == ref.raw_host.decode("ascii").lower()  # host names ignore case
    assert ours.port == (ref.port or {"http": 80, "https": 443}[ref.scheme])
    assert ours.path == ref.raw_path
    assert ours.netloc == ref.netloc.lower()


def test_request_target_leaves_out_the_default_port() -> None:
    assert target("https://a.example:443/p").netloc == b"a.example"
    assert target("http://a.example:443/p").netloc == b"a.example:443"
    assert target("HTTP://A.EXAMPLE/").scheme == "http"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http:///nohost", "no host"),
        ("http://exa mple.example/", "invalid host"),
        ("http://a.example:99999/", "invalid port"),
        ("http://a.example:x/", "invalid port"),
        ("http://a.example:0/", "invalid port"),
        ("http://[::1", "IPv6"),
        ("http://[fe80::zz]/", "IPv6"),
        ("http://bad\u3002\u3002host.example/", "invalid international host"),
    ],
)
def test_request_target_refuses_what_no_server_could_be(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        target(url)


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
