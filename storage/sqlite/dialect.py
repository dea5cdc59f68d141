"""SQLite's way of writing what the shared queries (`storage._query`) leave to a backend:
named `:parameters`, lists as JSON text read with json_each, FTS5."""

from __future__ import annotations

import json

from storage._query import Dialect

__all__ = ["SQLITE"]

# an article (alias {a}) tagged with {tag} (any case): its own tags, or a carrying feed's
_TAGGED = """(EXISTS (SELECT 1 FROM json_each({a}.tags) t WHERE lower(t.value) = lower({tag}))
    OR EXISTS (SELECT 1 FROM article_sources ts JOIN feeds tf ON tf.url = ts.feed_url,
        json_each(tf.tags) t WHERE ts.article_id = {a}.id AND lower(t.value) = lower({tag})))"""
SQLITE = Dialect(
    param=":{}",
    any_of="{column} IN (SELECT value FROM json_each({param}))",
    list_value=json.dumps,
    tagged=_TAGGED,
    # the indexed articles only (`index_pending`), so a cursor never passes one not indexed yet
    text_match="id IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH {query}) "
    "AND id <= (SELECT value FROM meta WHERE key = 'fts_indexed_id')",
)
