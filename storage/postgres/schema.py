"""The PostgreSQL schema: versioned migrations (the `schema_migrations` table), applied under
an advisory lock so that many workers starting at once migrate once.

The same tables and columns as SQLite's (storage/sqlite/schema.py), so `store copy` moves
rows as they are: times are `to_iso` text (one sortable form), lists JSON text. Beside them:

    articles.search      tsvector of title (A), summary (B) and text (C), GIN-indexed
    story_sig            article -> story, published (Unix s), signature
    story_band           (key, published, article): one row per band key, the primary key
                         is the lookup order (a range scan per key, newest first)
"""

from __future__ import annotations

from typing import Any

import psycopg

from ingest.errors import StoreError
from storage.story_state import FILL_DUPLICATE_OF

__all__ = ["MIGRATIONS", "migrate"]

#: advisory lock keys (the two-int4 key space; the one-int8 space holds write locks)
MIGRATE_LOCK = (0x1A6E57, 1)
CLAIM_LOCK = (0x1A6E57, 2)
ARTICLE_ID_LOCK = (0x1A6E57, 3)
WEBSUB_LOCK = (0x1A6E57, 4)  # held by the session that subscribes (`lead_subscriptions`)

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema (SQLite's migrations 1-5 at once)
    """
    CREATE TABLE feeds (
        url TEXT PRIMARY KEY,
        title TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        options TEXT NOT NULL DEFAULT '{}',
        source TEXT NOT NULL DEFAULT 'cli',
        status TEXT NOT NULL DEFAULT 'ok',
        etag TEXT,
        last_modified TEXT,
        body_hash TEXT,
        last_http_status INTEGER,
        last_error TEXT,
        last_warning TEXT,
        error_kind TEXT,
        error_count INTEGER NOT NULL DEFAULT 0,
        last_fetched_at TEXT,
        last_attempt_at TEXT,
        last_attempt_ms BIGINT,
        next_poll_at TEXT,
        interval_s INTEGER,
        schedule_reason TEXT,
        recent_entry_times TEXT NOT NULL DEFAULT '[]',
        last_new_count INTEGER NOT NULL DEFAULT 0,
        last_known_count INTEGER NOT NULL DEFAULT 0,
        moved_from TEXT,
        lease_owner TEXT,
        lease_until TEXT,
        last_run TEXT,
        added_at TEXT NOT NULL,
        host_key BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX feeds_claim ON feeds (next_poll_at, url) WHERE status IN ('ok', 'error');
    CREATE INDEX feeds_force ON feeds (last_attempt_ms, url) WHERE status IN ('ok', 'error');
    CREATE INDEX feeds_leased ON feeds (lease_until) WHERE lease_owner IS NOT NULL;
    CREATE INDEX feeds_host_leased ON feeds (host_key) WHERE lease_owner IS NOT NULL;

    CREATE TABLE articles (
        id BIGSERIAL PRIMARY KEY,
        feed_url TEXT NOT NULL,
        identity TEXT NOT NULL,
        guid TEXT,
        url TEXT,
        canonical_url TEXT,
        title TEXT NOT NULL,
        authors TEXT NOT NULL DEFAULT '[]',
        published_at TEXT,
        updated_at TEXT,
        fetched_at TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '',
        content_html TEXT NOT NULL DEFAULT '',
        content_text TEXT NOT NULL DEFAULT '',
        language TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        image_url TEXT,
        enclosures TEXT NOT NULL DEFAULT '[]',
        word_count INTEGER NOT NULL DEFAULT 0,
        content_hash TEXT NOT NULL,
        story_id BIGINT,
        date_source TEXT NOT NULL DEFAULT 'feed',
        published_raw TEXT,
        extra TEXT NOT NULL DEFAULT '{}',
        revisions INTEGER NOT NULL DEFAULT 0,
        first_seen_at TEXT NOT NULL,
        search tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('simple', title), 'A')
            || setweight(to_tsvector('simple', summary), 'B')
            || setweight(to_tsvector('simple', content_text), 'C')
        ) STORED
    );
    CREATE INDEX articles_canonical ON articles (canonical_url);
    CREATE INDEX articles_feed ON articles (feed_url, id);
    CREATE INDEX articles_story ON articles (story_id);
    CREATE INDEX articles_published ON articles (published_at);
    CREATE INDEX articles_search ON articles USING GIN (search);

    CREATE TABLE article_sources (
        feed_url TEXT NOT NULL,
        identity TEXT NOT NULL,
        article_id BIGINT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
        url TEXT,
        canonical_url TEXT,
        content_hash TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        PRIMARY KEY (feed_url, identity)
    );
    CREATE INDEX sources_article ON article_sources (article_id);
    CREATE INDEX sources_feed_canonical ON article_sources (feed_url, canonical_url);

    CREATE TABLE stories (
        id BIGINT PRIMARY KEY,
        representative_id BIGINT NOT NULL,
        first_seen_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        n_articles INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX stories_first_seen ON stories (first_seen_at);

    CREATE TABLE story_links (
        article_id BIGINT PRIMARY KEY,
        story_id BIGINT NOT NULL,
        level TEXT NOT NULL,
        score DOUBLE PRECISION,
        reason TEXT,
        matched_article_id BIGINT
    );
    CREATE INDEX story_links_story ON story_links (story_id);

    CREATE TABLE story_merges (
        story_id BIGINT PRIMARY KEY,
        into_story_id BIGINT NOT NULL,
        article_id BIGINT NOT NULL,
        at TEXT NOT NULL,
        reason TEXT
    );
    CREATE INDEX story_merges_into ON story_merges (into_story_id);

    CREATE TABLE filtered (
        id BIGSERIAL PRIMARY KEY,
        feed_url TEXT NOT NULL,
        identity TEXT NOT NULL,
        title TEXT,
        url TEXT,
        reason TEXT NOT NULL,
        at TEXT,
        UNIQUE (feed_url, identity)
    );

    CREATE TABLE fetches (
        id BIGSERIAL PRIMARY KEY,
        feed_url TEXT NOT NULL,
        at TEXT,
        outcome TEXT NOT NULL,
        http_status INTEGER,
        bytes BIGINT NOT NULL DEFAULT 0,
        new INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        duration_ms INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        next_poll_at TEXT,
        reason TEXT
    );
    CREATE INDEX fetches_feed ON fetches (feed_url, id);

    CREATE TABLE tombstones (
        feed_url TEXT NOT NULL,
        identity TEXT NOT NULL,
        canonical_url TEXT,
        deleted_at TEXT NOT NULL,
        PRIMARY KEY (feed_url, identity)
    );
    CREATE INDEX tombstones_canonical ON tombstones (feed_url, canonical_url);

    CREATE TABLE story_sig (
        article_id BIGINT PRIMARY KEY,
        story_id BIGINT NOT NULL,
        published_at BIGINT NOT NULL,
        sig BYTEA NOT NULL
    );
    CREATE INDEX story_sig_story ON story_sig (story_id);
    CREATE TABLE story_band (
        key BIGINT NOT NULL,
        published_at BIGINT NOT NULL,
        article_id BIGINT NOT NULL,
        PRIMARY KEY (key, published_at, article_id)
    );
    CREATE INDEX story_band_article ON story_band (article_id)
    """,
    # 2: WebSub subscriptions, one a feed (ingest.websub), and the lease end a subscribed feed is
    # polled rarely until (`push_until`, read with the feed by every claim)
    """
    CREATE TABLE websub (
        feed_url TEXT PRIMARY KEY,
        callback_id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        hub TEXT,
        topic TEXT,
        secret TEXT,
        lease_until TEXT,
        checked_at TEXT,
        requested_at TEXT,
        error TEXT
    );
    ALTER TABLE feeds ADD COLUMN push_until TEXT
    """,
    # 3: the push sinks' outbox, as SQLite's (its migration 8: storage/sqlite/schema.py)
    """
    CREATE TABLE IF NOT EXISTS sinks (
        name TEXT PRIMARY KEY,
        active INTEGER NOT NULL DEFAULT 1,
        added_at TEXT NOT NULL,
        lease_owner TEXT,
        lease_until_ms BIGINT NOT NULL DEFAULT 0,
        delivered BIGINT NOT NULL DEFAULT 0,
        last_delivered_at TEXT,
        last_error TEXT
    );
    CREATE TABLE IF NOT EXISTS outbox (
        id BIGSERIAL PRIMARY KEY,
        sink TEXT NOT NULL,
        article_id BIGINT NOT NULL,
        content_hash TEXT NOT NULL,
        kind TEXT NOT NULL,
        queued_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due_ms BIGINT NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE INDEX IF NOT EXISTS outbox_sink ON outbox (sink, id);
    CREATE TABLE IF NOT EXISTS dead_letters (
        id BIGINT PRIMARY KEY,
        sink TEXT NOT NULL,
        article_id BIGINT NOT NULL,
        content_hash TEXT NOT NULL,
        kind TEXT NOT NULL,
        queued_at TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        last_error TEXT,
        failed_at TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS dead_letters_sink ON dead_letters (sink, id)
    """,
    # 4: `duplicate_of`, the earliest article whose text an article copies (issue #18), filled
    # for stored articles from the copy level of their links: a "duplicate" link's matched
    # article, followed up its own "duplicate" links to the original (a matched article is
    # always stored before the one it matched: the walk ends; `FILL_DUPLICATE_OF`)
    """
    ALTER TABLE articles ADD COLUMN duplicate_of BIGINT;
    CREATE INDEX articles_duplicate_of ON articles (duplicate_of) WHERE duplicate_of IS NOT NULL;
    """
    + FILL_DUPLICATE_OF,
    # 5: `entry_digest` of a source: the digest of the raw entry its values were normalized
    # from (ingest.entrydigest); a poll does not normalize again an item that it finds here,
    # among the sources of the feed's latest fetch (`seen_entries`; issue #13, steady state),
    # found by the index on (feed, last seen) whatever the length of the feed's history
    """
    ALTER TABLE article_sources ADD COLUMN entry_digest TEXT;
    CREATE INDEX sources_feed_seen ON article_sources (feed_url, last_seen_at);
    """,
)


def migrate(conn: psycopg.Connection[tuple[Any, ...]], where: str) -> None:
    """Bring the schema up to date (one transaction per migration)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", MIGRATE_LOCK)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{where}: schema version {version} is newer than this program "
                f"({len(MIGRATIONS)}); upgrade ingest"
            )
        for number in range(version, len(MIGRATIONS)):
            conn.execute(MIGRATIONS[number].encode())
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (number + 1,))
