"""Per-feed article identity (pure, deterministic).

`assign_identities(articles)` gives every article of ONE fetched feed an `identity`, the key
the store upserts on within that feed. Keys are prefixed by what they came from:

    g:<guid>            the entry's guid / Atom id / JSON Feed id
    u:<canonical url>   the article link after ingest.urls.canonical_url
    h:<content hash>    Article.content_hash (normalized title + text)

Keys longer than 200 characters are replaced by `<prefix>sha1:<hex>` of the value.

Rules, in order (peers: Miniflux, FreshRSS, NewsBlur; see PEERS.md):

1. Counter guids: when every guid present is a small integer and together they are exactly
   the positions 0..n-1 or 1..n, the "guid" numbers the items of this fetch, not the
   articles; the whole feed uses its links (rule 4).
2. Repeated guids (FreshRSS' 5 % rule): when more than 5 % of the items carry a guid that
   another item of the same fetch also carries (this includes every item sharing one guid,
   miniflux #4197, NewsBlur #1470), the guids of the feed are not trusted: the whole feed
   uses its links (rule 4). Blank guids do not count towards the 5 %: a missing guid says
   nothing about the others.
3. Otherwise an item with a guid that is unique in the fetch is `g:<guid>`; an item with a
   blank guid, or a repeated one (<= 5 %), falls to rule 4.
4. Link: `u:<canonical url>` when the item has a link that no other item of the fetch has;
   else `h:<content hash>`.

Items identical in link and content end up with the same key: they are one article.

Guids that change on every fetch while the link stays (miniflux #2358, FreshRSS #5151)
cannot be seen within one fetch. The store handles them: an incoming article whose identity
is unknown is matched to a stored article of the same feed with the same canonical_url and
updates it instead of creating a duplicate.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Sequence

from .models import Article

__all__ = [
    "MAX_KEY_LEN",
    "REPEAT_THRESHOLD",
    "assign_identities",
    "identity_keys",
    "is_counter_guids",
]

REPEAT_THRESHOLD = 0.05
MAX_KEY_LEN = 200


def _key(prefix: str, value: str) -> str:
    if len(value) > MAX_KEY_LEN:
        return f"{prefix}sha1:{hashlib.sha1(value.encode('utf-8')).hexdigest()}"
    return prefix + value


def is_counter_guids(guids: Sequence[str | None]) -> bool:
    """True when the guids present are 0..n-1 or 1..n (n >= 3): item positions."""
    present = [g for g in guids if g]
    if len(present) < 3 or not all(g.isdigit() and len(g) <= 4 for g in present):
        return False
    nums = {int(g) for g in present}
    if len(nums) != len(present):
        return False
    low = min(nums)
    return low in (0, 1) and nums == set(range(low, low + len(present)))


def assign_identities(articles: Sequence[Article]) -> list[Article]:
    """The articles of one feed, in order, each with its `identity` set (see module doc)."""
    keys = identity_keys(
        [a.guid for a in articles],
        [a.canonical_url or a.url or None for a in articles],
        [a.content_hash for a in articles],
    )
    return [dataclasses.replace(a, identity=k) for a, k in zip(articles, keys, strict=True)]


def identity_keys(
    guids: Sequence[str | None], links: Sequence[str | None], content_hashes: Sequence[str]
) -> list[str]:
    """The identities `assign_identities` gives, from each article's guid, link (its
    canonical URL, else its URL) and content hash: for a caller that builds its articles
    after (ingest.normalize), so that each record is made once."""
    if not guids:
        return []
    stripped = [(g or "").strip() or None for g in guids]
    counts = Counter(g for g in stripped if g)
    repeated = sum(c for c in counts.values() if c > 1)
    trust_guids = not is_counter_guids(stripped) and repeated <= REPEAT_THRESHOLD * len(guids)
    link_counts = Counter(u for u in links if u)
    out: list[str] = []
    for guid, link, chash in zip(stripped, links, content_hashes, strict=True):
        if trust_guids and guid and counts[guid] == 1:
            out.append(_key("g:", guid))
        elif link and link_counts[link] == 1:
            out.append(_key("u:", link))
        else:
            out.append(_key("h:", chash))
    return out
