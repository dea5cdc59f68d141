"""Many workers, one PostgreSQL database: `ingest run --all` processes started at once over
the loopback feed farm (bench/farm.py, hosts spread over 127.x addresses) fetch every feed
exactly once, store no article twice, and group stories as one process on SQLite does; a
worker killed with SIGKILL leaves nothing its successors cannot finish.

The farm has FEEDS feeds, the issue's 300 (INGEST_TEST_SCALE_FEEDS sets another number)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.farm import FarmConfig, FarmHandle, start_farm_thread, write_opml

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

FEEDS = int(os.environ.get("INGEST_TEST_SCALE_FEEDS", "300"))
ITEMS = 12
ROOT = Path(__file__).resolve().parents[1]
ENV = {
    "INGEST_ALLOW_PRIVATE_NETWORKS": "1",
    "INGEST_PER_HOST_DELAY": "0",
    "INGEST_WORKERS": "1",
    "INGEST_CONCURRENCY": "20",
    "INGEST_PER_HOST_CONCURRENCY": "5",
}


@pytest.fixture
def farm() -> Iterator[FarmHandle]:
    # every host answers after a pause: no feed is done before the last worker has started
    # (a run takes again what was attempted before it began), even on a loaded machine
    handle = start_farm_thread(
        FarmConfig(feeds=FEEDS, items=ITEMS, first_octets=(127, 4), slow_share=1.0,
                   slow_delay_s=1.5, base_time=datetime(2026, 11, 24, 12, tzinfo=UTC))
    )  # fmt: skip
    try:
        yield handle
    finally:
        handle.stop()


def ingest(db: str, *args: str, **env: str) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    full.update(ENV, **env)
    full["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-m", "ingest", "--db", db, *args],
        env=full, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def done(proc: subprocess.Popen[str], timeout: float = 240) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, (out, err)
    return out


def records(db: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in done(ingest(db, "articles", "export")).splitlines()]


def grouping(rows: list[dict[str, object]]) -> set[frozenset[tuple[object, object]]]:
    """The stories as sets of (feed, guid): comparable across stores whatever the ids."""
    stories: dict[object, set[tuple[object, object]]] = {}
    for r in rows:
        stories.setdefault(r["story_id"], set()).add((r["feed_url"], r["guid"]))
    return {frozenset(s) for s in stories.values()}


def setup(db: str, farm: FarmHandle, tmp_path: Path) -> None:
    write_opml(farm.feeds, tmp_path / "farm.opml")
    assert f"({FEEDS} new)" in done(ingest(db, "feeds", "import", str(tmp_path / "farm.opml")))


def wait_for_a_lease(db: str, proc: subprocess.Popen[str], deadline_s: float = 120) -> None:
    """Until some feed of `db` is leased (by `proc`, the only run going)."""
    import psycopg

    end = time.monotonic() + deadline_s
    with psycopg.connect(db, autocommit=True) as conn:
        while conn.execute("SELECT 1 FROM feeds WHERE lease_owner IS NOT NULL").fetchone() is None:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < end, "the run claimed no feed in time"
            time.sleep(0.05)


def test_three_workers_fetch_every_feed_once_and_agree_with_sqlite(
    farm: FarmHandle, pg_url: str, tmp_path: Path
) -> None:
    setup(pg_url, farm, tmp_path)
    farm.reset()
    procs = [ingest(pg_url, "run", "--all") for _ in range(3)]
    outs = [done(p) for p in procs]
    stats = farm.stats()
    assert stats["requests"] == FEEDS, (stats, outs)  # every feed fetched exactly once
    states = json.loads(done(ingest(pg_url, "feeds", "list", "--json")))
    assert len(states) == FEEDS and {s["last_http_status"] for s in states} == {200}
    assert sum(int(o.split(" feeds:")[0]) for o in outs) == FEEDS  # split between the three
    assert sum(1 for o in outs if not o.startswith("0 feeds")) >= 2  # shared, not one alone
    pg_rows = records(pg_url)
    keys = [(r["feed_url"], r["guid"]) for r in pg_rows]
    assert len(keys) == len(set(keys))  # no duplicate article

    sqlite_db = str(tmp_path / "one.db")
    setup(sqlite_db, farm, tmp_path)
    done(ingest(sqlite_db, "run", "--all", INGEST_CONCURRENCY="60"))
    sqlite_rows = records(sqlite_db)
    assert sorted(keys) == sorted((r["feed_url"], r["guid"]) for r in sqlite_rows)
    assert grouping(pg_rows) == grouping(sqlite_rows)


def test_a_killed_worker_s_feeds_are_finished_by_the_next_runs(
    farm: FarmHandle, pg_url: str, tmp_path: Path
) -> None:
    setup(pg_url, farm, tmp_path)
    victim = ingest(pg_url, "run", "--all", INGEST_LEASE="3s")
    # killed once it has claimed feeds (it then waits on the slow hosts): a fixed pause
    # was too short when a loaded machine takes seconds to start the process
    wait_for_a_lease(pg_url, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    held = [s for s in json.loads(done(ingest(pg_url, "feeds", "list", "--json")))
            if s["lease_owner"]]  # fmt: skip
    assert held, "the killed worker held no lease: the test did not test anything"
    time.sleep(3.5)  # past its lease (the same host would also see the pid is gone)
    survivors = [ingest(pg_url, "run", INGEST_LEASE="3s") for _ in range(2)]
    for p in survivors:
        done(p)
    states = json.loads(done(ingest(pg_url, "feeds", "list", "--json")))
    assert {s["last_http_status"] for s in states} == {200}
    assert not [s for s in states if s["lease_owner"]]
    rows = records(pg_url)
    keys = [(r["feed_url"], r["guid"]) for r in rows]
    assert len(keys) == len(set(keys)) == FEEDS * ITEMS
