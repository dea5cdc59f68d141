"""Paging /api/articles by since_id while `ingest run` (another process) writes: every
article exactly once, none skipped, none twice."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from feedserver import FeedServer
from samplefeeds import make_items, rss
from servekit import LOCAL, LiveServer, backend

from ingest.settings import FeedSpec
from storage import open_store

N_FEEDS, N_ITEMS = 40, 12


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A SQLite file, then a PostgreSQL database (whose writers take article ids under a
    lock held to commit, so that a cursor never passes an id committed later)."""
    return backend(request, tmp_path / "ingest.db")


@pytest.mark.slow
def test_paging_while_a_run_writes_sees_every_article_once(
    db: Path | str, tmp_path: Path, feed_server: FeedServer
) -> None:
    store = open_store(db)
    for f in range(N_FEEDS):
        body = rss(f"Feed {f}", f"https://f{f}.example/", make_items(100 + f, N_ITEMS))
        # staggered answers, so that the run commits batch after batch while we page
        url = feed_server.route(f"/f{f}.xml", body=body, delay_s=0.02 * (f % 7))
        store.add_feed(FeedSpec(url=url, options=LOCAL))
    store.close()

    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env |= {"INGEST_PER_HOST_DELAY": "0", "INGEST_CONCURRENCY": "3", "INGEST_BATCH_SIZE": "6"}
    seen: list[int] = []
    pages_while_running = 0
    with LiveServer(db) as live, httpx.Client(base_url=live.base_url, timeout=30) as api:
        run = subprocess.Popen(
            [sys.executable, "-m", "ingest", "--db", str(db), "run", "--all"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        output: list[bytes] = []
        reader = threading.Thread(target=lambda: output.extend(run.communicate()))
        reader.start()
        since_id = 0
        while True:
            finished = run.poll() is not None  # before the page: an empty page after it ends
            page = api.get("/api/articles", params={"since_id": since_id, "limit": 17}).json()
            seen += [r["id"] for r in page["items"]]
            since_id = page["next_since_id"]
            if page["items"] and not finished:
                pages_while_running += 1
            if finished and not page["items"]:
                break
        reader.join(60)
    assert run.returncode == 0, output
    reader = open_store(db)
    final = [r.id for r in reader.articles()]
    reader.close()
    assert len(final) == N_FEEDS * N_ITEMS
    assert seen == final  # each once, in id order
    # the pages overlapped the run's writes (how many depends on the machine's load)
    assert pages_while_running >= 1
