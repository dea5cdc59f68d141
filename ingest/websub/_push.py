"""A body a hub pushed: parse | normalize | dedupe | store, with the pipeline's own
functions (as a fetched body goes), for the feed the subscription belongs to.

Only articles are written: the feed's fetch state (validators, body hash, schedule) stays
what its last poll made it, since a push may carry only the new entries."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ingest.errors import ParseError
from ingest.models import Feed, WriteSummary
from ingest.pipeline import process_body, signed
from ingest.settings import Settings
from ingest.timeutil import utcnow
from storage import Store

__all__ = ["store_pushed"]

log = logging.getLogger("ingest.websub")


def store_pushed(
    store: Store, feed: Feed, body: bytes, headers: Mapping[str, str], settings: Settings
) -> WriteSummary | None:
    """Store what `body` brings; None (logged, naming the feed) when it is no feed."""
    try:
        _, articles, _ = process_body(
            body,
            feed.url,
            dict(headers),
            fetched_at=utcnow(),
            options=feed.options,
            future_tolerance_s=settings.future_tolerance_s,
        )
    except ParseError as exc:
        log.warning("websub: push for %s ignored: %s", feed.url, exc.reason)
        return None
    known = store.known_identities(feed.url, [a.identity for a in articles])
    summary = store.record_articles(
        feed.url, signed(articles, known), window_days=settings.story_window_days
    )
    if summary.new or summary.updated:
        store.index_pending()
    log.info(
        "websub: push for %s: %d bytes, %d new, %d updated",
        feed.url,
        len(body),
        summary.new,
        summary.updated,
    )
    return summary
