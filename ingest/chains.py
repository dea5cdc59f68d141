"""No chained merges: an event-level join needs the story as a whole, not one member (pure).

    join_story(sig, candidates, members_of, published_at=) -> Match | None
    event_join_ok(sig, members, published_at=) -> (bool, reason)

`ingest.stories.match` links a new article to its single best candidate, and the store
puts it in that candidate's story. With single links a story grows through chains: A
joins B's story on one shared name, C joins A on another, and C's story now holds B, which
C has nothing to do with (issue #18: a Mt. Gox story took in a Sbarro bankruptcy and a
Japanese Bitcoin tax ruling). The rule here:

- a copy (level "duplicate") joins as before: copies of copies are copies, transitive;
- an event-level match joins the story only when the new article also agrees (an event or
  duplicate `score` of its own) with at least QUORUM of the story's reports -- an article
  and its copies are one report; the SAMPLE latest reports are asked -- or, with
  `centroid`, when the mean of its weighted event-term cosines with those reports reaches
  that value (a softer form: see the figures below);
- the story began no more than MAX_SPAN before the new article (an event story stays
  bounded in time; undated stories are not bounded);
- when the best story refuses, the next best candidate's story is asked, and so on; none
  left: the article founds a story.

A story of one report (and its copies) is the matched article itself: nothing more to ask.
`members_of(story_id)` hands in the story's members; the rule reads nothing else. It is
called only for an event-level best match, once per story asked: in a store it is one
read of the SAMPLE latest index rows of that story (signature, date, and the article's
duplicate_of), so the index wants a (story_id, published_at) lookup. Not yet used by the
store: the story decision is moving into the dedupe stage, which should call
`join_story` where it calls `match` today (see bench/README.md for why the event
thresholds want re-tuning with it).
Measured offline by `bench/dedup_eval.py` (figures in bench/README.md): the quorum form
lifts ECB+ held-out precision from 0.975 to 0.995 and the lead-sentence set's from 0.775 to
0.867, and costs recall (ECB+ 0.475 -> 0.377); the event thresholds of ingest.stories were
tuned for single links and want re-tuning with the rule. The mean-cosine form at CENTROID
keeps recall but lets chains like the one above through.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .stories import Candidate, Match, Signature, match, score

__all__ = ["CENTROID", "MAX_SPAN", "QUORUM", "SAMPLE", "Member", "event_join_ok", "join_story"]

QUORUM = 0.5  # share of a story's reports an event-level join must agree with
CENTROID = 0.2  # the softer form's mean cosine with the reports (chosen on the tuning split)
SAMPLE = 8  # reports asked, the latest ones (a cost bound: SAMPLE scores at most per join)
MAX_SPAN = timedelta(days=3)  # an event story takes no new report this long after its first


_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Member:
    """An article of a story. copy_of: the earliest article it copies (`duplicate_of`),
    None when it is no copy."""

    article_id: int
    signature: Signature
    published_at: datetime | None
    copy_of: int | None = None


def _utc(when: datetime | None) -> datetime | None:
    """A date without an offset is UTC (as the parse stage reads them)."""
    return when if when is None or when.tzinfo else when.replace(tzinfo=UTC)


def _hours(a: datetime | None, b: datetime | None) -> float | None:
    a, b = _utc(a), _utc(b)
    if a is None or b is None:
        return None
    return abs((a - b).total_seconds()) / 3600


def event_join_ok(
    sig: Signature,
    members: Sequence[Member],
    *,
    published_at: datetime | None = None,
    quorum: float = QUORUM,
    sample: int = SAMPLE,
    max_span: timedelta | None = MAX_SPAN,
    centroid: float | None = None,
) -> tuple[bool, str]:
    """Whether a new article (`sig`, `published_at`) that matched one of `members` at the
    event level may join their story, and why (see the module docstring)."""
    reports: dict[int, list[Member]] = {}
    for m in members:
        reports.setdefault(m.copy_of if m.copy_of is not None else m.article_id, []).append(m)
    if len(reports) <= 1:
        return True, "one report"
    now = _utc(published_at)
    dates = [d for m in members if (d := _utc(m.published_at)) is not None]
    if max_span and now and dates and now - min(dates) > max_span:
        return False, f"story began more than {max_span} before"

    def latest(group: list[Member]) -> tuple[datetime, int]:
        when = max((d for m in group if (d := _utc(m.published_at))), default=_NEVER)
        return when, max(m.article_id for m in group)

    asked = sorted(reports.values(), key=latest, reverse=True)[:sample]
    if centroid is not None:
        cos = _centroid_cosine(sig, [group[0].signature for group in asked])
        return cos >= centroid, f"mean cosine {cos:.2f} with {len(asked)} reports"
    votes = sum(
        any(
            score(sig, m.signature, _hours(published_at, m.published_at))[0] is not None
            for m in group
        )
        for group in asked
    )
    ok = votes >= quorum * len(asked)
    return ok, f"agrees with {votes} of {len(asked)} reports"


def _unit(sig: Signature) -> dict[int, float]:
    v = sig.term_weights()
    norm = math.sqrt(sum(w * w for w in v.values()))
    return {t: w / norm for t, w in v.items()} if norm else {}


def _centroid_cosine(sig: Signature, reports: Sequence[Signature]) -> float:
    """The weighted cosine of `sig` with the mean of the reports' unit term vectors, not
    normalized again: the mean of its cosines with each report. (Normalized, the
    centroid of a story that a chain made incoherent is short, and every article looks
    close to it.)"""
    if not reports:
        return 0.0
    mine = _unit(sig)
    total = 0.0
    for r in reports:
        total += sum(w * mine.get(t, 0.0) for t, w in _unit(r).items())
    return total / len(reports)


def join_story(
    sig: Signature,
    candidates: Sequence[Candidate],
    members_of: Callable[[int], Sequence[Member]],
    *,
    published_at: datetime | None = None,
    quorum: float = QUORUM,
    sample: int = SAMPLE,
    max_span: timedelta | None = MAX_SPAN,
    centroid: float | None = None,
) -> Match | None:
    """`match`, with an event-level join put to the whole story (see the module
    docstring): the best match whose story agrees, or None."""
    remaining = list(candidates)
    while remaining:
        found = match(sig, remaining, published_at=published_at)
        if found is None or found.level == "duplicate":
            return found
        ok, _ = event_join_ok(
            sig,
            members_of(found.story_id),
            published_at=published_at,
            quorum=quorum,
            sample=sample,
            max_span=max_span,
            centroid=centroid,
        )
        if ok:
            return found
        remaining = [c for c in remaining if c.story_id != found.story_id]
    return None
