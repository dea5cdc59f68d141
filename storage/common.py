"""What every backend shares that is not SQL: the stored forms of values (the rows a backend
writes, the records it reads back), a feed's new state after a fetch (which columns change
and to what), host keys. Pure; no connection here."""

from __future__ import annotations

import functools
import json
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ingest.errors import FeedError, GoneError, StoreError
from ingest.feededit import StoredFeed
from ingest.models import (
    Article,
    ArticleRecord,
    Feed,
    FeedOptions,
    FeedState,
    FetchResult,
    FilterRule,
    ParsedFeed,
    ScheduleDecision,
    StorySource,
    StoryView,
)
from ingest.settings import FeedSpec
from ingest.timeutil import from_iso, to_iso
from storage.leases import run_token

if TYPE_CHECKING:
    from ingest.dedupe import Signature

__all__ = [
    "FETCH_COLUMNS",
    "FULLER_COLUMNS",
    "HISTORY_KEEP",
    "MAX_INDEX_KEYS",
    "POSTINGS_PER_KEY",
    "RECENT_TIMES_KEEP",
    "VALUE_COLUMNS",
    "FeedRemovedError",
    "Prepared",
    "article_record",
    "article_values",
    "entry_times",
    "feed_from_row",
    "feed_state",
    "feed_state_record",
    "feed_update_params",
    "fetch_values",
    "filtered_values",
    "fuller_values",
    "host_key",
    "iso",
    "new_feed_values",
    "options_from_json",
    "options_to_json",
    "outlet",
    "revised_values",
    "stored_feeds",
    "story_view",
]

HISTORY_KEEP = 20  # fetch rows kept per feed
#: a story-index lookup (every backend's, so that they find the same candidates): at most
#: this many keys, and the newest rows of each key (a key shared by thousands of articles,
#: a common name or a stock phrase, says little; reading all would grow with the store)
MAX_INDEX_KEYS = 200
POSTINGS_PER_KEY = 16
RECENT_TIMES_KEEP = 100  # entry timestamps kept per feed for the posting rhythm

#: the stored columns of an article that `article_values` gives, in its order
VALUE_COLUMNS = (
    "feed_url",
    "identity",
    "guid",
    "url",
    "canonical_url",
    "title",
    "authors",
    "published_at",
    "updated_at",
    "fetched_at",
    "summary",
    "content_html",
    "content_text",
    "language",
    "tags",
    "image_url",
    "enclosures",
    "word_count",
    "content_hash",
    "date_source",
    "published_raw",
    "extra",
)
#: what a fuller copy of a stored article replaces (its id, first feed and dates stay)
FULLER_COLUMNS = ("title", "summary", "content_html", "content_text", "word_count",
                  "image_url", "authors", "language")  # fmt: skip
#: the columns of a `fetches` (history) row that `fetch_values` gives, in its order
FETCH_COLUMNS = ("feed_url", "at", "outcome", "http_status", "bytes", "new", "updated",
                 "duration_ms", "error", "next_poll_at", "reason")  # fmt: skip
# json.dumps(x, ensure_ascii=False, ...) builds an encoder per call; these are built once
_json = json.JSONEncoder(ensure_ascii=False).encode
_json_extra = json.JSONEncoder(ensure_ascii=False, default=str).encode
_iso_cached = functools.lru_cache(maxsize=4096)(to_iso)


def iso(dt: datetime | None) -> str | None:
    """to_iso, remembered for fixed-offset times (a batch shares its fetch time). Not for
    other zones: two times in the repeated hour of a DST change compare (and hash) equal
    whatever their fold, yet are an hour apart."""
    if dt is not None and type(dt.tzinfo) is timezone:
        return _iso_cached(dt)
    return to_iso(dt)


def article_values(a: Article) -> tuple[Any, ...]:
    """The stored values of `a`, in `VALUE_COLUMNS` order (lists as JSON text, times as
    `to_iso` text: the same on every backend, so `store copy` moves them as they are)."""
    return (
        a.feed_url,
        a.identity,
        a.guid,
        a.url,
        a.canonical_url,
        a.title,
        _json(list(a.authors)) if a.authors else "[]",
        iso(a.published_at),
        iso(a.updated_at),
        iso(a.fetched_at),
        a.summary,
        a.content_html,
        a.content_text,
        a.language,
        _json(list(a.tags)) if a.tags else "[]",
        a.image_url,
        _json([{"url": e.url, "type": e.type, "length": e.length} for e in a.enclosures])
        if a.enclosures
        else "[]",
        a.word_count,
        a.content_hash,
        a.date_source,
        a.published_raw,
        _json_extra(dict(a.extra)) if a.extra else "{}",
    )


def revised_values(a: Article) -> dict[str, Any]:
    """The columns a revision of `a` rewrites (all but its feed and identity), by name."""
    values = dict(zip(VALUE_COLUMNS, article_values(a), strict=True))
    del values["feed_url"], values["identity"]
    return values


def fuller_values(a: Article) -> dict[str, Any]:
    """The `FULLER_COLUMNS` of `a`, by name."""
    values = dict(zip(VALUE_COLUMNS, article_values(a), strict=True))
    return {k: values[k] for k in FULLER_COLUMNS}


def filtered_values(a: Article, now_s: str | None) -> tuple[Any, ...]:
    """A `filtered` row (feed_url, identity, title, url, reason, at) for a filtered-out
    article; `at` is the fetch's time, else the article's."""
    return (a.feed_url, a.identity, a.title, a.url, a.filtered, now_s or to_iso(a.fetched_at))


def fetch_values(
    feed_url: str,
    now_s: str | None,
    result: FetchResult,
    decision: ScheduleDecision,
    error: Exception | None,
    *,
    new: int,
    updated: int,
) -> tuple[Any, ...]:
    """A fetch's history row, in `FETCH_COLUMNS` order."""
    return (
        feed_url,
        now_s,
        "error" if error else result.outcome,
        result.status,
        result.bytes_read,
        new,
        updated,
        int(result.elapsed_s * 1000),
        str(error) if error else None,
        to_iso(decision.next_poll_at),
        decision.reason,
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    """An article's write work that needs no database, done before a writer queues for the
    store (`Store.prepare`): its row values and its story signature's index keys."""

    values: tuple[Any, ...]  # `article_values`
    blob: bytes  # the serialized signature
    keys: tuple[int, ...]  # `band_keys` of that signature


class FeedRemovedError(StoreError):
    """The feed's row went away while it was being fetched (`feeds remove` meanwhile)."""


def options_to_json(options: FeedOptions) -> str:
    data = asdict(options)
    defaults = asdict(FeedOptions())
    return json.dumps({k: v for k, v in data.items() if v != defaults[k]}, sort_keys=True)


def options_from_json(text: str) -> FeedOptions:
    data = json.loads(text or "{}")
    for key in ("keep", "block"):
        if key in data:
            data[key] = tuple(FilterRule(**rule) for rule in data[key])
    return FeedOptions(**data)


def outlet(url: str | None) -> str | None:
    """A source's outlet when its feed has no title: the host, without www."""
    if not url:
        return None
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.") or None


def host_key(url: str) -> int:
    """A stable 31-bit hash of the URL's host name (lower case; 0 for a URL without one):
    feeds with the same key are fetched by one worker process at a time (`claim_feeds`)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    return zlib.crc32(host.encode("utf-8", "surrogatepass")) & 0x7FFFFFFF if host else 0


def entry_times(text: str) -> tuple[datetime, ...]:
    """A feed's stored `recent_entry_times` (a JSON list, written in `to_iso`'s form). Read
    for every feed a run claims: dozens of stamps each, decoded in one pass by the C parser
    (faster than `from_iso` on each); a list holding any other form goes through `from_iso`."""
    stamps = json.loads(text)
    try:
        times = tuple(map(datetime.fromisoformat, stamps))
    except (TypeError, ValueError):
        times = None
    if times is None or any(t.tzinfo is not UTC for t in times):
        return tuple(t for t in map(from_iso, stamps) if t)
    return times


def new_feed_values(spec: FeedSpec, source: str, now_s: str | None) -> tuple[Any, ...]:
    """A new `feeds` row: (url, title, tags, options, source, added_at, host_key)."""
    return (
        spec.url,
        spec.title,
        json.dumps(list(spec.tags)),
        options_to_json(spec.options),
        source,
        now_s,
        host_key(spec.url),
    )


def feed_update_params(
    spec: FeedSpec, options: str, *, changed: bool, reactivate: bool
) -> dict[str, Any]:
    """The named parameters of a known feed's update to `spec` (`options`: its options as
    stored, `changed`: whether they differ from the stored ones)."""
    return {
        "title": spec.title,
        "tags": json.dumps(list(spec.tags)),
        "options": options,
        "changed": changed,
        "re": reactivate,
        "url": spec.url,
    }


def stored_feeds(rows: Iterable[Sequence[Any]]) -> list[StoredFeed]:
    """`feeds` rows of (url, title, tags, options, source) as `plan_sync` reads them."""
    return [
        StoredFeed(FeedSpec(r[0], r[1], tuple(json.loads(r[2])), options_from_json(r[3])), r[4])
        for r in rows
    ]


def feed_from_row(r: dict[str, Any]) -> Feed:
    """A `feeds` row (the same columns on every backend) as a Feed."""
    return Feed(
        url=r["url"],
        title=r["title"],
        tags=tuple(json.loads(r["tags"])),
        options=options_from_json(r["options"]),
        status=r["status"],
        etag=r["etag"],
        last_modified=r["last_modified"],
        body_hash=r["body_hash"],
        last_http_status=r["last_http_status"],
        last_error=r["last_error"],
        error_count=r["error_count"],
        last_fetched_at=from_iso(r["last_fetched_at"]),
        next_poll_at=from_iso(r["next_poll_at"]),
        interval_s=r["interval_s"],
        schedule_reason=r["schedule_reason"],
        recent_entry_times=entry_times(r["recent_entry_times"]),
        last_new_count=r["last_new_count"],
        last_known_count=r["last_known_count"],
        push_until=from_iso(r.get("push_until")),
    )


def feed_state(
    feed: Feed,
    result: FetchResult,
    decision: ScheduleDecision,
    parsed: ParsedFeed | None,
    articles: Sequence[tuple[Article, Signature | bytes | Prepared | None]],
    error: Exception | None,
    now_s: str | None,
    owner: str,
    *,
    new_count: int,
    known_count: int,
) -> dict[str, Any]:
    """The `feeds` columns a fetch's outcome sets, and their values (the lease released)."""
    status = "ok"
    if error is not None:
        status = "gone" if isinstance(error, GoneError) else "error"
    fields: dict[str, Any] = {
        "status": status,
        "last_attempt_at": now_s,
        "last_attempt_ms": int(time.time() * 1000),
        "last_http_status": result.status,
        "next_poll_at": to_iso(decision.next_poll_at),
        "interval_s": decision.interval_s,
        "schedule_reason": decision.reason,
        "lease_owner": None,
        "lease_until": None,
        "last_run": run_token(owner),
    }
    if error is not None:
        fields["last_error"] = str(error)
        fields["error_kind"] = error.kind if isinstance(error, FeedError) else "error"
        fields["error_count"] = feed.error_count + 1
        return fields
    fields.update(
        last_error=None,
        error_kind=None,
        error_count=0,
        last_fetched_at=now_s,
        last_new_count=new_count if articles else feed.last_new_count,
        last_known_count=known_count if articles else feed.last_known_count,
    )
    if result.etag is not None or result.last_modified is not None or not result.not_modified:
        fields["etag"] = result.etag
        fields["last_modified"] = result.last_modified
    if result.body_hash:
        fields["body_hash"] = result.body_hash
    if articles:  # the posting rhythm: publication times of recent entries
        times = [a.published_at for a, _ in articles if a.published_at and a.date_source == "feed"]
        stamps = {to_iso(t) for t in (*times, *feed.recent_entry_times)}
        recent = sorted((t for t in stamps if t), reverse=True)[:RECENT_TIMES_KEEP]
        fields["recent_entry_times"] = json.dumps(recent)
    if parsed is not None:
        fields["last_warning"] = parsed.bozo  # recovered from, e.g. not well-formed XML
        if parsed.title and not feed.title:
            fields["title"] = parsed.title
    return fields


def _json_list(text: str | None) -> tuple[Any, ...]:
    return tuple(json.loads(text)) if text else ()


def article_record(row: Sequence[Any]) -> ArticleRecord:
    """A row of the `ARTICLE_FIELDS` columns, as a record (JSON lists decoded)."""
    (aid, feed_url, guid, url, canonical, title, authors, published, updated, fetched,
     summary, html, text, language, tags, image, enclosures, words, content_hash,
     story_id, duplicate_of) = row  # fmt: skip
    return ArticleRecord(
        aid, feed_url, guid, url, canonical, title, _json_list(authors), published, updated,
        fetched, summary, html, text, language, _json_list(tags), image,
        _json_list(enclosures), words, content_hash, story_id, duplicate_of,
    )  # fmt: skip


def feed_state_record(r: dict[str, Any]) -> FeedState:
    """A `feeds` row as an operator reads it."""
    return FeedState(
        url=r["url"],
        title=r["title"],
        tags=_json_list(r["tags"]),
        source=r["source"],
        status=r["status"],
        last_http_status=r["last_http_status"],
        last_error=r["last_error"],
        error_kind=r["error_kind"],
        last_warning=r["last_warning"],
        error_count=r["error_count"],
        last_fetched_at=r["last_fetched_at"],
        last_attempt_at=r["last_attempt_at"],
        next_poll_at=r["next_poll_at"],
        interval_s=r["interval_s"],
        schedule_reason=r["schedule_reason"],
        moved_from=r["moved_from"],
        lease_owner=r["lease_owner"],
        lease_until=r["lease_until"],
    )


def story_view(story: dict[str, Any], sources: Sequence[dict[str, Any]]) -> StoryView:
    """A story row (story_id, title, url, first_seen_at, n_articles, n_sources,
    representative_id) and its source rows (article_id, feed_url, feed_title, url,
    first_seen_at, level, score, reason, duplicate_of, ordered by article) as one view: the
    outlet is the feed's title, else its host; a second feed carrying one article is linked
    by its URL."""
    out = []
    seen: set[int] = set()
    for src in sources:
        level, score, reason = src["level"], src["score"], src["reason"]
        if src["article_id"] in seen:  # another feed carrying the same URL
            level, score, reason = "same_url", 1.0, "same canonical URL"
        seen.add(src["article_id"])
        out.append(
            StorySource(
                article_id=src["article_id"],
                feed_url=src["feed_url"],
                url=src["url"],
                first_seen_at=src["first_seen_at"],
                level=level,
                score=score,
                reason=reason,
                outlet=src["feed_title"] or outlet(src["feed_url"]),
                duplicate_of=src.get("duplicate_of"),
            )
        )
    return StoryView(
        story_id=story["story_id"],
        title=story["title"],
        url=story["url"],
        first_seen_at=story["first_seen_at"],
        n_articles=story["n_articles"],
        n_sources=story["n_sources"],
        representative_id=story["representative_id"],
        sources=tuple(out),
    )
