"""Unit tests of the pure story-grouping core (ingest.dedupe: signature, keys, match)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import xxhash
from readpatch import set_read

from ingest.dedupe import (
    SAMPLE_K,
    Candidate,
    Signature,
    _keys,
    _match,
    band_keys,
    match,
    score,
    signature,
)
from ingest.dedupe._keys import BODY_KEYS
from ingest.dedupe._match import _sample_containment, _scores

# Texts written for these tests (our own words, not third-party copy).
FERRY = (
    "A passenger ferry carrying 212 people ran aground off the coast of Orkney on Tuesday "
    "morning after losing engine power in heavy seas, the coastguard said. "
    "Lifeboats from Stromness and Kirkwall were sent to the scene and all passengers were "
    "brought ashore by mid-afternoon. Three crew members were treated for minor injuries. "
    "The operator, Northern Isles Shipping, said an inspection of the hull would begin once "
    "the tide allowed and that sailings on the route were suspended until Friday. "
    "Marine investigators have opened an inquiry into the engine failure, the second on the "
    "same vessel in eighteen months. Local councillors called for the ageing ship to be "
    "replaced and said islanders depended on a reliable link to the mainland for food, "
    "medicine and work. The vessel was built in 1996 and was due for a refit next spring."
)
BRIDGE = (
    "A road bridge over the river Tay was closed on Tuesday after engineers found cracks in "
    "two of its supporting piers during a routine inspection, the regional council said. "
    "Traffic was diverted through Perth, adding up to forty minutes to journeys for "
    "commuters. The council said the cracks were not an immediate danger but that it would "
    "not reopen the crossing until a full survey had been completed. Hauliers warned that "
    "deliveries to the north east would be delayed, and local businesses asked for a "
    "temporary ferry service. The bridge carries around 25,000 vehicles a day and was last "
    "strengthened in 2009. Repairs are expected to take several months."
)
# another write-up of the FERRY event, in different words
GALE = "Orkney, Shetland, Caithness and Sutherland ferries cancelled as gale hits Highlands"
FERRY_OTHER = (
    "Coastguard teams rescued everyone aboard a Northern Isles Shipping ferry that hit rocks "
    "near Orkney on Tuesday. The ship, with 212 passengers and crew, drifted onto the shore "
    "after an engine failure in a storm. Lifeboats from Stromness and Kirkwall took people "
    "off; three crew had minor injuries. Sailings are suspended until Friday and marine "
    "investigators are looking into the engine failure."
)


def _sig(text: str, title: str = "Ferry runs aground off Orkney") -> Signature:
    return signature(title, text)


def _term(word: str) -> int:
    return xxhash.xxh3_64_intdigest(word.encode()) >> 32


PINNED_KEYS = [-6698524745845951117, 5530159616444534720, -7012469468756948470]  # v6


def _cand(aid: int, sig: Signature, story: int | None = None) -> Candidate:
    return Candidate(
        aid, story if story is not None else aid, sig, datetime(2024, 5, 1, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("variant", "title"),
    [
        ("Advertisement. Share this story. " + FERRY + " Sign up for our newsletter.", None),
        (FERRY, "Hundreds rescued as Orkney ferry loses power"),  # other headline
        ("KIRKWALL (Wire) - " + FERRY + " (Reporting by A. Writer; editing by B. Desk)", None),
        (FERRY.replace("heavy seas", "rough seas").replace("Three", "3"), None),  # light edits
        (FERRY[:330], None),  # summary-only copy of the full text
        (FERRY + " Update: the operator said the ferry had been refloated on Wednesday.", None),
        (
            FERRY.replace("The vessel was built in 1996 and was due for a refit next spring.", ""),
            None,
        ),
    ],
    ids=["boilerplate", "headline", "dateline-credit", "light-edits", "summary", "revision", "cut"],
)
def test_duplicate_variants_match(variant: str, title: str | None) -> None:
    original = _sig(FERRY)
    copy = signature(title or "Ferry runs aground off Orkney", variant)
    level, value, reason = score(copy, original)
    assert level == "duplicate", (value, reason)
    m = match(copy, [_cand(7, original, story=70)])
    assert m is not None and m.level == "duplicate" and m.story_id == 70 and m.article_id == 7
    assert m.reason and 0 < m.score <= 1


def test_different_articles_same_topic_do_not_match() -> None:
    a = signature("Ferry runs aground off Orkney", FERRY)
    b = signature("Tay road bridge closed after cracks found", BRIDGE)
    assert score(a, b)[0] is None
    assert match(a, [_cand(1, b)]) is None


def test_other_write_up_of_same_event_is_an_event_not_a_duplicate() -> None:
    a = signature("Ferry runs aground off Orkney", FERRY)
    b = signature("Everyone rescued after Orkney ferry hits rocks", FERRY_OTHER)
    level, _, reason = score(a, b)
    assert level == "event", reason


def test_match_prefers_duplicate_then_score_then_earliest_id() -> None:
    sig = _sig(FERRY)
    other = signature("Everyone rescued after Orkney ferry hits rocks", FERRY_OTHER)
    cands = [_cand(5, other, 50), _cand(9, sig, 90), _cand(3, sig, 30), _cand(4, _sig(BRIDGE))]
    m = match(sig, cands)
    assert m is not None and (m.level, m.article_id, m.story_id) == ("duplicate", 3, 30)
    assert match(sig, list(reversed(cands))) == m
    assert match(sig, []) is None


def test_signature_is_deterministic_and_round_trips() -> None:
    a, b = _sig(FERRY), _sig(FERRY)
    assert a == b
    assert Signature.from_bytes(a.to_bytes()) == a
    assert band_keys(a) == band_keys(b)
    empty = signature("", "")
    assert Signature.from_bytes(empty.to_bytes()) == empty
    assert band_keys(empty) == []


@pytest.mark.parametrize(
    "data", [b"", b"\x01", b"\x09" + b"\x00" * 40, _sig(FERRY).to_bytes() + b"x"]
)
def test_from_bytes_rejects_foreign_bytes(data: bytes) -> None:
    with pytest.raises(ValueError):
        Signature.from_bytes(data)


def test_band_keys_are_stable_int64_and_shared_by_copies() -> None:
    keys = band_keys(_sig(FERRY))
    # pinned: a change here silently orphans every stored index row (bump the version)
    assert keys[:3] == PINNED_KEYS
    assert keys[:BODY_KEYS] == band_keys(signature("another title", FERRY))[:BODY_KEYS]
    assert len(keys) >= BODY_KEYS
    assert all(-(2**63) <= k < 2**63 for k in keys)
    assert len(set(keys)) == len(keys)
    copy = band_keys(signature("Other headline", "Advertisement " + FERRY))
    assert set(keys) & set(copy)
    assert not set(band_keys(_sig(BRIDGE))[:BODY_KEYS]) & set(keys[:BODY_KEYS])


def test_pair_keys_link_reworded_headlines_by_their_rarest_terms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = signature("Glasgow tram strike halts Partick depot services", "")
    b = signature("Partick depot staff in Glasgow tram strike vote", "")
    other = signature("Leeds bus drivers vote on pay offer", "")
    with_pairs = set(band_keys(a)) & set(band_keys(b))
    assert not set(band_keys(a)) & set(band_keys(other))
    set_read(monkeypatch, "PAIR_TERMS", 0, band_keys)
    without = set(band_keys(a)) & set(band_keys(b))
    # the 4 rarest terms give up to 6 pair keys; the reworded headline shares 3 of them
    assert len(with_pairs) - len(without) == 3


def test_headline_only_items_use_the_title() -> None:
    long = "Orkney ferry with 212 people aboard runs aground in a storm after engine failure"
    a, b = signature(long, ""), signature(long, "")
    assert a.n_body > 0 and band_keys(a)
    assert score(a, b)[0] == "duplicate"
    # a short identical headline alone is too little to call two items one article
    short = signature("Ferry runs aground", "")
    assert score(short, signature("Ferry runs aground", ""))[0] != "duplicate"


def test_summary_copy_in_page_debris_is_a_duplicate_by_containment() -> None:
    """A summary-only copy wrapped in debris: the 8-gram sample of the short text is
    contained in the full one."""
    copy = signature("Orkney ferry", "Share this article\n\n" + FERRY[:330] + "\n\nRead more")
    original = _sig(FERRY)
    s = _scores(copy, original)
    assert s.contain >= 0.6 and s.tests >= 6
    assert score(copy, original)[0] == "duplicate"
    # found through the anchors of the shared opening, not only the body bands
    assert set(copy.anchors) & set(original.anchors)


def test_paragraph_reorder_is_a_duplicate() -> None:
    parts = [p + "." for p in FERRY.split(". ") if p]
    swapped = " ".join(parts[:2] + parts[4:6] + parts[2:4] + parts[6:])
    assert score(signature("Ferry", swapped), _sig(FERRY))[0] == "duplicate"


def test_sample_containment_is_exact_for_short_texts() -> None:
    short, long = signature("", FERRY[:400]), signature("", FERRY)
    assert len(long.sample) < SAMPLE_K  # both complete: an exact count
    c, tests = _sample_containment(short, long)
    assert c == 1.0 and tests == len(short.sample)
    assert _sample_containment(short, signature("", BRIDGE))[0] == 0.0


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        # one headline template, two subjects: each differs from the other only by a rare name
        ("Quiznos files for Chapter 11 bankruptcy", "Sbarro files for Chapter 11 bankruptcy",
         None),
        ("Apple and Comcast in talks over a TV streaming service",
         "Comcast, Apple reported to be in talks about TV streaming service", "event"),
    ],
)  # fmt: skip
def test_headline_only_items_need_shared_names(a: str, b: str, level: str | None) -> None:
    assert score(signature(a, ""), signature(b, ""))[0] == level


def test_signature_of_another_version_is_rejected() -> None:
    data = bytearray(_sig(FERRY).to_bytes())
    data[0] = 2  # version 2 (the previous release)
    with pytest.raises(ValueError, match="version"):
        Signature.from_bytes(bytes(data))


def test_closeness_in_time_lowers_the_event_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two reports just under the event threshold: grouped when published within hours of
    each other (TIME_BONUS decaying over TIME_SCALE), not when days apart or undated."""
    a = signature("Orkney ferry runs aground in storm", "")
    b = signature("Coastguard rescues passengers near Orkney after ferry hits rocks", "")
    cos = score(a, b)[1]
    set_read(
        monkeypatch,
        "EVENT_COSINE_FEW",
        cos + _match.TIME_BONUS / 2,
        _match._score,  # score(), and match() when the pre-check lets it through
        _match._may_match,
    )
    far = score(a, b, hours_apart=72.0)
    near = score(a, b, hours_apart=0.05)
    hour = score(a, b, hours_apart=1.0)  # the bonus decays over TIME_SCALE (15 minutes)
    assert far[0] is None and hour[0] is None and near[0] == "event", (far, hour, near)
    assert "h apart" in near[2]
    when = datetime(2024, 5, 1, tzinfo=UTC)
    cand = Candidate(1, 1, b, when)
    assert match(a, [cand]) is None
    assert match(a, [cand], published_at=when + timedelta(days=3)) is None
    assert match(a, [cand], published_at=when + timedelta(hours=1)) is None
    m = match(a, [cand], published_at=when + timedelta(minutes=3))
    assert m is not None and m.level == "event"


def test_rare_words_weigh_more_than_common_ones() -> None:
    sig = signature("Kirkwall lifeboat called out", "The lifeboat from Kirkwall went out.")
    weights = dict(zip(sig.terms, sig.weights, strict=True))
    rare = weights[_term("kirkwall")] & 0x3F
    common = weights[_term("called")] & 0x3F
    assert rare > common
    assert weights[_term("kirkwall")] & 0x40  # a name


def test_signature_is_compact() -> None:
    """Bounded whatever the length: SAMPLE_K 4-byte sample values plus a fixed part."""
    long = " ".join(f"{sentence} (item {n})." for n in range(60) for sentence in FERRY.split("."))
    assert len(long.split()) > 8 * SAMPLE_K  # far more distinct 8-grams than are sampled
    assert len(signature("A long headline about a ferry", long).to_bytes()) <= 4 * SAMPLE_K + 600


def test_a_copy_of_articles_in_two_stories_lists_both() -> None:
    """The duplicate relation is transitive: a new copy that contains the articles of two
    stories joins the best one and names the other (`Match.merge`), for the store to fold
    the two stories into one."""
    a = signature("Ferry runs aground", "Advertisement. " + FERRY + " Share this story.")
    b = signature("Orkney ferry aground", FERRY + " Sign up for our newsletter today.")
    new = signature("Passengers rescued from ferry", FERRY)
    m = match(new, [_cand(10, a, story=10), _cand(11, b, story=11)])
    assert m is not None and m.level == "duplicate"
    assert {m.article_id, *(aid for _, aid in m.copies)} == {10, 11}
    assert m.merge == (({10, 11} - {m.story_id}).pop(),)
    # a same-event report is no copy: nothing to fold
    other = signature("Coastguard rescues all aboard Orkney ferry", FERRY_OTHER)
    m = match(new, [_cand(10, a, story=10), _cand(12, other, story=12)])
    assert m is not None and m.story_id == 10 and m.merge == () and m.copies == ()


@pytest.mark.parametrize(
    ("a", "b", "hours", "level"),
    [
        ("Quokkaville mayor resigns after audit",
         "Watch the Quokkaville press conference live", 0.2, "event"),
        ("Quokkaville mayor resigns after audit",
         "Watch the Quokkaville press conference live", 1.0, None),  # an hour apart
        ("Quokkaville mayor resigns after audit",
         "Watch the Quokkaville press conference live", 10.0, None),  # hours apart
        ("Quokkaville mayor resigns after audit",
         "Watch the Quokkaville press conference live", None, None),  # undated
        ("Apple shares slide at the open", "Apple unveils new watch bands", 0.2, None),  # common
    ],
)  # fmt: skip
def test_headlines_sharing_one_rare_name_within_hours_are_one_event(
    a: str, b: str, hours: float | None, level: str | None
) -> None:
    """Headline-only items: one shared term is enough when it is a rare name and the two
    were published within ONE_NAME_HOURS (UCI: a crawl batch of one event)."""
    sa, sb = signature(a, ""), signature(b, "")
    assert score(sa, sb, hours)[0] == level
    when = datetime(2024, 5, 1, tzinfo=UTC)
    published = None if hours is None else when + timedelta(hours=hours)
    m = match(sa, [Candidate(1, 1, sb.to_bytes(), when, 1)], published_at=published)
    assert (m.level if m else None) == level  # the pre-check lets it through


def test_a_headline_is_keyed_by_all_its_names() -> None:
    """A headline-only event match needs a shared name, so every name of a headline is a
    key (up to HEADLINE_NAME_KEYS), not only its rarest three: a later headline sharing
    two of its commoner names finds it (UCI: +0.06 recall on the tuning split)."""
    a = signature(GALE, "")
    assert len(a.names) == 5 and len(a.terms) < _match.FEW_TERMS
    name_keys = _keys._keys(_keys._SEEDS["event"], a.names)
    assert set(name_keys) <= set(band_keys(a))
    b = signature("Gale warning for Sutherland and the Highlands", "")
    assert score(a, b, 0.0)[0] == "event"
    assert set(band_keys(a)) & set(band_keys(b))
    full = signature("Ferry news", GALE + ". " + FERRY)  # a full text: its 3 rarest names
    assert len(set(_keys._keys(_keys._SEEDS["event"], full.names)) & set(band_keys(full))) == 3


def test_a_short_item_against_a_full_text_is_judged_by_the_full_text_rule() -> None:
    """The lenient headline-only rules need both items headline-only: a headline against a
    full report of the same kind is an event only at the full-text cosine (ECB+: one-line
    articles joined the other event of their topic at 0.26 .. 0.34)."""
    head = signature("Orkney ferry runs aground in storm", "")
    full = signature("", FERRY)
    assert len(head.terms) < _match.FEW_TERMS <= len(full.terms)
    lo, hi = _match.EVENT_COSINE_FEW, _match.EVENT_COSINE
    cos = _scores(head, full).terms
    assert lo <= cos < hi
    assert score(head, full)[0] is None and score(full, head)[0] is None
    two = signature("Ferry runs aground off Orkney in a storm", "")  # both headline-only
    assert score(head, two)[0] == "event"


def test_a_headline_with_one_name_is_keyed_by_it() -> None:
    """So a later headline sharing only that rare name finds it in the index."""
    a = signature("Quokkaville mayor resigns after audit", "")
    b = signature("Watch the Quokkaville press conference live", "")
    assert set(band_keys(a)) & set(band_keys(b))


def test_signature_bytes_are_checked_cheaply() -> None:
    data = _sig(FERRY).to_bytes()
    assert Signature.valid_bytes(data)
    assert Signature.from_bytes(data) == _sig(FERRY)
    assert not Signature.valid_bytes(data[:-1])
    assert not Signature.valid_bytes(b"\x03")
    assert not Signature.valid_bytes(b"\x02" + data[1:])  # another version


def _counting_score(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = _match._score  # what `match` scores each candidate with

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    set_read(monkeypatch, "_score", counting, match)
    return calls


def test_precheck_skips_unrelated_candidates_without_scoring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A candidate sharing one index key and too few event terms is not decoded nor
    scored; with the shared-key count unknown it is scored in full, as before."""
    calls = _counting_score(monkeypatch)
    new = _sig(FERRY)
    blob = signature("Tay bridge closed", BRIDGE).to_bytes()
    when = datetime(2024, 5, 1, tzinfo=UTC)
    assert match(new, [Candidate(7, 7, blob, when, 1)]) is None
    assert calls == []
    assert match(new, [Candidate(7, 7, blob, when, None)]) is None
    assert match(new, [Candidate(7, 7, blob, when, 1)], precheck=False) is None
    assert len(calls) == 2


def test_precheck_skips_one_name_headlines_outside_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two headlines sharing a single term can only be one event within ONE_NAME_HOURS:
    farther apart (or undated) the candidate is not decoded nor scored."""
    calls = _counting_score(monkeypatch)
    new = signature("Quokkaville mayor resigns after audit", "")
    blob = signature("Watch the Quokkaville press conference live", "").to_bytes()
    when = datetime(2024, 5, 1, tzinfo=UTC)
    cand = Candidate(7, 7, blob, when, 1)
    assert match(new, [cand], published_at=when + timedelta(hours=1)) is None
    assert match(new, [cand]) is None
    assert calls == []
    m = match(new, [cand], published_at=when + timedelta(minutes=10))
    assert m is not None and m.level == "event" and len(calls) == 1


@pytest.mark.parametrize("hours", [None, 0.1, 3.0, 48.0])
@pytest.mark.parametrize(
    ("a", "b"),
    [
        (FERRY, FERRY_OTHER),
        (FERRY, "Advertisement. " + FERRY),
        (FERRY, FERRY[:400]),
        (FERRY, BRIDGE),
        ("", ""),
    ],
)
def test_precheck_keeps_every_event_and_copy_decision(a: str, b: str, hours: float | None) -> None:
    """The event bound never rejects a pair `score` would group (one shared key only)."""
    x = signature("Ferry runs aground off Orkney", a)
    y = signature("Coastguard rescues ferry passengers near Orkney", b)
    when = datetime(2024, 5, 1, tzinfo=UTC)
    later = when + timedelta(hours=hours) if hours is not None else None
    cand = Candidate(3, 3, y.to_bytes(), when, 1)
    assert match(x, [cand], published_at=later) == match(
        x, [cand], published_at=later, precheck=False
    )
    if score(x, y, hours)[0] is not None:
        assert _match._may_match(_match._Query(x), cand, later)


def test_precheck_bound_counts_closeness_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound is compared with the threshold lowered by TIME_BONUS for close reports
    (thresholds read at call time): just above the bound, only a close report passes."""
    a = signature("Orkney ferry runs aground in storm", "")
    b = signature("Coastguard rescues passengers near Orkney after ferry hits rocks", "")
    q = _match._Query(a)
    shared = q.terms.intersection(b.terms)
    bound = (sum(q.w2[t] for t in shared) / q.norm2) ** 0.5
    set_read(monkeypatch, "EVENT_COSINE_FEW", bound + _match.TIME_BONUS / 2, _match._may_match)
    when = datetime(2024, 5, 1, tzinfo=UTC)
    cand = Candidate(1, 1, b.to_bytes(), when, 1)
    assert not _match._may_match(q, cand, None)
    assert not _match._may_match(q, cand, when + timedelta(days=3))
    assert _match._may_match(q, cand, when + timedelta(minutes=10))


@pytest.mark.parametrize(
    ("small", "shared", "level"),
    [
        (6, 3, None),  # half of 6 samples: a shared caption or credit line, not a copy
        (8, 4, "duplicate"),  # half, resting on 4 shared samples
        (6, 4, "duplicate"),
    ],
)
def test_body_containment_needs_enough_shared_samples(
    small: int, shared: int, level: str | None
) -> None:
    a = Signature(60, tuple(range(small)), (), (), (), ())
    b = Signature(600, tuple(range(shared)) + tuple(range(1000, 1100)), (), (), (), ())
    assert score(a, b)[0] == level


def test_signature_does_not_import_numpy() -> None:
    # the cron process forks workers: numpy would cost each ~14 MB
    code = (
        "import sys; from ingest.dedupe import signature; "
        "signature('Ferry runs aground', 'A ferry ran aground off Orkney on Tuesday ' * 20); "
        "print('numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "text",
    ["one", "one two", "one two three four five six seven", "Zürich café straße " * 5],
)
def test_short_and_non_ascii_bodies_are_sampled(text: str) -> None:
    sig = signature("", text)
    assert sig.sample and sig.lead and sig.n_body >= 1
    assert all(0 <= v < 2**30 for v in sig.sample)
    assert sig == signature("", text)
    assert Signature.from_bytes(sig.to_bytes()) == sig


GERMAN_A = (
    "Die Bundesregierung hat am Mittwoch ein neues Klimapaket beschlossen, das den Ausstoß von "
    "Treibhausgasen bis 2030 deutlich senken soll. Kritiker bemängeln fehlende Maßnahmen im "
    "Verkehrssektor und fordern ein Tempolimit auf Autobahnen."
)
GERMAN_B = (
    "Die Bundesregierung hat am Mittwoch den Haushalt für das kommende Jahr beschlossen, der "
    "deutlich höhere Ausgaben für Verteidigung vorsieht. Kritiker bemängeln fehlende Mittel für "
    "Schulen und fordern eine Reform der Schuldenbremse."
)


def test_text_the_rarity_prior_does_not_know_gets_no_event_terms() -> None:
    """German (or made-up) words are all unknown to the English rarity prior, so every word
    would look rare and two different reports sharing common words would be merged as one
    event. Such texts are grouped only as duplicates."""
    a = signature("Bundesregierung beschließt Klimapaket", GERMAN_A)
    b = signature("Bundesregierung beschließt Haushalt", GERMAN_B)
    assert a.terms == () and b.terms == ()
    cand = Candidate(article_id=1, story_id=1, signature=a.to_bytes(), published_at=None)
    assert match(b, [cand]) is None
    # a copy of the German report is still a duplicate
    copy = signature("Klimapaket beschlossen", "Berlin (dpa) - " + GERMAN_A + " Mehr zum Thema")
    found = match(copy, [cand])
    assert found is not None and found.level == "duplicate"
    # English text keeps its event terms
    assert signature("Ferry runs aground", FERRY).terms
