"""A batch's write queue: what the store knows of its articles, and the new rows decided
so far, written together (one statement per table) instead of one insert per article."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ingest.models import Article
from storage.common import VALUE_COLUMNS

from . import story_index

__all__ = ["INSERT_ARTICLE", "TOUCH_DIGEST", "Known"]

INSERT_ARTICLE = (
    f"INSERT INTO articles ({', '.join(VALUE_COLUMNS)}, first_seen_at, id, story_id,"
    f" duplicate_of) VALUES ({', '.join('?' * (len(VALUE_COLUMNS) + 4))})"
)


# an item seen again, unchanged, keeps the digest of the entry it came from this time when
# its stored links are the ones that entry gives (its content hash is: it is unchanged), so
# that a source's digest always stands for its stored values; else none (a full pass next)
TOUCH_DIGEST = "entry_digest = CASE WHEN url IS ? AND canonical_url IS ? THEN ? END"


@dataclass(slots=True)
class Known:
    """What the store knows about one batch's articles, kept current while it is written."""

    tombstones: set[str] = field(default_factory=set)  # identities and canonical URLs
    by_identity: dict[str, tuple[int, str]] = field(default_factory=dict)  # -> (id, hash)
    same_feed_url: dict[str, tuple[int, str]] = field(default_factory=dict)  # -> (id, hash)
    any_url: dict[str, tuple[int, int]] = field(default_factory=dict)  # -> (id, word count)
    sources: list[tuple[Any, ...]] = field(default_factory=list)  # rows to insert
    # sources seen again: (now, url, canonical_url, entry digest, feed, identity)
    touched: list[tuple[Any, ...]] = field(default_factory=list)
    next_id: int = 0
    # new articles' rows, written together by `write_pending` (see `SQLiteStories._assign_story`)
    new_articles: list[tuple[Any, ...]] = field(default_factory=list)
    new_stories: list[tuple[Any, ...]] = field(default_factory=list)
    new_links: list[tuple[Any, ...]] = field(default_factory=list)
    new_index: list[story_index.IndexRow] = field(default_factory=list)
    pending_keys: set[int] = field(default_factory=set)  # band keys of `new_index`

    def add_source(self, a: Article, article_id: int, now_s: str | None) -> None:
        self.sources.append(
            (
                a.feed_url,
                a.identity,
                article_id,
                a.url,
                a.canonical_url,
                a.content_hash,
                now_s,
                now_s,
                a.entry_digest,
            )
        )
        self.by_identity.setdefault(a.identity, (article_id, a.content_hash))

    def write_pending(self, tx: sqlite3.Connection) -> None:
        """Write the new articles' rows decided so far (before anything reads or updates
        them: the batch then reads exactly what one-by-one writes would have left)."""
        if self.new_articles:
            tx.executemany(INSERT_ARTICLE, self.new_articles)
            self.new_articles.clear()
        if self.new_stories:
            tx.executemany(
                """INSERT INTO stories (id, representative_id, first_seen_at, updated_at,
                   n_articles) VALUES (?, ?, ?, ?, 1)""",
                self.new_stories,
            )
            self.new_stories.clear()
        if self.new_links:
            tx.executemany(
                """INSERT INTO story_links (article_id, story_id, level, score, reason,
                   matched_article_id) VALUES (?, ?, ?, ?, ?, ?)""",
                self.new_links,
            )
            self.new_links.clear()
        self.write_index(tx)

    def write_index(self, tx: sqlite3.Connection) -> None:
        """Write the queued story-index rows (all that a candidate lookup reads)."""
        if self.new_index:
            story_index.add_many(tx, self.new_index)
            self.new_index.clear()
            self.pending_keys.clear()

    def flush(self, tx: sqlite3.Connection) -> None:
        self.write_pending(tx)
        tx.executemany(
            """INSERT OR IGNORE INTO article_sources (feed_url, identity, article_id, url,
               canonical_url, content_hash, first_seen_at, last_seen_at, entry_digest)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            self.sources,
        )
        tx.executemany(
            f"UPDATE article_sources SET last_seen_at = ?, {TOUCH_DIGEST}"
            " WHERE feed_url = ? AND identity = ?",
            self.touched,
        )
