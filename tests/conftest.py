"""Shared pytest fixtures."""

from __future__ import annotations

# ------------------------------------------------------------------ feed server (fetch role)
from collections.abc import Callable, Iterator

import pytest
from feedserver import FeedServer  # tests/ is on sys.path (pytest rootdir conftest)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started FeedServer on 127.0.0.1 (random port); stopped after the test."""
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def feed_server_factory() -> Iterator[Callable[..., FeedServer]]:
    """Start more servers: `feed_server_factory(host="127.0.0.2")`. All stopped after the test."""
    servers: list[FeedServer] = []

    def make(host: str = "127.0.0.1", port: int = 0) -> FeedServer:
        server = FeedServer(host=host, port=port).start()
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


# ------------------------------------------------------------------ end feed server
