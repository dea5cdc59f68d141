"""ingest.dedupe.chains: an event-level join needs the story as a whole; copies stay transitive (#18).

The headlines are the shape of the chain seen on real Google News headlines: a Mt. Gox
bankruptcy story that took in a Sbarro bankruptcy through one wrong link, and the next
Sbarro report, which agrees with that one member only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.dedupe import Candidate, Signature, match, signature
from ingest.dedupe.chains import Member, StoryState, event_join_ok, join_story

T0 = datetime(2014, 3, 10, 12, 0, tzinfo=UTC)
HEADLINES = {
    1: "Mt. Gox bitcoin exchange files for bankruptcy in Tokyo",
    2: "Bitcoin exchange Mt. Gox seeks bankruptcy protection in Tokyo court",
    3: "Sbarro files for Chapter 11 bankruptcy",  # joined the Mt. Gox story: a wrong link
    4: "Quiznos files for Chapter 11 bankruptcy",
    9: "Sbarro pizza chain files for bankruptcy again",
}
SIG = {k: signature(v, "") for k, v in HEADLINES.items()}
SBARRO_AGAIN = signature("Pizza chain Sbarro files for bankruptcy a second time", "")
GOX_AGAIN = signature("Tokyo court takes Mt. Gox bitcoin exchange bankruptcy", "")
BODY = " ".join(
    f"Paragraph {k}: the pizza chain said its restaurants stay open while it reorganizes "
    f"under court protection, the second filing in three years for the mall chain."
    for k in range(8)
)


def _state(members: list[Member]) -> StoryState:
    return StoryState.of(members)


def _members(*ids: int, copy_of: dict[int, int] | None = None, hours: float = 0) -> list[Member]:
    copy_of = copy_of or {}
    return [
        Member(i, SIG[i % 100], T0 + timedelta(hours=hours, minutes=i), copy_of.get(i)) for i in ids
    ]


WHEN = T0 + timedelta(hours=1)


@pytest.mark.parametrize(
    ("new", "members", "ok"),
    [
        # the whole story agrees: another Mt. Gox report joins
        (GOX_AGAIN, _members(1, 2, 3), True),
        # one member agrees (the wrongly joined Sbarro one), the story does not: a chain
        (SBARRO_AGAIN, _members(1, 2, 3), False),
        # copies of that member are one report, not three votes
        (SBARRO_AGAIN, _members(1, 2, 3, 103, 203, copy_of={103: 3, 203: 3}), False),
        # a story of one report (and its copies) is the matched article itself
        (SBARRO_AGAIN, _members(3, 103, copy_of={103: 3}), True),
    ],
    ids=["story-agrees", "chain", "copies-count-once", "one-report"],
)
def test_event_join_needs_most_of_the_story(
    new: Signature, members: list[Member], ok: bool
) -> None:
    got, reason = event_join_ok(new, _state(members), published_at=WHEN)
    assert got is ok, reason


def test_a_story_is_bounded_in_time() -> None:
    old = _members(1, 2, hours=-5 * 24)
    ok, reason = event_join_ok(GOX_AGAIN, _state(old), published_at=WHEN)
    assert not ok and "story began" in reason
    # a zero span: no bound
    assert event_join_ok(GOX_AGAIN, _state(old), published_at=WHEN, max_span=timedelta(0))[0]
    # undated stories are not bounded
    undated = [Member(m.article_id, m.signature, None) for m in old]
    assert event_join_ok(GOX_AGAIN, _state(undated), published_at=WHEN)[0]
    # a date without an offset is UTC, beside dates with one
    naive = [Member(m.article_id, m.signature, m.published_at.replace(tzinfo=None)) for m in old]  # type: ignore[union-attr]
    assert not event_join_ok(GOX_AGAIN, _state([*naive, *undated]), published_at=WHEN)[0]
    fresh = _members(1, 2)
    mixed = [Member(1, SIG[1], fresh[0].published_at.replace(tzinfo=None)), fresh[1]]  # type: ignore[union-attr]
    assert event_join_ok(GOX_AGAIN, _state(mixed), published_at=WHEN)[0]


def test_a_story_is_bounded_in_size() -> None:
    """An event story that holds MAX_REPORTS reports takes no more event-level joins (the
    state counts every report of the story, not only the latest read)."""
    story = StoryState(_members(1, 2), reports=3)
    assert event_join_ok(GOX_AGAIN, story, published_at=WHEN)[0]
    ok, reason = event_join_ok(GOX_AGAIN, story, published_at=WHEN, max_reports=3)
    assert not ok and reason == "story holds 3 reports"
    assert event_join_ok(GOX_AGAIN, story, published_at=WHEN, max_reports=0)[0]  # no bound


def test_only_the_latest_reports_are_asked() -> None:
    # two recent Sbarro reports and three older Mt. Gox ones: asked are the latest two
    members = _members(1, 2, 4, hours=-10) + _members(3, 9)
    assert not event_join_ok(SBARRO_AGAIN, _state(members), published_at=WHEN)[0]
    assert event_join_ok(SBARRO_AGAIN, _state(members), published_at=WHEN, sample=2)[0]


def _cands(story_of: dict[int, int]) -> list[Candidate]:
    return [Candidate(i, s, SIG[i], T0 + timedelta(minutes=i)) for i, s in story_of.items()]


def test_single_link_chains_and_join_story_does_not() -> None:
    """The Mt. Gox story {1, 2, 3}: the next Sbarro report matches member 3 only."""
    cands = _cands({1: 1, 2: 1, 3: 1})
    stories = {1: _state(_members(1, 2, 3))}
    single = match(SBARRO_AGAIN, cands, published_at=WHEN)
    assert single is not None and single.story_id == 1 and single.article_id == 3
    assert join_story(SBARRO_AGAIN, cands, stories.__getitem__, published_at=WHEN) is None
    # a report that agrees with the story still joins it
    got = join_story(GOX_AGAIN, cands, stories.__getitem__, published_at=WHEN)
    assert got is not None and got.story_id == 1


def test_a_refused_story_passes_the_article_to_the_next_candidate_story() -> None:
    cands = _cands({1: 1, 2: 1, 3: 1, 9: 9})
    stories = {1: _state(_members(1, 2, 3)), 9: _state(_members(9))}
    # the rule is asked of story 1 first when its member is the better match
    again = signature("Sbarro files for Chapter 11 bankruptcy again", "")
    single = match(again, cands, published_at=WHEN)
    assert single is not None and single.story_id == 1
    got = join_story(again, cands, stories.__getitem__, published_at=WHEN)
    assert got is not None and (got.story_id, got.article_id) == (9, 9)


def test_copies_join_whatever_the_story() -> None:
    """Copies of copies are copies: a copy joins its original's story even where an
    event-level report would be refused."""
    original = signature(HEADLINES[3], BODY)
    copy = signature("Sbarro pizza chain in second bankruptcy", BODY)
    members = [*_members(1, 2), Member(3, original, T0)]
    cands = [Candidate(3, 1, original, T0), *_cands({1: 1, 2: 1})]
    got = join_story(copy, cands, lambda _: _state(members), published_at=WHEN)
    assert got is not None and got.level == "duplicate" and got.story_id == 1


def test_the_representative_vouches_for_a_report_most_of_the_story_does_not_match() -> None:
    """A Mt. Gox story whose latest reports a chain filled with other bankruptcies: another
    Mt. Gox report agrees with the story's representative (its first Mt. Gox report) and
    joins; a Sbarro report agrees with neither the representative nor most reports."""
    members = _members(1, 3, 4, 9)
    assert not event_join_ok(GOX_AGAIN, StoryState.of(members), published_at=WHEN)[0]
    story = StoryState.of(members, representative=1)
    ok, reason = event_join_ok(GOX_AGAIN, story, published_at=WHEN)
    assert ok and reason.startswith("agrees with the representative"), reason
    gox = StoryState.of(_members(1, 2, 3), representative=1)
    assert not event_join_ok(SBARRO_AGAIN, gox, published_at=WHEN)[0]
