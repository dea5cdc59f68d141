"""The pure dedupe decisions (ingest.dedupe): what an incoming article is to the store
(RecordDecision), and the story a new one joins (StoryDecision)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from factories import article
from test_stories import BRIDGE, FERRY, FERRY_OTHER

from ingest.dedupe import (
    Candidate,
    Member,
    RecordDecision,
    Signature,
    StoryDecision,
    StoryState,
    better_representative,
    candidate_since,
    decide,
    decide_record,
    signature,
)

WHEN = datetime(2024, 5, 1, 12, tzinfo=UTC)
NEW = 100  # the new article's id

SIGS: dict[str, Signature] = {
    "ferry": signature("Ferry runs aground off Orkney", FERRY),
    "ferry_ad": signature("Ferry runs aground", "Advertisement. " + FERRY + " Share this story."),
    "ferry_news": signature("Orkney ferry aground", FERRY + " Sign up for our newsletter today."),
    "ferry_other": signature("Everyone rescued after Orkney ferry hits rocks", FERRY_OTHER),
    "bridge": signature("Tay road bridge closed after cracks found", BRIDGE),
}


def _cands(spec: list[tuple[int, int, str]]) -> list[Candidate]:
    """(article id, story id, text key) -> candidates, serialized as a store hands them."""
    return [Candidate(aid, sid, SIGS[key].to_bytes(), WHEN, None) for aid, sid, key in spec]


@pytest.mark.parametrize(
    ("new", "cands", "story", "level", "matched", "fold"),
    [
        # nothing found: the article founds a story with its own id
        ("ferry", [], NEW, "self", None, ()),
        ("ferry", [(7, 7, "bridge")], NEW, "self", None, ()),
        # unsigned (never matched): founds, whatever the candidates
        (None, [(7, 7, "ferry")], NEW, "self", None, ()),
        # a copy: joins the candidate's story (not the candidate's own id)
        ("ferry", [(7, 70, "ferry_ad")], 70, "duplicate", 7, ()),
        # another write-up of the event: joins at event level
        ("ferry", [(5, 50, "ferry_other")], 50, "event", 5, ()),
        # a duplicate beats an event match with a lower id
        ("ferry", [(5, 50, "ferry_other"), (9, 90, "ferry_ad")], 90, "duplicate", 9, ()),
        # a copy of articles in two stories: the oldest story keeps its id, the other folds
        # (the link names the best match, wherever its story went)
        ("ferry", [(11, 11, "ferry_news"), (10, 10, "ferry_ad")], 10, "duplicate", 10, (11,)),
        ("ferry", [(31, 12, "ferry_news"), (30, 40, "ferry_ad")], 12, "duplicate", 30, (40,)),
        # copies in one story: nothing to fold
        ("ferry", [(10, 10, "ferry_ad"), (11, 10, "ferry_news")], 10, "duplicate", 10, ()),
        # an event report beside a copy is no copy: nothing to fold
        ("ferry", [(10, 10, "ferry_ad"), (12, 12, "ferry_other")], 10, "duplicate", 10, ()),
    ],
    ids=[
        "no-candidates",
        "unrelated",
        "unsigned",
        "copy",
        "event",
        "duplicate-beats-event",
        "fold-two-stories",
        "fold-into-lowest-story",
        "copies-in-one-story",
        "event-not-folded",
    ],
)
def test_decide(
    new: str | None,
    cands: list[tuple[int, int, str]],
    story: int,
    level: str,
    matched: int | None,
    fold: tuple[int, ...],
) -> None:
    sig = SIGS[new] if new else None
    d = decide(NEW, sig, _cands(cands), published_at=WHEN)
    assert (d.story_id, d.level, d.matched_article_id, d.fold) == (story, level, matched, fold)
    assert d.founds == (level == "self")
    if d.founds:
        assert d == StoryDecision(story_id=NEW)
    else:
        assert d.reason and d.score is not None and 0 < d.score <= 1
        assert all(s > d.story_id for s in d.fold)


@pytest.mark.parametrize(
    ("cands", "copy_of", "duplicate_of", "repoint"),
    [
        # an event report copies nothing
        ([(5, 50, "ferry_other")], {}, None, ()),
        # a copy of an original points at it
        ([(7, 70, "ferry_ad")], {}, 7, ()),
        # a copy of a copy points at the copy's original (transitive)
        ([(7, 70, "ferry_ad")], {7: 3}, 3, ()),
        # a copy of two copy groups: the earliest original wins, the other group follows it
        ([(11, 11, "ferry_news"), (10, 10, "ferry_ad")], {11: 4, 10: 6}, 4, (6,)),
        ([(11, 11, "ferry_news"), (10, 10, "ferry_ad")], {}, 10, (11,)),
        # copies of one group: nothing to repoint
        ([(11, 10, "ferry_news"), (10, 10, "ferry_ad")], {11: 10}, 10, ()),
    ],
    ids=["event", "copy", "copy-of-copy", "two-groups", "two-originals", "one-group"],
)
def test_decide_duplicate_of(
    cands: list[tuple[int, int, str]],
    copy_of: dict[int, int],
    duplicate_of: int | None,
    repoint: tuple[int, ...],
) -> None:
    d = decide(NEW, SIGS["ferry"], _cands(cands), published_at=WHEN, copy_of=copy_of.get)
    assert (d.duplicate_of, d.repoint) == (duplicate_of, repoint)


# the Mt. Gox story: two Mt. Gox reports and a Sbarro report one wrong link put there
GOX = signature("Mt. Gox bitcoin exchange files for bankruptcy in Tokyo", "")
GOX2 = signature("Bitcoin exchange Mt. Gox seeks bankruptcy protection in Tokyo court", "")
SBARRO = signature("Sbarro files for Chapter 11 bankruptcy", "")


def _gox_story(_: int) -> StoryState:
    return StoryState.of([Member(1, GOX, WHEN), Member(2, GOX2, WHEN), Member(3, SBARRO, WHEN)])


@pytest.mark.parametrize(
    ("title", "story"),
    [
        ("Tokyo court takes Mt. Gox bitcoin exchange bankruptcy", 1),  # the story agrees
        ("Pizza chain Sbarro files for bankruptcy a second time", NEW),  # one member agrees
    ],
    ids=["story-agrees", "chain-refused"],
)
def test_decide_puts_an_event_join_to_the_whole_story(title: str, story: int) -> None:
    cands = [Candidate(i, 1, sig, WHEN) for i, sig in ((1, GOX), (2, GOX2), (3, SBARRO))]
    sig = signature(title, "")
    single = decide(NEW, sig, cands, published_at=WHEN)
    assert single.story_id == 1  # single links join either
    d = decide(NEW, sig, cands, published_at=WHEN, story_of=_gox_story)
    assert d.story_id == story and d.duplicate_of is None


@pytest.mark.parametrize(
    ("new", "current", "better"),
    [
        ((200, "2024-05-01T10:00:00Z", 5), (200, "2024-05-01T11:00:00Z", 3), True),  # earlier
        ((200, "2024-05-01T12:00:00Z", 5), (200, "2024-05-01T11:00:00Z", 3), False),  # later
        ((200, "2024-05-01T12:00:00Z", 5), (40, "2024-05-01T11:00:00Z", 3), True),  # full text
        ((40, "2024-05-01T10:00:00Z", 5), (200, "2024-05-01T11:00:00Z", 3), False),  # thin
        ((40, "2024-05-01T10:00:00Z", 5), (40, "2024-05-01T11:00:00Z", 3), True),  # both thin
        ((120, "2024-05-01T11:00:00Z", 2), (120, "2024-05-01T11:00:00Z", 3), True),  # tie: id
        ((120, "2024-05-01T11:00:00Z", 4), (120, "2024-05-01T11:00:00Z", 3), False),
        ((119, "2024-05-01T10:00:00Z", 4), (120, "2024-05-01T11:00:00Z", 3), False),  # bound
    ],
)
def test_better_representative(
    new: tuple[int, str, int], current: tuple[int, str, int], better: bool
) -> None:
    assert better_representative(new, current) is better


@pytest.mark.parametrize(
    ("when", "days", "since"),
    [
        (WHEN, 3, datetime(2024, 4, 28, 12, tzinfo=UTC)),
        (WHEN, 0, WHEN),
        (datetime(1, 1, 2, tzinfo=UTC), 3, None),  # the window reaches before year 1
    ],
)
def test_candidate_since(when: datetime, days: int, since: datetime | None) -> None:
    assert candidate_since(when, days) == since


# ------------------------------------------------------------------ the record decision

U = "https://a.example/g1"  # the factory article's canonical URL


@pytest.mark.parametrize(
    ("known", "kw", "expected"),
    [
        ({}, {}, RecordDecision("new")),
        ({"tombstones": {"g1"}}, {}, RecordDecision("tombstoned")),
        ({"tombstones": {U}, "by_identity": {"g1": (4, "hash-g1")}}, {}, RecordDecision("tombstoned")),
        ({"by_identity": {"g1": (4, "hash-g1")}}, {}, RecordDecision("unchanged", 4)),
        ({"by_identity": {"g1": (4, "old")}}, {}, RecordDecision("revised", 4)),
        # a new guid for a URL this feed carried: the same article under a new identity
        ({"same_feed_url": {U: (4, "hash-g1")}}, {}, RecordDecision("unchanged", 4, True)),
        ({"same_feed_url": {U: (4, "old")}}, {}, RecordDecision("revised", 4, True)),
        # the identity wins over the URL
        ({"by_identity": {"g1": (4, "hash-g1")}, "same_feed_url": {U: (5, "x")}}, {},
         RecordDecision("unchanged", 4)),
        # another feed's article at the same URL: one more source; fuller text replaces
        ({"any_url": {U: (9, 100)}}, {"word_count": 150}, RecordDecision("another_source", 9)),
        ({"any_url": {U: (9, 100)}}, {"word_count": 151}, RecordDecision("fuller", 9)),
        ({"any_url": {U: (9, 100)}}, {"canonical_url": None}, RecordDecision("new")),
        ({"same_feed_url": {U: (4, "x")}}, {"canonical_url": None}, RecordDecision("new")),
    ],
)  # fmt: skip
def test_decide_record(known: dict[str, Any], kw: dict[str, Any], expected: RecordDecision) -> None:
    maps: dict[str, Any] = {"tombstones": set(), "by_identity": {}, "same_feed_url": {},
                            "any_url": {}} | known  # fmt: skip
    assert decide_record(article(**kw), **maps) == expected


@pytest.mark.parametrize(
    ("action", "outcome"),
    [("new", "new"), ("revised", "updated"), ("fuller", "updated"), ("unchanged", "unchanged"),
     ("another_source", "unchanged"), ("tombstoned", "unchanged")],
)  # fmt: skip
def test_record_outcome(action: str, outcome: str) -> None:
    assert RecordDecision(action).outcome == outcome
