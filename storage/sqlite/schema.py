"""The SQLite schema: versioned migrations (PRAGMA user_version), FTS5, the election SQL.

Tables (see README "Record schema" for the downstream view):

    feeds            one row per feed: options + scheduling state + lease
    articles         one row per distinct article (id increasing: the downstream cursor)
    article_sources  (feed_url, identity) -> article: every feed/outlet that carried it
    stories          story_id -> representative article, counts
    story_links      article -> story, with the level and similarity that justified it
    story_merges     stories folded into another, and where they went
    filtered         what keep/block rules dropped, and why
    fetches          recent fetch history per feed
    tombstones       pruned items that must not come back
    articles_fts     FTS5 over title, summary, content_text
    sinks            the push sinks known, their lease and delivery counts
    outbox           (sink, article version) waiting to be pushed (storage/sqlite/outbox.py)
    dead_letters     outbox items that failed max_attempts times (`ingest sinks retry`)
    story_sig, story_band, story_band_new, story_index_meta: the story index (story_index.py)
"""

from __future__ import annotations

from ingest.dedupe.story import FULL_TEXT_WORDS
from storage.story_state import FILL_DUPLICATE_OF

__all__ = ["ELECT", "FTS_COLUMNS", "FTS_TRIGGERS", "FULL_TEXT_WORDS", "MIGRATIONS"]

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
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
        last_attempt_ms INTEGER,
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
        added_at TEXT NOT NULL
    );
    CREATE INDEX feeds_due ON feeds(status, next_poll_at);

    CREATE TABLE articles (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
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
        story_id INTEGER,
        date_source TEXT NOT NULL DEFAULT 'feed',
        published_raw TEXT,
        extra TEXT NOT NULL DEFAULT '{}',
        revisions INTEGER NOT NULL DEFAULT 0,
        first_seen_at TEXT NOT NULL
    );
    CREATE INDEX articles_canonical ON articles(canonical_url);
    CREATE INDEX articles_feed ON articles(feed_url, id);
    CREATE INDEX articles_story ON articles(story_id);
    CREATE INDEX articles_published ON articles(published_at);

    CREATE TABLE article_sources (
        feed_url TEXT NOT NULL,
        identity TEXT NOT NULL,
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        url TEXT,
        canonical_url TEXT,
        content_hash TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        PRIMARY KEY (feed_url, identity)
    ) WITHOUT ROWID;
    CREATE INDEX sources_article ON article_sources(article_id);
    CREATE INDEX sources_feed_canonical ON article_sources(feed_url, canonical_url);

    CREATE TABLE stories (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        representative_id INTEGER NOT NULL,
        first_seen_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        n_articles INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX stories_first_seen ON stories(first_seen_at);

    CREATE TABLE story_links (
        article_id INTEGER PRIMARY KEY,
        story_id INTEGER NOT NULL,
        level TEXT NOT NULL,
        score REAL,
        reason TEXT,
        matched_article_id INTEGER
    );
    CREATE INDEX story_links_story ON story_links(story_id);

    CREATE TABLE filtered (
        id INTEGER PRIMARY KEY,
        feed_url TEXT NOT NULL,
        identity TEXT NOT NULL,
        title TEXT,
        url TEXT,
        reason TEXT NOT NULL,
        at TEXT NOT NULL,
        UNIQUE (feed_url, identity)
    );

    CREATE TABLE fetches (
        id INTEGER PRIMARY KEY,
        feed_url TEXT NOT NULL,
        at TEXT NOT NULL,
        outcome TEXT NOT NULL,
        http_status INTEGER,
        bytes INTEGER NOT NULL DEFAULT 0,
        new INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        duration_ms INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        next_poll_at TEXT,
        reason TEXT
    );
    CREATE INDEX fetches_feed ON fetches(feed_url, id);

    CREATE TABLE tombstones (
        feed_url TEXT NOT NULL,
        identity TEXT NOT NULL,
        canonical_url TEXT,
        deleted_at TEXT NOT NULL,
        PRIMARY KEY (feed_url, identity)
    ) WITHOUT ROWID;
    CREATE INDEX tombstones_canonical ON tombstones(feed_url, canonical_url);

    CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
    INSERT INTO meta (key, value) VALUES ('fts_indexed_id', 0);
    """,
    # 2: stories folded into another (copies are transitive: see `_fold_stories`)
    """
    CREATE TABLE story_merges (
        story_id INTEGER PRIMARY KEY,
        into_story_id INTEGER NOT NULL,
        article_id INTEGER NOT NULL,
        at TEXT NOT NULL,
        reason TEXT
    );
    CREATE INDEX story_merges_into ON story_merges(into_story_id)
    """,
    # 3: claims walk the due order in an index instead of sorting every feed each time (a
    # run of N feeds made N/10 claims of O(N) each), and live leases are found by an index
    """
    DROP INDEX IF EXISTS feeds_due;
    CREATE INDEX feeds_claim ON feeds(next_poll_at, url) WHERE status IN ('ok', 'error');
    CREATE INDEX feeds_leased ON feeds(lease_until) WHERE lease_owner IS NOT NULL
    """,
    # 4: the story index in two levels (`storage.sqlite.story_index`: story_band_new, created with
    # the index's other tables by `story_index.ensure_schema` on every open). The number is
    # the change: a release before it reads story_band only and would miss the newest
    # articles' candidates, so it must refuse the file ("newer than this program")
    """
    -- no statement
    """,
    # 5: a feed's host, hashed (`host_key`), so that the worker processes of a run split
    # the feeds by host and never ask one host from two processes at once (`claim_feeds`);
    # existing rows are filled by `_migrate`. And the order of a `--all` run's claims (the
    # least recently attempted first: feeds done in the run sort last, so a claim does not
    # walk past them as it did in next_poll_at order)
    """
    ALTER TABLE feeds ADD COLUMN host_key INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX feeds_host_leased ON feeds(host_key) WHERE lease_owner IS NOT NULL;
    CREATE INDEX feeds_force ON feeds(last_attempt_ms, url) WHERE status IN ('ok', 'error')
    """,
    # 6: tombstones are listed newest first and lifted by when they were made (`articles
    # tombstones`, `articles unprune --since`)
    """
    CREATE INDEX IF NOT EXISTS tombstones_deleted ON tombstones(deleted_at)
    """,
    # 7: WebSub subscriptions, one a feed (ingest.websub), and the lease end a subscribed feed
    # is polled rarely until (`push_until`, read with the feed by every claim)
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
    ) WITHOUT ROWID;
    ALTER TABLE feeds ADD COLUMN push_until TEXT
    """,
    # 8: the push sinks' outbox (ingest/sinks): written in the transaction that stores the
    # articles, one row per (active sink, new or revised article); times due and leases in
    # epoch milliseconds (retries back off by less than a second in tests)
    """
    CREATE TABLE IF NOT EXISTS sinks (
        name TEXT PRIMARY KEY,
        active INTEGER NOT NULL DEFAULT 1,
        added_at TEXT NOT NULL,
        lease_owner TEXT,
        lease_until_ms INTEGER NOT NULL DEFAULT 0,
        delivered INTEGER NOT NULL DEFAULT 0,
        last_delivered_at TEXT,
        last_error TEXT
    );
    CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sink TEXT NOT NULL,
        article_id INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        kind TEXT NOT NULL,
        queued_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due_ms INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE INDEX IF NOT EXISTS outbox_sink ON outbox(sink, id);
    CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY,
        sink TEXT NOT NULL,
        article_id INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        kind TEXT NOT NULL,
        queued_at TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        last_error TEXT,
        failed_at TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS dead_letters_sink ON dead_letters(sink, id)
    """,
    # 9: `duplicate_of`, the earliest article whose text an article copies, filled
    # for stored articles from the copy level of their links: a "duplicate" link's matched
    # article, followed up its own "duplicate" links to the original (a matched article is
    # always stored before the one it matched: the walk ends; `FILL_DUPLICATE_OF`)
    """
    ALTER TABLE articles ADD COLUMN duplicate_of INTEGER;
    CREATE INDEX articles_duplicate_of ON articles(duplicate_of) WHERE duplicate_of IS NOT NULL;
    """
    + FILL_DUPLICATE_OF,
    # 10: `entry_digest` of a source: the digest of the raw entry its values were normalized
    # from (ingest.entrydigest); a poll does not normalize again an item that it finds here,
    # among the sources of the feed's latest fetch (`seen_entries`: in the steady state most
    # items of a poll are known), found by the index on (feed, last seen) whatever the
    # length of the feed's history
    """
    ALTER TABLE article_sources ADD COLUMN entry_digest TEXT;
    CREATE INDEX sources_feed_seen ON article_sources(feed_url, last_seen_at);
    """,
)
# a story's representative: its earliest full-text article (>= FULL_TEXT_WORDS words), else
# its earliest article; ties to the lower id (in SQL over `stories`; `better_representative` applies
# the same rule to an article not written yet)
ELECT = """(SELECT a.id FROM articles a WHERE a.story_id = stories.id
    ORDER BY a.word_count < ?, COALESCE(a.published_at, a.first_seen_at), a.id LIMIT 1)"""

# Full-text search. New articles are indexed in bulk after each pass (`index_pending`), which
# costs a quarter of a per-row trigger inside 50-row transactions (FTS5 flushes a segment per
# transaction). Rows already indexed keep the index right through these triggers; rows not
# indexed yet are skipped by them (deleting an unindexed row from an external-content FTS5
# table would corrupt it) and indexed with their latest values by the next bulk pass.
FTS_COLUMNS = ("title", "summary", "content_text")
FTS_TRIGGERS = """
CREATE TRIGGER articles_fts_ad AFTER DELETE ON articles
WHEN old.id <= (SELECT value FROM meta WHERE key = 'fts_indexed_id') BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, summary, content_text)
    VALUES ('delete', old.id, old.title, old.summary, old.content_text);
END;
CREATE TRIGGER articles_fts_au AFTER UPDATE OF title, summary, content_text ON articles
WHEN old.id <= (SELECT value FROM meta WHERE key = 'fts_indexed_id') BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, summary, content_text)
    VALUES ('delete', old.id, old.title, old.summary, old.content_text);
    INSERT INTO articles_fts (rowid, title, summary, content_text)
    VALUES (new.id, new.title, new.summary, new.content_text);
END;
"""
