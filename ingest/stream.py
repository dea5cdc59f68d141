"""Normalize a big feed in chunks, in constant memory (issue #6: a huge feed without blow-up).

    iter_fast_parse(body, url, headers)        (ingest.parse) -> (feed, entries) | None
      | normalize_stream(feed, entries, ...)   -> chunks of Articles (identities, filters)

`normalize_stream` is `ingest.normalize.normalize_feed` applied to successive chunks of
`chunk` entries (so every field rule, the feed-language detection, the identity rules of
`ingest.identity` and the keep/block filters are the very same code), plus a little state
carried from chunk to chunk so that identities stay unique and stable across the whole feed.
A feed that fits in one chunk gives exactly `normalize_feed`'s list.

Rules that need the whole feed, and how chunks approximate them:

- Repeated guids / links: `assign_identities` decides uniqueness within a chunk. A key that
  an earlier chunk already used is settled here: a repeated guid (`g:`) falls to the link
  rule (`u:<link>` when that link is unique in its chunk and unused, else `h:<content hash>`);
  a repeated link (`u:`) keeps its key only when the content is the same (one article, as
  the whole-feed rule would make it), else falls to `h:`; a repeated `h:` is the same content
  and stays one article. Whole-feed `assign_identities` would have moved the *first* holder
  of a repeated guid / link off `g:` / `u:` too; here it keeps its key (already yielded).
  The articles are partitioned the same way; only the key of that first holder differs.
- The 5 % repeated-guid rule and the counter-guid rule are judged per chunk, and a chunk
  that distrusts its guids makes every LATER chunk distrust them too (their `g:` keys go to
  the link rule). Earlier chunks keep their `g:` keys. A feed whose guids are 1..n is seen
  as counter guids by its first chunk and uses links throughout (whole-feed, n > 9999 would
  have trusted them: `is_counter_guids` wants at most 4 digits).
- Feed language detection (articles with no declaration, too short to detect alone) samples
  the chunk's articles rather than the whole feed's.

State kept across chunks: one 64-bit hash per distinct key and of its content hash
(a dict entry an article), nothing else.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice

import xxhash

from .identity import MAX_KEY_LEN, REPEAT_THRESHOLD, is_counter_guids
from .models import Article, FeedOptions, ParsedFeed, RawEntry
from .normalize import normalize_feed

__all__ = ["DEFAULT_CHUNK", "normalize_stream"]

DEFAULT_CHUNK = 1000


def normalize_stream(
    parsed: ParsedFeed,
    entries: Iterable[RawEntry],
    *,
    feed_url: str,
    fetched_at: datetime,
    options: FeedOptions,
    future_tolerance_s: int,
    chunk: int = DEFAULT_CHUNK,
) -> Iterator[list[Article]]:
    """Lists of at most `chunk` Articles, in entry order, identities assigned and filters
    applied as by `normalize_feed` (see the module doc for the cross-chunk rules). `parsed`
    gives the feed-level fields (its own `entries` are ignored). Raises ValueError on a
    chunk size below 1."""
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk!r}")
    keys = _ChunkKeys()
    it = iter(entries)
    while batch := tuple(islice(it, chunk)):
        articles = normalize_feed(
            dataclasses.replace(parsed, entries=batch),
            feed_url=feed_url,
            fetched_at=fetched_at,
            options=options,
            future_tolerance_s=future_tolerance_s,
        )
        yield keys.settle(articles)


# --------------------------------------------------------------------------- identities


def _key(prefix: str, value: str) -> str:
    """ingest.identity's key shape: long values replaced by their SHA-1."""
    if len(value) > MAX_KEY_LEN:
        return f"{prefix}sha1:{hashlib.sha1(value.encode('utf-8')).hexdigest()}"
    return prefix + value


def _h(s: str) -> int:
    return xxhash.xxh3_64_intdigest(s.encode("utf-8", "surrogatepass"))


def _distrusts_guids(articles: Sequence[Article]) -> bool:
    """ingest.identity's guid verdict for one chunk: counter guids or > 5 % repeated."""
    guids = [(a.guid or "").strip() or None for a in articles]
    counts = Counter(g for g in guids if g)
    repeated = sum(c for c in counts.values() if c > 1)
    return is_counter_guids(guids) or repeated > REPEAT_THRESHOLD * len(articles)


class _ChunkKeys:
    """Identity keys already given in earlier chunks, and whether guids were distrusted."""

    __slots__ = ("distrust", "used")

    def __init__(self) -> None:
        self.used: dict[int, int] = {}  # hash of key -> hash of its article's content_hash
        self.distrust = False

    def settle(self, articles: list[Article]) -> list[Article]:
        """`articles` (one chunk, identities from assign_identities) with keys made unique
        against earlier chunks; records this chunk's keys."""
        if not self.used and not self.distrust:
            out = articles  # the first chunk: exactly normalize_feed's keys
        else:
            links = [a.canonical_url or a.url or None for a in articles]
            link_counts = Counter(u for u in links if u)
            out = []
            for art, link in zip(articles, links, strict=True):
                key = art.identity
                if key.startswith("g:") and (self.distrust or _h(key) in self.used):
                    key = (
                        _key("u:", link)
                        if link and link_counts[link] == 1
                        else _key("h:", art.content_hash)
                    )
                if key.startswith("u:"):
                    seen = self.used.get(_h(key))
                    if seen is not None and seen != _h(art.content_hash):
                        key = _key("h:", art.content_hash)
                out.append(art if key == art.identity else dataclasses.replace(art, identity=key))
        for art in out:
            self.used[_h(art.identity)] = _h(art.content_hash)
        self.distrust = self.distrust or _distrusts_guids(articles)
        return out
