"""A store whose disk fills up, turns read-only or whose file is damaged (issue #17): one
clear line naming the file and the reason, exit 1, no traceback, nothing stored before lost,
and the next run completes once the cause is gone.

The full disk is a real one: a tmpfs of a few MB mounted for the test (skipped, saying so,
where mounting is not permitted). The commands run as an operator runs them: `python -m
ingest` in a subprocess, so stderr is exactly what a terminal or a cron mail would show.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from feedserver import FeedServer
from samplefeeds import make_items, rss

from ingest.errors import StoreError
from ingest.settings import FeedSpec
from storage import open_store
from storage.sqlite_guard import rollback, store_error

LOCAL_ENV = {
    "INGEST_ALLOW_PRIVATE_NETWORKS": "true",
    "INGEST_PER_HOST_DELAY": "0",
    "INGEST_PER_HOST_CONCURRENCY": "8",
}


def ingest(db: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(LOCAL_ENV)
    return subprocess.run(
        [sys.executable, "-m", "ingest", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def one_line_error(r: subprocess.CompletedProcess[str], start: str) -> None:
    """exit 1, and stderr is exactly one line starting with `start`: no traceback."""
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(start), lines[0]


def articles(db: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return list(conn.execute("SELECT id, content_hash FROM articles ORDER BY id"))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 12 MB filesystem (tmpfs), unmounted after the test."""
    where = tmp_path / "disk"
    where.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"mounting a small tmpfs is not permitted here ({r.stderr.strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; returns it (delete it to free the space)."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    # unbuffered: a buffered file would flush what did not fit again on close, and fail there
    # (or not: it depended on the free space modulo the chunk size)
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    # the last partial chunk: byte by byte until nothing fits
    with filler.open("ab", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def test_a_full_disk_is_one_line_loses_nothing_and_the_next_run_completes(
    small_disk: Path, tmp_path: Path, feed_server: FeedServer
) -> None:
    db = small_disk / "ingest.db"
    n_feeds = 24  # >= PARALLEL_MIN_FEEDS: `run` forks a worker process too
    pages = {i: 3 for i in range(n_feeds)}
    for i in range(n_feeds):
        feed_server.route(
            f"/f{i}.xml",
            body=lambda _req, i=i: rss(
                f"Feed {i}",
                f"https://s{i}.example/",
                make_items(i, pages[i], site=f"https://s{i}.example"),
            ),
        )
        assert (
            ingest(db, "feeds", "add", feed_server.url(f"/f{i}.xml"), cwd=tmp_path).returncode == 0
        )
    r = ingest(db, "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    before = articles(db)
    assert len(before) == 3 * n_feeds

    filler = fill(small_disk)
    for i in pages:
        pages[i] = 40  # every feed has news: far more than the disk holds
    r = ingest(db, "run", "--all", cwd=tmp_path)
    one_line_error(r, f"Error: {db}: the disk is full (database or disk is full): ")
    assert "cannot rollback" not in r.stderr
    # a command that writes a little: the same line
    one_line_error(
        ingest(db, "feeds", "add", "https://new.example/feed.xml", cwd=tmp_path),
        f"Error: {db}: the disk is full",
    )
    assert articles(db) == before  # nothing stored before is lost
    r = ingest(db, "store", "check", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr

    filler.unlink()  # space is freed: the next run completes
    r = ingest(db, "run", "--all", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    after = articles(db)
    assert after[: len(before)] == before and len(after) == 40 * n_feeds
    assert ingest(db, "store", "check", cwd=tmp_path).returncode == 0


def test_the_engine_limit_takes_the_same_path_and_the_cause_is_not_hidden(tmp_path: Path) -> None:
    """SQLite's own limit (max_page_count) raises SQLITE_FULL mid-transaction, as a full
    disk does: the error names the file and the disk, not "cannot rollback"."""
    from ingest.settings import FeedSpec

    store = open_store(tmp_path / "t.db")
    try:
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]  # type: ignore[attr-defined]
        store.conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # type: ignore[attr-defined]
        with pytest.raises(StoreError) as err:
            for i in range(2000):
                store.add_feed(FeedSpec(url=f"https://s{i}.example/{'x' * 2000}"))
        assert str(err.value).startswith(f"{tmp_path / 't.db'}: the disk is full (")
        assert "rollback" not in str(err.value)
        store.conn.execute("PRAGMA max_page_count = 1073741823")  # type: ignore[attr-defined]
        n = len(store.feeds())
        store.add_feed(FeedSpec(url="https://after.example/feed.xml"))  # usable again
        assert len(store.feeds()) == n + 1
    finally:
        store.close()


def test_rollback_never_replaces_the_error_that_caused_it(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    rollback(conn)  # no transaction open: nothing to do, nothing raised
    conn.execute("BEGIN")
    conn.execute("CREATE TABLE t (x)")
    rollback(conn)
    assert not conn.in_transaction
    assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


@pytest.mark.parametrize(
    ("code", "start"),
    [
        (sqlite3.SQLITE_FULL, "the disk is full"),
        (sqlite3.SQLITE_READONLY, "the database is read-only"),
        (sqlite3.SQLITE_CORRUPT, "the database file is damaged"),
        (sqlite3.SQLITE_NOTADB, "the file is not an SQLite database"),
        (sqlite3.SQLITE_IOERR, "the disk failed to read or write"),
        (sqlite3.SQLITE_BUSY, "the database is busy"),
    ],
)
def test_every_engine_failure_reads_as_a_reason(tmp_path: Path, code: int, start: str) -> None:
    exc = sqlite3.OperationalError("engine words")
    exc.sqlite_errorcode = code  # type: ignore[attr-defined]
    msg = str(store_error(tmp_path / "x.db", exc))
    assert msg.startswith(f"{tmp_path / 'x.db'}: {start}")
    assert "(engine words): " in msg  # SQLite's words, then what to do
    assert "OperationalError" not in msg and "sqlite3." not in msg


def test_a_read_only_store_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "ro" / "t.db"
    db.parent.mkdir()
    assert ingest(db, "feeds", "add", "https://a.example/feed.xml", cwd=tmp_path).returncode == 0
    # a read-only mount: root ignores file modes, so bind-mount the directory read-only
    r = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(db.parent), str(db.parent)], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip(f"a read-only bind mount is not permitted here ({r.stderr.decode().strip()})")
    try:
        r = ingest(db, "feeds", "add", "https://b.example/feed.xml", cwd=tmp_path)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.startswith(f"Error: {db}: "), r.stderr
        assert "read-only" in r.stderr or "cannot open" in r.stderr, r.stderr
        assert len(r.stderr.splitlines()) == 1
    finally:
        subprocess.run(["umount", str(db.parent)], check=False)
    assert ingest(db, "feeds", "add", "https://b.example/feed.xml", cwd=tmp_path).returncode == 0


# -- damaged files --------------------------------------------------------------------------


def stored(
    tmp_path: Path,
    feed_server: FeedServer,
    n_feeds: int = 4,
    items: int = 60,
    seed: list[int] | None = None,
) -> Path:
    """A store holding `n_feeds` feeds of `items` items; changing `seed[0]` revises them all."""
    db = tmp_path / "t.db"
    seed = seed if seed is not None else [0]
    for i in range(n_feeds):
        url = feed_server.route(
            f"/f{i}.xml",
            body=lambda _req, i=i: rss(  # type: ignore[misc]
                f"F{i}",
                f"https://s{i}.example/",
                make_items(100 * i + seed[0], items, site=f"https://s{i}.example"),
            ),
        )
        ingest(db, "feeds", "add", url, cwd=tmp_path)
    assert ingest(db, "run", cwd=tmp_path).returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


def test_store_check_passes_on_a_sound_store(tmp_path: Path, feed_server: FeedServer) -> None:
    db = stored(tmp_path, feed_server, n_feeds=2, items=5)
    r = ingest(db, "store", "check", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{db}: ok (integrity, foreign keys, story index)\n"


def test_store_check_names_a_broken_story_index(tmp_path: Path, feed_server: FeedServer) -> None:
    db = stored(tmp_path, feed_server, n_feeds=2, items=5)
    with sqlite3.connect(db) as conn:
        rep = conn.execute("SELECT id, representative_id FROM stories LIMIT 1").fetchone()
        conn.execute("UPDATE stories SET representative_id = 999999 WHERE id = ?", (rep[0],))
        conn.execute(
            "UPDATE articles SET story_id = NULL WHERE id = (SELECT MAX(id) FROM articles)"
        )
    r = ingest(db, "store", "check", cwd=tmp_path)
    assert r.returncode == 1
    assert f"story: story {rep[0]}'s representative, article 999999, does not exist" in r.stdout
    assert "has no story" in r.stdout
    assert r.stderr.startswith(f"Error: {db}: ")
    assert "Traceback" not in r.stderr


def overwrite_middle(db: Path, size: int = 64 * 1024) -> None:
    data = bytearray(db.read_bytes())
    middle = len(data) // 2
    data[middle : middle + size] = random.Random(17).randbytes(size)
    db.write_bytes(bytes(data))


def test_random_bytes_in_the_middle_are_named_and_stop_a_run(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    seed = [0]
    db = stored(tmp_path, feed_server, seed=seed)
    assert db.stat().st_size > 256 * 1024
    overwrite_middle(db)
    seed[0] = 1  # every feed changes: the run reads and writes all over the file
    r = ingest(db, "store", "check", cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "integrity: " in r.stdout
    assert "restore" in r.stderr
    met = []
    for cmd in (("stats",), ("articles", "export"), ("stories", "list"), ("run", "--all")):
        r = ingest(db, *cmd, cwd=tmp_path)
        if r.returncode == 0 and not r.stderr:
            continue  # what it read was not damaged: a right answer
        one_line_error(r, f"Error: {db}: the database file is damaged (")
        assert "`ingest store check`" in r.stderr and "restore" in r.stderr
        met.append(cmd[0])
    print(met)
    assert "run" in met  # the run read and wrote all over the file: it met the damage


def test_a_truncated_store_is_refused_at_open(tmp_path: Path, feed_server: FeedServer) -> None:
    db = stored(tmp_path, feed_server, n_feeds=2, items=20)
    size = db.stat().st_size
    with db.open("r+b") as f:
        f.truncate(size // 2)
    for cmd in (("feeds", "list"), ("run",), ("store", "check")):
        r = ingest(db, *cmd, cwd=tmp_path)
        one_line_error(r, f"Error: {db}: cannot open the database: it is truncated: ")
        assert "restore it from a backup" in r.stderr


def test_opening_a_store_again_keeps_the_other_connections_locks(tmp_path: Path) -> None:
    """The server opens a store per thread while other threads read. Opening must not open
    and close the file outside SQLite: that drops every POSIX lock of the process on it, and
    another process closing its last connection then deletes the write-ahead log under the
    live readers ("database disk image is malformed" mid-run)."""
    db = tmp_path / "t.db"
    first = open_store(db)
    first.add_feed(FeedSpec(url="https://a.example/feed.xml"))
    second = open_store(db)  # what a new server thread does
    second.close()
    writer = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "c.execute(\"INSERT INTO meta (key, value) VALUES ('probe', '1')\"); c.close()"
    )
    subprocess.run([sys.executable, "-c", writer, str(db)], check=True)
    # the other process saw this one's connection: it was not the last, so the log stays
    assert Path(f"{db}-wal").exists()
    assert [f.url for f in first.feeds()] == ["https://a.example/feed.xml"]
    first.close()


def test_the_daemon_logs_one_line_per_failing_tick(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store failure in a tick is one log line without a traceback, and the daemon goes on."""
    import asyncio
    import signal

    from ingest.daemon import _main
    from ingest.settings import FeedSpec, load_settings

    store = open_store(tmp_path / "t.db")
    store.add_feed(FeedSpec(url="http://127.0.0.1:9/feed.xml"))
    store.conn.execute("PRAGMA query_only = ON")  # type: ignore[attr-defined]
    settings = load_settings(None, overrides={"db": str(tmp_path / "t.db")})

    async def two_ticks() -> None:
        async def stop_after_two() -> None:  # (a slow first tick under load skips the next)
            for _ in range(300):
                await asyncio.sleep(0.05)
                if sum(r.getMessage().startswith("tick failed") for r in caplog.records) >= 2:
                    break
            os.kill(os.getpid(), signal.SIGTERM)

        watcher = asyncio.create_task(stop_after_two())
        await _main(store, settings, 0.5, None, "127.0.0.1")
        await watcher

    caplog.set_level(logging.INFO, logger="ingest")
    try:
        asyncio.run(two_ticks())
    finally:
        store.close()
    failed = [r for r in caplog.records if r.getMessage().startswith("tick failed")]
    assert len(failed) >= 2
    for rec in failed:
        assert rec.exc_info is None
        assert rec.getMessage().startswith(
            f"tick failed: {tmp_path / 't.db'}: the database is read-only ("
        )
