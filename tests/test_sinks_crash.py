"""At least once across a crash: a run killed (SIGKILL) after its articles were committed
and before they were delivered; the next run delivers them, and consumers that
de-duplicate by the idempotency key see every article exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from feedserver import FeedServer
from samplefeeds import make_items, rss
from sinkkit import (
    NATS_URL,
    REDIS_URL,
    SECRET,
    Receiver,
    nats_delete,
    nats_messages,
    nats_stream,
    redis_delete,
    redis_entries,
    unique,
    write_config,
)

from ingest.models import FeedOptions
from ingest.settings import FeedSpec
from storage import open_store

pytestmark = pytest.mark.slow
LOCAL = FeedOptions(allow_private_network=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def names() -> Iterator[tuple[str, str, str]]:
    """(Redis stream, NATS subject, its JetStream stream), unique to the test."""
    stream = unique("ingest-crash")
    subject = unique("ingest.crash").replace("-", "_")
    js = nats_stream(subject)
    try:
        yield stream, subject, js
    finally:
        redis_delete(stream)
        nats_delete(js)


def start_run(db: Path, config: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(INGEST_PER_HOST_DELAY="0", HOOK_SECRET=SECRET)
    return subprocess.Popen(
        [sys.executable, "-m", "ingest", "--db", str(db), "--config", str(config), "run", "-q"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(check: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def outbox_rows(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def article_keys(db: Path) -> set[str]:
    store = open_store(db)
    try:
        return {f"{r.id}:{r.content_hash}" for r in store.articles()}
    finally:
        store.close()


def add_feeds(db: Path, server: FeedServer, **slow: object) -> None:
    fast = server.route("/fast.xml", body=rss("fast", "https://a.example/", make_items(1, 3)))
    late = server.route(
        "/slow.xml", body=rss("slow", "https://b.example/", make_items(2, 2)), **slow
    )
    store = open_store(db)
    try:
        for url in (fast, late):
            store.add_feed(FeedSpec(url=url, options=LOCAL))
    finally:
        store.close()


def test_a_run_killed_after_its_commit_delivers_on_the_next_run(
    tmp_path: Path, feed_server: FeedServer, receiver: Receiver, names: tuple[str, str, str]
) -> None:
    """Killed while it still fetched a slow feed: the fast feed's articles (and their outbox
    rows) were committed, none delivered."""
    stream, subject, js = names
    db, config = tmp_path / "crash.db", tmp_path / "crash.toml"
    write_config(
        config,
        [
            {"type": "webhook", "url": receiver.url, "secret": "${HOOK_SECRET}",
             "allow_private_network": True},
            {"type": "redis", "url": REDIS_URL, "stream": stream},
            {"type": "nats", "url": NATS_URL, "subject": subject},
        ],
    )  # fmt: skip
    add_feeds(db, feed_server, delay_s=60)
    run = start_run(db, config)
    try:
        wait_for(lambda: outbox_rows(db) == 9, "the fast feed's commit (3 articles x 3 sinks)")
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    assert run.returncode == -signal.SIGKILL
    assert receiver.deliveries == [] and redis_entries(stream) == [] and nats_messages(js) == []
    feed_server.update("/slow.xml", delay_s=0)
    again = start_run(db, config)
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err.decode()
    assert b"warning" not in err
    keys = article_keys(db)
    assert len(keys) == 5
    assert sorted(receiver.keys()) == sorted(keys)
    assert all(d.signed_by(SECRET) for d in receiver.deliveries)
    assert sorted(e["key"] for e in redis_entries(stream)) == sorted(keys)
    assert sorted(k for k, _ in nats_messages(js)) == sorted(keys)
    assert outbox_rows(db) == 0


def test_a_run_killed_while_delivering_delivers_again_and_dedup_keeps_one(
    tmp_path: Path, feed_server: FeedServer, receiver: Receiver, names: tuple[str, str, str]
) -> None:
    """Killed while the webhook held its request open: the batch had reached the receiver
    but was not acknowledged, so the next run sends it again (at least once); the
    receiver, de-duplicating by key, keeps each article once. Redis and NATS had
    acknowledged theirs before the kill: nothing goes to them twice."""
    stream, subject, js = names
    db, config = tmp_path / "crash.db", tmp_path / "crash.toml"
    write_config(
        config,
        [
            {"type": "webhook", "url": receiver.url, "secret": "${HOOK_SECRET}",
             "allow_private_network": True, "timeout": "60s"},
            {"type": "redis", "url": REDIS_URL, "stream": stream},
            {"type": "nats", "url": NATS_URL, "subject": subject},
        ],
    )  # fmt: skip
    add_feeds(db, feed_server)
    receiver.hang.set()
    run = start_run(db, config)
    try:
        wait_for(receiver.got_one.is_set, "the webhook delivery")
        wait_for(lambda: outbox_rows(db) <= 5, "Redis and NATS acknowledged")
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    receiver.hang.clear()
    assert outbox_rows(db) == 5  # the webhook's 5: sent, never acknowledged
    again = start_run(db, config)
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err.decode()
    keys = article_keys(db)
    sent = receiver.keys()
    assert len(sent) == 10 and set(sent) == keys  # every article twice: at least once
    assert all(d.signed_by(SECRET) for d in receiver.deliveries)
    assert sorted(e["key"] for e in redis_entries(stream)) == sorted(keys)
    assert sorted(k for k, _ in nats_messages(js)) == sorted(keys)
