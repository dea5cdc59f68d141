"""PostgreSQL's way of writing what the shared queries (`storage._query`) leave to a backend:
`%(name)s` parameters, lists as arrays (= ANY), tags through json_array_elements_text,
the tsvector for full text."""

from __future__ import annotations

from storage._query import Dialect

__all__ = ["POSTGRES"]

# an article (alias {a}) tagged with {tag} (any case): its own tags, or a carrying feed's
_TAGGED = """(EXISTS (SELECT 1 FROM json_array_elements_text({a}.tags::json) AS t(v)
        WHERE lower(t.v) = lower({tag}))
    OR EXISTS (SELECT 1 FROM article_sources ts JOIN feeds tf ON tf.url = ts.feed_url,
        json_array_elements_text(tf.tags::json) AS t(v)
        WHERE ts.article_id = {a}.id AND lower(t.v) = lower({tag})))"""
POSTGRES = Dialect(
    param="%({})s",
    any_of="{column} = ANY({param})",
    list_value=list,
    tagged=_TAGGED,
    text_match="search @@ websearch_to_tsquery('simple', {query})",
    text_value=lambda q: q.replace("\x00", " "),  # PostgreSQL text holds no NUL
)
