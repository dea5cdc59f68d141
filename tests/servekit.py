"""For the `ingest serve` tests: a store filled by the real pipeline from loopback feeds, and
the application under uvicorn on a loopback port, in a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from feedserver import FeedServer
from samplefeeds import make_items, rss

from ingest.models import FeedOptions
from ingest.pipeline import run_once
from ingest.serve import create_app, store_opener
from ingest.settings import FeedSpec, load_settings
from storage import open_store

DEMO = Path(__file__).resolve().parents[1] / "config" / "demo"
LOCAL = FeedOptions(allow_private_network=True)


def backend(request: pytest.FixtureRequest, path: Path) -> Path | str:
    """Where a test's store goes on the backend `request.param` names: the SQLite file
    `path`, or the session's PostgreSQL database, emptied (tests/conftest.py `pg_server`;
    usable from module-scoped fixtures)."""
    if request.param == "sqlite":
        return path
    import pgdb

    url: str = request.getfixturevalue("pg_server")
    pgdb.empty(url)
    return url


def fill_store(
    db: Path | str, server: FeedServer, *, generated: int = 3, items: int = 6
) -> Path | str:
    """The demo's three outlets (one wire story carried by all three, tag "coast"), a few
    generated feeds (tag "generated"), a feed that answers 404; one pass of the pipeline.
    `db`: a SQLite file or a postgresql:// URL."""
    store = open_store(db)
    base = server.serve_dir(DEMO, "/demo/")
    for path in sorted(DEMO.iterdir()):
        store.add_feed(FeedSpec(url=base + path.name, tags=("coast",), options=LOCAL))
    for i in range(generated):
        url = server.route(
            f"/gen{i}.xml",
            body=rss(f"Generated {i}", f"https://gen{i}.example/", make_items(10 + i, items)),
        )
        store.add_feed(FeedSpec(url=url, tags=("generated",), options=LOCAL))
    store.add_feed(FeedSpec(url=server.url("/missing.xml"), options=LOCAL))
    settings = load_settings(environ={}, overrides={"db": str(db)}).replace(
        per_host_delay_s=0.0, per_host_concurrency=8, workers=1
    )
    asyncio.run(run_once(store, settings))
    store.close()
    return db


class LiveServer:
    """uvicorn serving `create_app(...)` on 127.0.0.1 (a port of its own) in a thread."""

    def __init__(
        self, db: Path | str, websub_at: Callable[[str], Any] | None = None, **app_options: Any
    ) -> None:
        """`websub_at(base_url)`: the app's WebSubConfig, made once the port is known."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        if websub_at is not None:
            app_options["websub"] = websub_at(self.base_url)
        app = create_app(store_opener(db), **app_options)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()
