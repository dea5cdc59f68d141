"""`make demo`: the whole pipe offline.

Serves the sample feeds in config/demo/ (three made-up outlets carrying overlapping stories,
written for this project) on 127.0.0.1, ingests them into data/demo.db, prints what was stored
— one wire story, carried by three outlets, stored as one story with all its sources — and
stops the server.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .logs import setup_logging
from .models import FeedOptions
from .pipeline import run_once
from .settings import FeedSpec, load_settings

__all__ = ["main"]

DEMO_DIR = Path(__file__).resolve().parent.parent / "config" / "demo"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main(db: Path = Path("data/demo.db")) -> int:
    from storage.sqlite import SQLiteStore

    setup_logging("text", "WARNING")
    handler = functools.partial(_QuietHandler, directory=str(DEMO_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        settings = load_settings(environ={}, overrides={"db": str(db)}).replace(
            per_host_delay_s=0.0
        )
        store = SQLiteStore(settings.db)
        local = FeedOptions(allow_private_network=True)  # the demo's feeds live on loopback
        for name in sorted(p.name for p in DEMO_DIR.iterdir()):
            store.add_feed(FeedSpec(url=f"{base}/{name}", options=local))
        print(f"serving {len(list(DEMO_DIR.iterdir()))} sample feeds on {base}")
        report = asyncio.run(run_once(store, settings))
        print(
            f"fetched {len(report.outcomes)} feeds: {report.new} new articles, "
            f"{len(report.failed)} failed"
        )
        for o in report.failed:
            print(f"  failed {o.url}: {o.error}")
        stats = store.stats()
        print(
            f"stored {stats.articles} articles from {stats.sources} feed items "
            f"in {stats.stories} stories"
        )
        print("\nstories carried by more than one source:")
        for story in store.stories(min_sources=2):
            print(f"  story {story.story_id}: {story.title}")
            for src in story.sources:
                how = src.level if src.level != "self" else "first seen"
                print(f"    - {src.outlet or '?':<16} {how or '?':<10} {src.url}")
        again = asyncio.run(run_once(store, settings, force=True))
        print(
            f"\nsecond pass right after: {again.new} new articles "
            f"({sum(o.outcome == 'not_modified' for o in again.outcomes)} feeds answered 304)"
        )
        print(f"\nexplore: ingest --db {db} articles list | stories list | stats")
        store.close()
        return 1 if report.failed else 0
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    raise SystemExit(main())
