"""The data that flows through the pipe, as frozen dataclasses.

    due feeds (Feed) | fetch -> FetchResult | parse -> ParsedFeed[RawEntry]
                     | normalize -> Article | dedupe -> Article (identity, story) | store

Every stage takes and returns these types; none of them does I/O.  Datetimes are always
timezone-aware UTC.  Sequences are tuples so records stay hashable and comparable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, NamedTuple

__all__ = [
    "ARTICLE_FIELDS",
    "Article",
    "ArticleRecord",
    "Content",
    "Enclosure",
    "Feed",
    "FeedOptions",
    "FeedState",
    "FetchRecord",
    "FetchResult",
    "FilterRule",
    "FilteredItem",
    "Held",
    "Media",
    "ParsedFeed",
    "RawEntry",
    "ScheduleDecision",
    "SearchHit",
    "SeenEntry",
    "StoreStats",
    "StorySource",
    "StoryView",
    "Subscription",
    "Tombstone",
    "WriteSummary",
]


# --------------------------------------------------------------------------- feeds


@dataclass(frozen=True, slots=True)
class FilterRule:
    """One keep/block rule: `pattern` (a regex, or a plain keyword when `regex` is false)
    matched case-insensitively against `field` of the normalized article.

    field: one of "title", "content", "url", "author", "tags", "any".
    """

    field: str
    pattern: str
    regex: bool = False


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """Per-feed options from the operator's config (or `feeds add`). None means "use the
    global setting"."""

    interval_s: int | None = None
    min_interval_s: int | None = None
    max_interval_s: int | None = None
    allow_private_network: bool = False
    full_text: bool = False  # opt-in trafilatura extraction for summary-only feeds
    cleanup: bool = True  # boilerplate cleanup (repeated captions, page debris)
    keep: tuple[FilterRule, ...] = ()
    block: tuple[FilterRule, ...] = ()
    # HTTP: basic auth, extra request headers and cookies (sent to the feed's own host
    # only), a User-Agent of its own, a proxy ("direct": none) overriding the global one.
    # Secrets stay out of repr (and so out of logs and tracebacks).
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    cookies: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    user_agent: str | None = None
    proxy: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # read back from JSON, name / value pairs come as lists: made tuples again
        for name in ("headers", "cookies"):
            value = getattr(self, name)
            if value and not all(isinstance(pair, tuple) for pair in value):
                object.__setattr__(self, name, tuple((str(k), str(v)) for k, v in value))


@dataclass(frozen=True, slots=True)
class Feed:
    """A feed as the store knows it: what the operator configured plus scheduling state."""

    url: str
    title: str | None = None
    tags: tuple[str, ...] = ()
    options: FeedOptions = field(default_factory=FeedOptions)
    status: str = "ok"  # ok | error | gone | disabled
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_http_status: int | None = None
    last_error: str | None = None
    error_count: int = 0
    last_fetched_at: datetime | None = None
    next_poll_at: datetime | None = None
    interval_s: int | None = None
    schedule_reason: str | None = None
    # publication times of recently seen entries (for the posting rhythm), newest first
    recent_entry_times: tuple[datetime, ...] = ()
    # how many of the last fetch's items were already known / new (Media Cloud's feedback)
    last_new_count: int = 0
    last_known_count: int = 0
    # a live WebSub subscription's lease end: polled at the max interval until then
    push_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    """A feed's WebSub subscription (ingest.websub). `callback_id` names its callback URL
    (`<websub_callback_url>/websub/<callback_id>`); `state`: "nohub" (the feed names no
    hub; `checked_at` says when it was looked at), "pending" (asked, not verified yet),
    "active" (verified; lease until `lease_until`), "unsubscribing", "denied" or "failed"
    (`error` says why). `checked_at`: when the state was last settled (looked at, verified);
    `requested_at`: when the hub was last asked (a renewal in flight when later)."""

    feed_url: str
    callback_id: str
    state: str
    hub: str | None = None
    topic: str | None = None
    secret: str | None = field(default=None, repr=False)
    lease_until: datetime | None = None
    checked_at: datetime | None = None
    requested_at: datetime | None = None
    error: str | None = None


# --------------------------------------------------------------------------- fetch


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one HTTP fetch produced. Exactly one of these holds:

    - `error` is set: the fetch failed (body is None);
    - `not_modified`: 304, or the body hash equals the stored one (body is None);
    - otherwise `body` holds the (decompressed) feed bytes.
    """

    url: str  # the feed URL as requested
    final_url: str  # after redirects
    status: int | None = None  # last HTTP status (None when no response was had)
    body: bytes | None = None
    body_hash: str | None = None
    not_modified: bool = False
    unchanged_body: bool = False  # 200 but same bytes as last time
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-cased response headers
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None  # new URL after 301/308
    error: Exception | None = None  # an ingest.errors.FeedError
    fetched_at: datetime | None = None
    elapsed_s: float = 0.0
    bytes_read: int = 0

    @property
    def outcome(self) -> str:
        """error | unchanged | not_modified | ok (an unchanged body is also not_modified)."""
        if self.error is not None:
            return "error"
        if self.unchanged_body:
            return "unchanged"
        return "not_modified" if self.not_modified else "ok"


# --------------------------------------------------------------------------- parse


@dataclass(frozen=True, slots=True)
class Content:
    """A piece of entry text as the feed gave it. `type` is a MIME type: text/plain,
    text/html or application/xhtml+xml. `base` is the xml:base in force (or None)."""

    value: str
    type: str = "text/html"
    base: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Enclosure:
    url: str
    type: str | None = None
    length: int | None = None


@dataclass(frozen=True, slots=True)
class Media:
    """A media:content / media:thumbnail / itunes:image / JSON Feed image reference.
    kind: "content" | "thumbnail" | "image"."""

    url: str
    kind: str = "content"
    type: str | None = None
    medium: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One entry, format-neutral, before normalization. Values are as the feed gave them
    (HTML not sanitized, relative URLs not resolved), except dates, which are parsed to UTC
    where possible (the raw strings are kept)."""

    guid: str | None = None
    link: str | None = None
    orig_link: str | None = None  # feedburner:origLink and similar: the publisher's URL
    title: str | None = None
    title_type: str = "text/plain"
    summary: Content | None = None
    content: tuple[Content, ...] = ()
    authors: tuple[str, ...] = ()  # raw author strings ("jo@x.org (Jo Smith)", "Jo Smith")
    published: datetime | None = None
    published_raw: str | None = None
    updated: datetime | None = None
    updated_raw: str | None = None
    tags: tuple[str, ...] = ()
    enclosures: tuple[Enclosure, ...] = ()
    media: tuple[Media, ...] = ()
    language: str | None = None
    base: str | None = None  # xml:base of the entry, else the feed's
    extra: Mapping[str, Any] = field(default_factory=dict)  # itunes:*, comments, source ...


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """The parse stage's output for one feed document."""

    url: str
    format: str  # rss20, rss10, rss09x, atom10, atom03, json10, json11, cdf, unknown
    title: str | None = None
    link: str | None = None
    language: str | None = None
    entries: tuple[RawEntry, ...] = ()
    # server-side scheduling hints found in the document
    ttl_minutes: int | None = None
    sy_update_period: str | None = None  # hourly | daily | weekly | monthly | yearly
    sy_update_frequency: int | None = None
    skip_hours: tuple[int, ...] = ()
    skip_days: tuple[str, ...] = ()
    bozo: str | None = None  # a non-fatal problem the parser recovered from
    parser: str = "feedparser"  # feedparser | fast | jsonfeed


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Article:
    """The article record: the downstream contract (see README "Record schema").

    `id` and `story_id` are assigned by the store; everything else by normalize / dedupe.
    """

    feed_url: str
    identity: str  # per-feed identity key (see ingest.dedupe)
    guid: str | None
    url: str | None
    canonical_url: str | None
    title: str
    authors: tuple[str, ...]
    published_at: datetime | None
    updated_at: datetime | None
    fetched_at: datetime
    summary: str
    content_html: str
    content_text: str
    language: str | None
    tags: tuple[str, ...]
    image_url: str | None
    enclosures: tuple[Enclosure, ...]
    word_count: int
    content_hash: str
    # "feed": the entry's own date; "updated": taken from its updated date; "clamped": in the
    # future beyond tolerance, set to fetch time; "first_seen": no date, set to fetch time
    date_source: str = "feed"
    published_raw: str | None = None
    filtered: str | None = None  # why a keep/block rule dropped it (None: kept)
    extra: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None
    story_id: int | None = None
    # the digest of the raw entry it came from (ingest.entrydigest), stored with its source
    entry_digest: str | None = None
    # True: the store holds this item from an identical raw entry, so normalize left it
    # alone; only feed_url, identity, guid, url, canonical_url, content_hash, fetched_at and
    # entry_digest are filled (what the store reads of an unchanged item)
    reused: bool = False


class SeenEntry(NamedTuple):
    """A source the store holds of a feed, seen in its latest fetch, by the digest of the raw
    entry it was normalized from (`Store.seen_entries`): what normalize would give again."""

    identity: str
    url: str | None
    canonical_url: str | None
    content_hash: str


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True, slots=True)
class ScheduleDecision:
    """When to poll a feed next, and why (a short reason shown to the operator)."""

    next_poll_at: datetime
    interval_s: int
    reason: str


@dataclass(frozen=True, slots=True)
class WriteSummary:
    """What storing one feed's batch did."""

    feed_url: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    filtered: int = 0
    new_ids: tuple[int, ...] = ()

    def plus(self, other: WriteSummary) -> WriteSummary:
        """Both writes together (a huge feed written in chunks)."""
        return WriteSummary(
            feed_url=other.feed_url,
            new=self.new + other.new,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            filtered=self.filtered + other.filtered,
            new_ids=self.new_ids + other.new_ids,
        )


@dataclass(frozen=True, slots=True)
class Held:
    """A due feed a run left alone because another live run holds it (`by` = "feed") or
    another feed of its host (`by` = "host"), until `until` at the latest."""

    url: str
    until: datetime
    by: str


@dataclass(frozen=True, slots=True)
class FetchWrite:
    """One fetch's outcome for the store (`Store.record_fetches` writes several in one
    transaction): the feed's new state and the articles it brought, each with its story
    signature (an `ingest.dedupe.Signature` or its serialized bytes, as the pipeline carries
    it; None for what a keep/block rule dropped and for what the feed carried before: the
    store updates or skips an article it knows by identity and never matches its story)."""

    feed: Feed
    result: FetchResult
    decision: ScheduleDecision
    parsed: ParsedFeed | None = None
    articles: Sequence[tuple[Article, Any]] = ()
    window_days: int = 3


# --------------------------------------------------------------------------- what a store reads

#: the article record, in export order (README "Record schema")
ARTICLE_FIELDS = (
    "id",
    "feed_url",
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
    "story_id",
    "duplicate_of",
)


def _plain(value: Any) -> Any:
    """A record value as JSON has it (tuples as lists, nested records as dicts)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return value


class _Record:
    """`as_dict()` for the read results below (JSON output, CSV rows)."""

    __slots__ = ()

    def as_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ArticleRecord(_Record):
    """A stored article as exported (`ARTICLE_FIELDS`; times as stored ISO 8601 text)."""

    id: int
    feed_url: str
    guid: str | None
    url: str | None
    canonical_url: str | None
    title: str
    authors: tuple[str, ...]
    published_at: str | None
    updated_at: str | None
    fetched_at: str
    summary: str
    content_html: str
    content_text: str
    language: str | None
    tags: tuple[str, ...]
    image_url: str | None
    enclosures: tuple[Mapping[str, Any], ...]
    word_count: int
    content_hash: str
    story_id: int | None
    # the earliest stored article whose text this one copies (the copy level of its story;
    # None: no copy). Copies of copies point at that original too
    duplicate_of: int | None = None


@dataclass(frozen=True, slots=True)
class SearchHit(_Record):
    id: int
    title: str
    url: str | None
    published_at: str | None
    feed_url: str
    snippet: str  # the matched words in [brackets]


@dataclass(frozen=True, slots=True)
class StorySource(_Record):
    """One feed carrying one article of a story, and the link that put it there."""

    article_id: int
    feed_url: str
    url: str | None
    first_seen_at: str
    level: str | None  # self | duplicate | event | merged | same_url
    score: float | None
    reason: str | None
    outlet: str | None  # the feed's title, else its host
    # the earliest article whose text this source's article copies (None: its own report)
    duplicate_of: int | None = None

    @property
    def copy(self) -> bool:
        """Whether this source carries a copy of another article of the story, rather
        than its own report (another feed carrying the same URL is a copy too)."""
        return self.duplicate_of is not None or self.level == "same_url"


@dataclass(frozen=True, slots=True)
class StoryView(_Record):
    story_id: int
    title: str
    url: str | None
    first_seen_at: str
    n_articles: int
    n_sources: int
    representative_id: int  # the article whose title and URL the story shows
    sources: tuple[StorySource, ...] = ()


@dataclass(frozen=True, slots=True)
class FetchRecord(_Record):
    """One row of a feed's fetch history."""

    id: int
    feed_url: str
    at: str | None
    outcome: str
    http_status: int | None
    bytes: int
    new: int
    updated: int
    duration_ms: int
    error: str | None
    next_poll_at: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class Tombstone(_Record):
    """An item `articles prune` deleted, kept so its feed does not bring it back."""

    feed_url: str
    identity: str
    canonical_url: str | None
    deleted_at: str


@dataclass(frozen=True, slots=True)
class FilteredItem(_Record):
    """An item a keep/block rule dropped."""

    id: int
    feed_url: str
    identity: str
    title: str | None
    url: str | None
    reason: str
    at: str | None


@dataclass(frozen=True, slots=True)
class FeedState(_Record):
    """A feed's stored state as an operator reads it (`feeds list --json`, `feeds show`)."""

    url: str
    title: str | None
    tags: tuple[str, ...]
    source: str  # where it came from: config | cli | opml
    status: str
    last_http_status: int | None
    last_error: str | None
    error_kind: str | None
    last_warning: str | None
    error_count: int
    last_fetched_at: str | None
    last_attempt_at: str | None
    next_poll_at: str | None
    interval_s: int | None
    schedule_reason: str | None
    moved_from: str | None
    lease_owner: str | None  # the worker ("host:pid:run") fetching it now
    lease_until: str | None


@dataclass(frozen=True, slots=True)
class StoreStats(_Record):
    feeds: int
    feeds_by_status: Mapping[str, int]
    articles: int
    sources: int
    stories: int
    multi_source_stories: int
    filtered: int
    last_article_id: int
    last_fetched_at: str | None
    db_bytes: int  # the file's size (SQLite), the database's (PostgreSQL)
