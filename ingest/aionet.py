"""An httpcore network backend on plain asyncio streams.

httpcore (httpx's transport) reaches the network through a backend; under asyncio it picks
anyio's, whose cancel scopes and task-group bookkeeping cost ~0.1 ms per request -- as much
as a whole 304 answer costs the rest of the pipeline.  The fetcher only ever runs under
asyncio, so this backend talks to asyncio directly, behind httpcore's backend interface.
netguard.GuardedBackend sits on top of it (address checks), and ingest.http11 (h11, with
kept-alive connections) on top of that.

Errors are httpcore's, as every backend raises them: ConnectTimeout / ConnectError while
connecting or during the TLS handshake, ReadTimeout / ReadError, WriteTimeout / WriteError.

`on_tls`: called with the SSL context before the first TLS handshake of the process (the
fetcher loads its CA bundle there, so a run that only meets plain-http feeds never pays
the ~15 ms it costs).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterable
from typing import Any

import httpcore

__all__ = ["AsyncioBackend", "AsyncioStream"]


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection: an asyncio StreamReader / StreamWriter pair. ingest.http11 keeps it
    between exchanges while `reusable()` says so."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_tls: Callable[[ssl.SSLContext], None] | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_tls = on_tls

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout(f"nothing received for {timeout} s") from None
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout(f"could not send for {timeout} s") from None
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    def reusable(self) -> bool:
        """Still open both ways, and nothing received that was not asked for (asyncio reads
        as data arrives, so a server's close or a stray byte is in the reader already)."""
        reader = self._reader
        return (
            not self._writer.is_closing()
            and not reader.at_eof()
            and reader.exception() is None
            and not reader._buffer  # type: ignore[attr-defined]  # (no public API for it)
        )

    def abort(self) -> None:
        """Drop the connection at once (one the server closed, or idle too long)."""
        self._writer.transport.abort()

    async def aclose(self) -> None:
        writer = self._writer
        if not writer.is_closing():
            writer.close()
        try:  # a closing TLS connection may still want to say goodbye; never wait long
            async with asyncio.timeout(0.25):
                await writer.wait_closed()
        except (TimeoutError, OSError, ssl.SSLError):
            writer.transport.abort()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self._on_tls is not None:
            self._on_tls(ssl_context)
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"TLS handshake took over {timeout} s") from None
        except (OSError, ssl.SSLError) as exc:  # ssl.SSLError is an OSError; said for clarity
            self._writer.transport.abort()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        writer = self._writer
        if info == "ssl_object":
            return writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return writer.get_extra_info("sockname")
        if info == "server_addr":
            return writer.get_extra_info("peername")
        if info == "socket":
            return writer.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens AsyncioStreams (TCP only: the fetcher never uses unix sockets)."""

    def __init__(self, on_tls: Callable[[ssl.SSLContext], None] | None = None) -> None:
        self._on_tls = on_tls

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"no connection to {host} within {timeout} s") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = writer.get_extra_info("socket")
        if sock is not None:
            for option in socket_options or ():
                sock.setsockopt(*option)
        return AsyncioStream(reader, writer, self._on_tls)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used by the fetcher")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
