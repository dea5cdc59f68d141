"""The story decision for one new article: join a story, found one, or fold several.

Pure: the store hands in the candidates its index found (each with its story), and reads
on request what the decision needs of a story (`StoryState`: no chained merges, see
`ingest.dedupe.chains`) and of a matched article (the article it copies); it applies the
returned `StoryDecision` inside its write transaction; no backend decides a story.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ._match import Candidate, match
from ._signature import Signature
from .chains import StoryState, join_story

__all__ = ["StoryDecision", "better_representative", "candidate_since", "decide"]

#: an article with at least this many words counts as full text: a story's representative
#: is its earliest full-text article, else its earliest article (README "Dedup rules")
FULL_TEXT_WORDS = 120


@dataclass(frozen=True, slots=True)
class StoryDecision:
    """Where a new article goes.

    story_id: the story it ends up in (its own id when it founds one: `level` "self");
    level/score/reason/matched_article_id: the link that justified joining (None when new);
    fold: other stories to fold into `story_id` (the article is a copy, by body containment,
    of articles in each, and the duplicate relation is transitive); ascending, and all
    higher than `story_id` (the oldest story keeps its id).
    duplicate_of: the earliest (lowest id) article whose text the new one copies, None when
    it copies none; repoint: copy groups the new article joins to that one (it copies
    articles of several): their originals, ascending, which with their copies now point
    to `duplicate_of` (copies of copies are copies)."""

    story_id: int
    level: str = "self"
    score: float | None = None
    reason: str | None = None
    matched_article_id: int | None = None
    fold: tuple[int, ...] = ()
    duplicate_of: int | None = None
    repoint: tuple[int, ...] = ()

    @property
    def founds(self) -> bool:
        """True when the article founds a new story."""
        return self.level == "self"


def candidate_since(when: datetime, window_days: int) -> datetime | None:
    """The earliest publication time a candidate may have (None: no bound, for a date so
    early that the window reaches before year 1)."""
    try:
        return when - timedelta(days=window_days)
    except OverflowError:
        return None


def decide(
    article_id: int,
    sig: Signature | None,
    candidates: Sequence[Candidate],
    *,
    published_at: datetime | None,
    story_of: Callable[[int], StoryState] | None = None,
    copy_of: Callable[[int], int | None] | None = None,
) -> StoryDecision:
    """The story of the new article `article_id` (signature `sig`; None: an article that is
    never matched) among `candidates`. A new story takes the id of its first article.

    story_of(story_id): the story's state, asked for an event-level join (None: single
    links, no chain rule); copy_of(article_id): the stored `duplicate_of` of a matched
    article (None: taken as an original)."""
    if sig is None:
        return StoryDecision(story_id=article_id)
    if story_of is None:
        found = match(sig, candidates, published_at=published_at)
    else:
        found = join_story(sig, candidates, story_of, published_at=published_at)
    if found is None:
        return StoryDecision(story_id=article_id)
    stories = (found.story_id, *found.merge)
    into = min(stories)
    duplicate_of = None
    repoint: tuple[int, ...] = ()
    if found.level == "duplicate":
        roots = {_root(a, copy_of) for a in (found.article_id, *(a for _, a in found.copies))}
        duplicate_of = min(roots)
        repoint = tuple(sorted(roots - {duplicate_of}))
    return StoryDecision(
        story_id=into,
        level=found.level,
        score=found.score,
        reason=found.reason,
        matched_article_id=found.article_id,
        fold=tuple(sorted(set(stories) - {into})),
        duplicate_of=duplicate_of,
        repoint=repoint,
    )


def _root(article_id: int, copy_of: Callable[[int], int | None] | None) -> int:
    """The original of a copy group an article belongs to."""
    root = copy_of(article_id) if copy_of is not None else None
    return article_id if root is None else root


def better_representative(
    new: tuple[int, str | None, int], current: tuple[int, str | None, int]
) -> bool:
    """Whether an article should replace a story's representative. Each side is (word
    count, publication time else first seen as stored ISO text, article id): the earliest
    full-text article wins; without one, the earliest article; ties to the lower id."""
    n_words, n_when, n_id = new
    c_words, c_when, c_id = current
    return (n_words < FULL_TEXT_WORDS, n_when or "", n_id) < (
        c_words < FULL_TEXT_WORDS,
        c_when or "",
        c_id,
    )
