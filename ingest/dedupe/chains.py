"""No chained merges: an event-level join needs the story as a whole, not one member (pure).

    join_story(sig, candidates, story_of, published_at=) -> Match | None
    event_join_ok(sig, story, published_at=) -> (bool, reason)

`ingest.dedupe.match` links a new article to its single best candidate. With single links
a story grows through chains: A joins B's story on one shared name, C joins A on another,
and C's story now holds B, which C has nothing to do with (issue #18: a Mt. Gox story took
in a Sbarro bankruptcy and a Japanese Bitcoin tax ruling). The rule:

- a copy (level "duplicate") joins as before: copies of copies are copies, transitive;
- an event-level match joins the story only when the new article also agrees with the
  story's representative (the article it shows: its earliest full text) or with at least
  QUORUM of its reports -- an article and its copies are one report; the SAMPLE latest
  reports are asked. An article agrees when the pair is a match of its own (`score`), or,
  for two full texts, when their similarity reaches SUPPORT (a looser bar than a match:
  the single link already met the strict one);
- an event story stays bounded: it takes no new report more than MAX_SPAN after its
  earliest article (undated stories are not bounded in time), nor once it holds
  MAX_REPORTS reports;
- when the best story refuses, the next best candidate's story is asked, and so on; none
  left: the article founds a story.

A story of one report (and its copies) is the matched article itself: nothing more to ask.
`story_of(story_id)` hands in what the rule reads of a story (`StoryState`); it is called
only for an event-level best match, once per story asked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ._match import Candidate, Match, match, score
from ._signature import FEW_TERMS, Signature

__all__ = [
    "MAX_REPORTS",
    "MAX_SPAN",
    "QUORUM",
    "SAMPLE",
    "SUPPORT",
    "Member",
    "StoryState",
    "event_join_ok",
    "join_story",
]

QUORUM = 0.5  # share of a story's asked reports an event-level join must agree with
SUPPORT = 0.25  # a full-text report agrees at this similarity (0..1) without a match of its own
SAMPLE = 8  # reports asked, the latest ones (a cost bound: SAMPLE scores at most per join)
MAX_SPAN = timedelta(days=3)  # an event story takes no new report this long after its first
MAX_REPORTS = 100  # ... nor once it holds this many reports (copies not counted)
# (a zero span or count: no bound)

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Member:
    """An article of a story. copy_of: the earliest article it copies (`duplicate_of`),
    None when it is no copy. signature: decoded, or serialized (decoded when asked)."""

    article_id: int
    signature: Signature | bytes
    published_at: datetime | None
    copy_of: int | None = None

    def decoded(self) -> Signature:
        sig = self.signature
        return sig if isinstance(sig, Signature) else Signature.from_bytes(sig)


@dataclass(frozen=True, slots=True)
class StoryState:
    """What the rule reads of a story: `latest`, its latest members (at least the articles
    of its SAMPLE latest reports, copies included); `reports`, how many of its articles
    are no copy; `began`, the earliest publication date of its articles (None: undated);
    `representative`, the article the story shows (None: unknown)."""

    latest: Sequence[Member]
    reports: int
    began: datetime | None = None
    representative: Member | None = None

    @classmethod
    def of(cls, members: Sequence[Member], representative: int | None = None) -> StoryState:
        """The state of a story whose members are all at hand (`representative`: the id of
        the one the story shows)."""
        dates = [d for m in members if (d := _utc(m.published_at)) is not None]
        reports = sum(1 for m in members if m.copy_of is None)
        rep = next((m for m in members if m.article_id == representative), None)
        return cls(members, reports, min(dates, default=None), rep)


def _utc(when: datetime | None) -> datetime | None:
    """A date without an offset is UTC (as the parse stage reads them)."""
    return when if when is None or when.tzinfo else when.replace(tzinfo=UTC)


def _hours(a: datetime | None, b: datetime | None) -> float | None:
    a, b = _utc(a), _utc(b)
    if a is None or b is None:
        return None
    return abs((a - b).total_seconds()) / 3600


def _agrees(sig: Signature, m: Member, published_at: datetime | None, support: float) -> bool:
    other = m.decoded()
    level, value, _ = score(sig, other, _hours(published_at, m.published_at))
    if level is not None:
        return True
    # headline-only pairs share a verb and a topic across events (a Sbarro and a Mt. Gox
    # headline on "files for bankruptcy", bench/README.md): only a match counts for them
    full = len(sig.terms) >= FEW_TERMS and len(other.terms) >= FEW_TERMS
    return full and value >= support


def event_join_ok(
    sig: Signature,
    story: StoryState,
    *,
    published_at: datetime | None = None,
    quorum: float | None = None,
    support: float | None = None,
    sample: int | None = None,
    max_span: timedelta | None = None,
    max_reports: int | None = None,
) -> tuple[bool, str]:
    """Whether a new article (`sig`, `published_at`) that matched one of a story's members
    at the event level may join the story, and why (see the module docstring). The
    keyword values default to the module's (read at each call)."""
    quorum = QUORUM if quorum is None else quorum
    support = SUPPORT if support is None else support
    sample = SAMPLE if sample is None else sample
    max_span = MAX_SPAN if max_span is None else max_span
    max_reports = MAX_REPORTS if max_reports is None else max_reports
    reports: dict[int, list[Member]] = {}
    for m in story.latest:
        reports.setdefault(m.copy_of if m.copy_of is not None else m.article_id, []).append(m)
    if len(reports) <= 1 and story.reports <= 1:
        return True, "one report"
    now, began = _utc(published_at), _utc(story.began)
    if max_span.total_seconds() > 0 and now and began and now - began > max_span:
        return False, f"story began more than {max_span} before"
    if max_reports > 0 and story.reports >= max_reports:
        return False, f"story holds {story.reports} reports"

    def latest(group: list[Member]) -> tuple[datetime, int]:
        when = max((d for m in group if (d := _utc(m.published_at))), default=_NEVER)
        return when, max(m.article_id for m in group)

    asked = sorted(reports.values(), key=latest, reverse=True)[:sample]
    votes = sum(any(_agrees(sig, m, published_at, support) for m in group) for group in asked)
    if votes >= quorum * len(asked):
        return True, f"agrees with {votes} of {len(asked)} reports"
    rep = story.representative
    if rep is not None and _agrees(sig, rep, published_at, support):
        return True, f"agrees with the representative, {votes} of {len(asked)} reports"
    return False, f"agrees with {votes} of {len(asked)} reports"


def join_story(
    sig: Signature,
    candidates: Sequence[Candidate],
    story_of: Callable[[int], StoryState],
    *,
    published_at: datetime | None = None,
) -> Match | None:
    """`match`, with an event-level join put to the whole story (see the module
    docstring; the rule's values are the module's): the best match whose story agrees, or
    None."""
    remaining = list(candidates)
    while remaining:
        found = match(sig, remaining, published_at=published_at)
        if found is None or found.level == "duplicate":
            return found
        ok, _ = event_join_ok(sig, story_of(found.story_id), published_at=published_at)
        if ok:
            return found
        remaining = [c for c in remaining if c.story_id != found.story_id]
    return None
