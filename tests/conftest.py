"""Shared pytest fixtures."""

from __future__ import annotations

# ------------------------------------------------------------------ feed server (fetch role)
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from feedserver import FeedServer  # tests/ is on sys.path (pytest rootdir conftest)

if TYPE_CHECKING:
    from storage import Store


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


# ------------------------------------------------------------------ PostgreSQL


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The URL of a fresh database for this test session (dropped after); skipped with the
    reason when the server is unreachable."""
    import os

    import pgdb

    why = pgdb.unreachable()
    if why:
        pytest.skip(why)
    name = f"ingest_test_{os.getpid()}"
    url = pgdb.create(name)
    try:
        yield url
    finally:
        pgdb.drop(name)


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """The session's database, emptied for this test."""
    import pgdb

    pgdb.empty(pg_server)
    return pg_server


@pytest.fixture(params=["sqlite", "postgres"])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A new store with no feeds, on each backend in turn (the contract holds on both)."""
    from storage import open_store

    if request.param == "sqlite":
        target: str | Path = tmp_path / "t.db"
    else:
        target = request.getfixturevalue("pg_url")
    store = open_store(target)
    try:
        yield store
    finally:
        store.close()
