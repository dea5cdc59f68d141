"""What the crash harness (bench/crash.py) and the soak (bench/soak.py) share: a loopback
farm whose feeds change, and an audit of a store against it.

    farm = ChurnFarm(seed=1, hosts=4, feeds_per_host=6, max_delay_s=0.3).start()
    farm.urls                     # the feeds, spread over 127.0.0.1 .. 127.0.0.4
    farm.advance()                # news: new items, revisions, dropped items, syndicated copies
    farm.fail(url, True)          # the feed answers 503 until fail(url, False)
    audit = Audit(db)             # a SQLite path or a postgresql:// URL
    audit.sources()               # {(feed_url, identity): article_id} as committed now
    audit.problems()              # duplicates and story-index faults, one line each
    audit.missing(farm)           # what the farm serves that the store does not hold (or holds
                                  # at an older revision)
    farm.stop()

Every feed is a real FeedServer route (tests/feedserver.py) whose handler waits a random
0..max_delay_s before answering (so a run spends time in fetch, and a kill can land there),
and builds the body from the feed's current items (tests/samplefeeds.py's `rss`). Every
sixth feed syndicates: it carries copies of other feeds' items, half under the original's
link (one article, another source) and half under its own (same text, another URL: a story
merge). A copied item is never revised again, so copy and original stay the same story.
"""

from __future__ import annotations

import random
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from feedserver import FeedServer, Reply, Request  # tests/: the test helpers
from samplefeeds import rss, sentence

__all__ = ["Audit", "ChurnFarm", "Item", "cli_env", "is_pg"]

BASE_TIME = datetime(2026, 11, 20, tzinfo=UTC)


def is_pg(db: str | Path) -> bool:
    return str(db).startswith(("postgresql://", "postgres://"))


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for `ingest` subprocesses: none of the caller's INGEST_* settings,
    loopback feeds allowed, no per-host delay (the farm's own delays pace it)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env.update(INGEST_ALLOW_PRIVATE_NETWORKS="true", INGEST_PER_HOST_DELAY="0")
    env.update(extra)
    return env


@dataclass
class Item:
    guid: str
    title: str
    paragraphs: list[str]
    link: str
    n: int  # position in time (its pubDate)
    rev: int = 0
    frozen: bool = False  # copied by a syndicating feed: never revised again

    def as_dict(self) -> dict[str, str]:
        text = list(self.paragraphs)
        if self.rev:
            text.append(f"Update number {self.rev} was published for this story.")
        return {
            "title": self.title,
            "link": self.link,
            "guid": self.guid,
            "date": format_datetime(BASE_TIME + timedelta(minutes=self.n)),
            "html": "".join(f"<p>{p}</p>" for p in text),
        }


@dataclass
class _Feed:
    url: str
    path: str
    server: FeedServer
    syndicates: bool
    items: list[Item] = field(default_factory=list)
    failing: bool = False
    served: int = 0


class ChurnFarm:
    """Feeds over `hosts` loopback addresses whose items change on `advance()`."""

    def __init__(
        self,
        *,
        seed: int = 1,
        hosts: int = 4,
        feeds_per_host: int = 6,
        items: int = 8,
        keep: int = 25,
        max_delay_s: float = 0.3,
    ) -> None:
        self.rng = random.Random(seed)
        self.hosts = hosts
        self.feeds_per_host = feeds_per_host
        self.initial_items = items
        self.keep = keep  # items a feed carries at most (older ones drop out)
        self.max_delay_s = max_delay_s
        self.servers: list[FeedServer] = []
        self.feeds: dict[str, _Feed] = {}
        self.lock = threading.Lock()
        self.counter = 0  # items made so far (their pubDate order)
        self.round = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ChurnFarm:
        for h in range(self.hosts):
            self.servers.append(FeedServer(host=f"127.0.0.{h + 1}").start())
        for i in range(self.hosts * self.feeds_per_host):
            server = self.servers[i % self.hosts]
            path = f"/feed-{i}.xml"
            url = server.url(path)
            feed = _Feed(url=url, path=path, server=server, syndicates=i % 6 == 5)
            self.feeds[url] = feed
            for _ in range(self.initial_items):
                feed.items.append(self._new_item(i))
            server.route(path, handler=self._handler(feed))
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def __enter__(self) -> ChurnFarm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def urls(self) -> list[str]:
        return list(self.feeds)

    def in_flight(self) -> int:
        """Requests being answered now (most of them waiting out their delay)."""
        return sum(s.in_flight for s in self.servers)

    def answered(self) -> int:
        """Requests received so far."""
        return sum(len(s.requests) for s in self.servers)

    # ------------------------------------------------------------------ serving

    def _handler(self, feed: _Feed) -> Any:
        def answer(req: Request) -> Reply:
            delay = self.rng.uniform(0, self.max_delay_s)
            if delay and req.server._stopping.wait(delay):
                return Reply(503, {}, b"")
            with self.lock:
                if feed.failing:
                    return Reply(503, {"Content-Type": "text/plain"}, b"down for maintenance\n")
                body = rss(f"Feed {feed.path}", feed.url, [it.as_dict() for it in feed.items])
                feed.served += 1
            return Reply(200, {"Content-Type": "application/rss+xml; charset=utf-8"}, body)

        return answer

    # ------------------------------------------------------------------ news

    def _new_item(self, feed_no: int) -> Item:
        self.counter += 1
        n = self.counter
        rng = random.Random(f"item-{n}")
        return Item(
            guid=f"item-{n}",
            title=sentence(rng, 8).rstrip("."),
            paragraphs=[" ".join(sentence(rng) for _ in range(4)) for _ in range(3)],
            link=f"https://news{feed_no}.example/story/{n}",
            n=n,
        )

    def advance(self) -> dict[str, int]:
        """One round of news on every feed: new items, a revision, the oldest dropped, and
        copies on the syndicating feeds. Counts of each."""
        counts = {"new": 0, "revised": 0, "dropped": 0, "copies": 0}
        with self.lock:
            self.round += 1
            feeds = list(self.feeds.values())
            for i, feed in enumerate(feeds):
                for _ in range(self.rng.randint(0, 3)):
                    feed.items.append(self._new_item(i))
                    counts["new"] += 1
                open_items = [it for it in feed.items if not it.frozen]
                if open_items and self.rng.random() < 0.4:
                    self.rng.choice(open_items).rev += 1
                    counts["revised"] += 1
                if feed.syndicates:
                    others = [f for f in feeds if not f.syndicates and f.items]
                    for _ in range(self.rng.randint(1, 2)):
                        original = self.rng.choice(self.rng.choice(others).items[-5:])
                        original.frozen = True
                        self.counter += 1
                        same_link = self.rng.random() < 0.5
                        feed.items.append(
                            Item(
                                guid=f"copy-{self.counter}",
                                title=original.title,
                                paragraphs=list(original.paragraphs)
                                + (
                                    [f"Update number {original.rev} was published for this story."]
                                    if original.rev
                                    else []
                                ),
                                link=original.link if same_link else f"{feed.url}/c{self.counter}",
                                n=self.counter,
                                frozen=True,
                            )
                        )
                        counts["copies"] += 1
                while len(feed.items) > self.keep or (
                    len(feed.items) > 3 and self.rng.random() < 0.3
                ):
                    feed.items.pop(0)
                    counts["dropped"] += 1
        return counts

    def fail(self, url: str, failing: bool) -> None:
        with self.lock:
            self.feeds[url].failing = failing

    def expected(self) -> dict[tuple[str, str], Item]:
        """What the store must hold once every feed is fetched: (feed URL, identity) -> item."""
        with self.lock:
            return {
                (f.url, f"g:{it.guid}"): it
                for f in self.feeds.values()
                if not f.failing
                for it in f.items
            }


# ---------------------------------------------------------------------- the store's side


@contextmanager
def _cursor(db: str | Path) -> Iterator[Any]:
    if is_pg(db):
        import psycopg

        with psycopg.connect(str(db), autocommit=True, connect_timeout=10) as conn:
            yield conn.cursor()
    else:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            yield conn.cursor()
        finally:
            conn.close()


# the story index, read independently of the store's own check
_STORY_FAULTS = (
    (
        "SELECT a.id FROM articles a LEFT JOIN stories s ON s.id = a.story_id WHERE s.id IS NULL",
        "article {} is in no existing story",
    ),
    (
        """SELECT a.id, COUNT(l.article_id) FROM articles a
           LEFT JOIN story_links l ON l.article_id = a.id GROUP BY a.id HAVING COUNT(l.article_id) != 1""",
        "article {} has {} story links",
    ),
    (
        """SELECT s.id, s.representative_id FROM stories s
           LEFT JOIN articles a ON a.id = s.representative_id WHERE a.id IS NULL""",
        "story {}'s representative {} does not exist",
    ),
    (
        """SELECT feed_url, identity, COUNT(*) FROM articles
           GROUP BY feed_url, identity HAVING COUNT(*) > 1""",
        "duplicate: {} {} is {} articles",
    ),
    (
        """SELECT canonical_url, COUNT(*) FROM articles WHERE canonical_url IS NOT NULL
           GROUP BY canonical_url HAVING COUNT(*) > 1""",
        "duplicate: {} is {} articles",
    ),
    (
        """SELECT s.feed_url, s.identity, s.article_id FROM article_sources s
           LEFT JOIN articles a ON a.id = s.article_id WHERE a.id IS NULL""",
        "source {} {} points to missing article {}",
    ),
)


class Audit:
    """Reads a store (SQLite file or PostgreSQL URL) with its own connection, as an outside
    observer: what is committed, and what is wrong with it."""

    def __init__(self, db: str | Path) -> None:
        self.db = db

    def sources(self) -> dict[tuple[str, str], int]:
        with _cursor(self.db) as cur:
            cur.execute("SELECT feed_url, identity, article_id FROM article_sources")
            return {(f, i): a for f, i, a in cur.fetchall()}

    def counts(self) -> dict[str, int]:
        with _cursor(self.db) as cur:
            out = {}
            for table in ("articles", "article_sources", "stories", "story_merges", "fetches"):
                cur.execute(f"SELECT COUNT(*) FROM {table}")
                out[table] = int(cur.fetchone()[0])
            return out

    def problems(self) -> list[str]:
        out: list[str] = []
        with _cursor(self.db) as cur:
            for sql, what in _STORY_FAULTS:
                cur.execute(sql + " LIMIT 20")
                out += [what.format(*row) for row in cur.fetchall()]
        return out

    def lost(self, before: dict[tuple[str, str], int]) -> list[str]:
        """Articles committed in `before` that are no longer there."""
        now = self.sources()
        with _cursor(self.db) as cur:
            cur.execute("SELECT id FROM articles")
            ids = {r[0] for r in cur.fetchall()}
        out = [f"lost: {k[0]} {k[1]}" for k in before if k not in now]
        out += [f"lost: article {a} of {k[0]} {k[1]}" for k, a in before.items() if a not in ids]
        return out[:20]

    def missing(self, farm: ChurnFarm) -> list[str]:
        """Items the farm serves that the store lacks, or holds at an older revision."""
        want = farm.expected()
        with _cursor(self.db) as cur:
            cur.execute(
                """SELECT s.feed_url, s.identity, a.content_text FROM article_sources s
                   JOIN articles a ON a.id = s.article_id"""
            )
            have = {(f, i): text for f, i, text in cur.fetchall()}
        out = []
        for key, item in want.items():
            if key not in have:
                out.append(f"missing: {key[0]} {key[1]}")
            elif item.rev and f"Update number {item.rev} " not in have[key]:
                out.append(f"stale: {key[0]} {key[1]} (revision {item.rev} not stored)")
        return out[:20]

    def schedules(self) -> list[tuple[str, str | None, str | None, int | None, str]]:
        """Each feed's (url, last_attempt_at, next_poll_at, error_count, status)."""
        with _cursor(self.db) as cur:
            cur.execute("SELECT url, last_attempt_at, next_poll_at, error_count, status FROM feeds")
            return [tuple(r) for r in cur.fetchall()]  # type: ignore[misc]

    def fetch_records(self, after_id: int = 0) -> list[tuple[int, str, str, str, str | None]]:
        """The fetches recorded after row `after_id`: (id, feed URL, at, outcome,
        next_poll_at), oldest first. The store keeps the last 20 of a feed: read often."""
        with _cursor(self.db) as cur:
            cur.execute(
                "SELECT id, feed_url, at, outcome, next_poll_at FROM fetches WHERE id > "
                + ("%s" if is_pg(self.db) else "?")
                + " ORDER BY id",
                (after_id,),
            )
            return [tuple(r) for r in cur.fetchall()]  # type: ignore[misc]
