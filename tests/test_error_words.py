"""Errors shown to operators say what happened in words, never with a Python class name
(issue #17: a feed's error read "_NoAnswer from 127.0.1.14: the server closed ...").

Every way a loopback server can fail a fetch is tried for real; each message is checked
for anything shaped like a class name (RemoteProtocolError, _NoAnswer, ConnectionResetError).
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest

from ingest.errors import in_words
from ingest.fetch import Fetcher
from ingest.models import Feed, FetchResult
from ingest.parse import parse
from ingest.settings import Settings

CLASS_NAME = re.compile(r"\b_?[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b|\b_[A-Z]\w+")


def behaving(reply: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback server that reads a request head and then does `reply(conn)`."""
    sock = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    head += chunk
                try:
                    reply(conn)
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    yield sock.getsockname()[1]
    sock.close()


def _close(conn: socket.socket) -> None:
    pass  # closes without a byte of answer


def _reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST


def _garbage(conn: socket.socket) -> None:
    conn.sendall(b"HELLO THERE\r\n\r\n")


def _short_body(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n<rss>")


def _continue_then_close(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")


def _bad_chunks(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n")


def _bad_header(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n")


def _reset_mid_body(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n<rss>")
    _reset(conn)


def fetch(port: int) -> FetchResult:
    async def go() -> FetchResult:
        settings = Settings(allow_private_networks=True, per_host_delay_s=0, read_timeout_s=5)
        async with Fetcher(settings) as f:
            return await f.fetch(Feed(url=f"http://127.0.0.1:{port}/feed.xml"))

    return asyncio.run(go())


@pytest.mark.parametrize(
    "reply",
    [
        _close,
        _reset,
        _garbage,
        _short_body,
        _continue_then_close,
        _bad_chunks,
        _bad_header,
        _reset_mid_body,
    ],
)
def test_no_fetch_error_names_a_python_class(reply: Callable[[socket.socket], None]) -> None:
    gen = behaving(reply)
    port = next(gen)
    try:
        result = fetch(port)
    finally:
        next(gen, None)
    assert result.error is not None
    message = str(result.error)
    assert message.startswith(f"http://127.0.0.1:{port}/feed.xml: 127.0.0.1"), message
    assert not CLASS_NAME.search(message), message


def test_a_refused_connection_is_said_in_words() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    result = fetch(port)  # nothing listens there any more
    assert result.error is not None
    assert not CLASS_NAME.search(str(result.error)), str(result.error)


class _NoAnswer(Exception):  # noqa: N818 - a private class like the one that leaked
    pass


class RemoteProtocolError(Exception):
    pass


class _Private(RemoteProtocolError):  # noqa: N818
    pass


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (_Private("the server closed the connection without answering"),
         "the server broke the HTTP protocol: the server closed the connection without answering"),
        (_NoAnswer(), "unexpected error"),
        (_NoAnswer("ConnectionResetError"), "unexpected error"),
        (ConnectionResetError(104, "Connection reset by peer"),
         "the connection was reset: Connection reset by peer"),
        (ValueError("bad value"), "unexpected error: bad value"),
    ],
)  # fmt: skip
def test_in_words_table(exc: BaseException, words: str) -> None:
    assert in_words(exc) == words
    assert not CLASS_NAME.search(in_words(exc))


def test_a_cause_with_an_errno_gives_its_words() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as inner:
            raise RemoteProtocolError("ConnectError") from inner
    except RemoteProtocolError as exc:
        assert in_words(exc) == "the server broke the HTTP protocol: Connection refused"


def test_a_parser_crash_is_said_without_its_class(monkeypatch: pytest.MonkeyPatch) -> None:
    """The feedparser path turns an unexpected exception into a ParseError in words."""
    import ingest.parse._fallback as parse_module

    def boom(*_a: object, **_k: object) -> object:
        raise KeyError("entries")

    monkeypatch.setattr(parse_module.feedparser, "parse", boom)
    with pytest.raises(Exception) as err:
        parse(b"<rss version='2.0'><channel></channel></rss>", "https://x.example/f")
    assert str(err.value) == "https://x.example/f: parser failed (unexpected error: 'entries')"
