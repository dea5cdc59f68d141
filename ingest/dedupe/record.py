"""Whether an incoming article is new, a revision, another source of a stored one, or must
stay away (README "Dedup rules"). Pure: the store looks up what it knows of the batch and
applies the decision."""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass

from ingest.models import Article

__all__ = ["FULLER_COPY", "RecordDecision", "decide_record"]

FULLER_COPY = 1.5  # a same-URL copy this much longer replaces a thin stored text


@dataclass(frozen=True, slots=True)
class RecordDecision:
    """action:

    - "tombstoned": pruned on purpose, it must not come back (nothing written);
    - "unchanged": this feed's article, same content (its source seen again);
    - "revised": this feed's article with a new content hash (updated in place);
    - "another_source": the same canonical URL stored from another feed (one more source);
    - "fuller": as "another_source", and its text replaces the stored thin one;
    - "new": a new article (its story is decided next).

    article_id: the stored article (0 for "tombstoned" and "new"); new_identity: the feed
    carries the stored article under an identity not seen before (guids that change on every
    fetch while the link stays), which becomes one more source row."""

    action: str
    article_id: int = 0
    new_identity: bool = False

    @property
    def outcome(self) -> str:
        """new | updated | unchanged: what the write summary counts."""
        if self.action == "new":
            return "new"
        return "updated" if self.action in ("revised", "fuller") else "unchanged"


def decide_record(
    a: Article,
    *,
    tombstones: Container[str],
    by_identity: Mapping[str, tuple[int, str]],
    same_feed_url: Mapping[str, tuple[int, str]],
    any_url: Mapping[str, tuple[int, int]],
) -> RecordDecision:
    """The decision for `a`, from what the store knows: `tombstones` (identities and
    canonical URLs of this feed's pruned items), this feed's sources by identity and by
    canonical URL -> (article id, content hash), any feed's articles by canonical URL ->
    (article id, word count)."""
    url = a.canonical_url
    if a.identity in tombstones or (url and url in tombstones):
        return RecordDecision("tombstoned")
    src = by_identity.get(a.identity)
    new_identity = False
    if src is None and url and url in same_feed_url:
        src, new_identity = same_feed_url[url], True
    if src is not None:
        article_id, old_hash = src
        action = "unchanged" if old_hash == a.content_hash else "revised"
        return RecordDecision(action, int(article_id), new_identity)
    if url and url in any_url:
        article_id, words = any_url[url]
        action = "fuller" if a.word_count > words * FULLER_COPY else "another_source"
        return RecordDecision(action, int(article_id))
    return RecordDecision("new")
