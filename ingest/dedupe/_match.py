"""The match decision: which stored article, if any, a new article joins a story by.

    match(sig, candidates, published_at=...) -> Match("duplicate" | "event", ...) | None

The store hands in the candidates its index found (`ingest.dedupe._keys`); `match` first
runs a pre-check on each (its term hashes and the number of index keys it shares, both read
without decoding the rest): most are rejected at a small part of the cost of a decode and
full score (see :func:`match`).

Levels (thresholds chosen on the tuning split of ``bench/dedup_eval.py``):

- "duplicate": the same article: 8-gram containment of the shorter text >= DUP_CONTAIN
  (on >= MIN_CONTAIN_TESTS sampled 8-grams, >= MIN_CONTAIN_HITS of them shared), or a shared lead (lead containment >= DUP_LEAD)
  with the shorter text all lead, or contained enough, or the leads almost identical.
- "event": another write-up of the same event, conservative (precision first): weighted
  cosine of the event terms >= EVENT_COSINE (0.41; less when the two are published close
  in time: up to TIME_BONUS 0.15, decaying over TIME_SCALE 0.25 h), with >=
  MIN_SHARED_TERMS shared and a share of the names in common (EVENT_NAMES); two
  headline-only items (both with fewer than FEW_TERMS terms; a headline against a full
  text takes the full-text rule) need a cosine >= EVENT_COSINE_FEW (0.25, minus the same
  bonus) and names in common (EVENT_NAMES_FEW 0.2), or a single shared term that is a rare
  name (ONE_NAME_WEIGHT) at a cosine >= ONE_NAME_COSINE (0.15) when published within
  ONE_NAME_HOURS (0.25 h) of each other.
- copies are transitive: when a new article is a copy (by body containment) of articles
  in several stories, `Match.merge` names the stories the store folds into one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ._signature import (
    _HEAD,
    _M64,
    _NAME,
    _WMASK,
    FEW_TERMS,
    LEAD_TOKENS,
    SAMPLE_K,
    Signature,
    _u32s,
)

__all__ = ["CANDIDATES", "Candidate", "Match", "match", "min_shared_keys", "score"]

# Thresholds were chosen on the tuning split of bench/dedup_eval.py (BBC odd rows, ECB+ odd
# topics, UCI stories of one hash parity) and are reported on the held-out split as well.

CANDIDATES = 24  # candidates the store hands to match (most shared keys first)

DUP_LEAD = 0.6  # containment of the shorter lead in the longer (exact, 16-bit hashes)
DUP_LEAD_ALONE = 0.9  # ... enough on its own (a summary of a long text)
DUP_CONTAIN = 0.5  # 8-gram containment of the shorter body in the longer, on its own
DUP_CONTAIN_LEAD = 0.5  # ... with a shared lead
MIN_CONTAIN_TESTS = 6  # sampled 8-grams the containment estimate must rest on
MIN_CONTAIN_HITS = 4  # ... and how many of them must be shared (3 of 6: a caption, a credit)
MIN_LEAD_TESTS = 4
MIN_DUP_SHINGLES = 8  # below this a body is too short to call a copy on its own
EVENT_COSINE = 0.41  # weighted cosine of the event terms (full texts)
EVENT_COSINE_FEW = 0.25  # ... of headline-only items (they must share names too)
EVENT_NAMES = 0.0  # share of the smaller name set in common (full texts)
TIME_BONUS = 0.15  # threshold lowered by up to this when published close in time
TIME_SCALE = 0.25  # hours over which that bonus decays (exp(-gap / scale)); at 6 h, the
# UCI headlines 15 .. 60 minutes apart it grouped at a cosine of 0.15 .. 0.4 were mostly wrong
EVENT_NAMES_FEW = 0.2  # names overlap also needed then (UCI: "Quiznos" / "Sbarro files for ...")
MIN_SHARED_TERMS = 2  # shared event terms, at least
# headline-only items published within ONE_NAME_HOURS of each other may share a single
# term when it is a rare name (weight >= ONE_NAME_WEIGHT, i.e. idf prior >= 4: "Sbarro",
# "Snowden", not "Apple") and the cosine reaches ONE_NAME_COSINE (UCI tuning split: 15
# minutes and 0.15 merge fewer wrong pairs and find more right ones than 3 h and 0.25)
ONE_NAME_HOURS = 0.25
ONE_NAME_WEIGHT = 20
ONE_NAME_COSINE = 0.15


@dataclass(frozen=True, slots=True)
class Candidate:
    """An already stored article the index found for a new one.

    signature: decoded, or serialized (:meth:`Signature.to_bytes`, checked with
    :meth:`Signature.valid_bytes`): then only the parts the pre-check reads are decoded, and
    the rest only for candidates scored in full.  shared_keys: how many index keys it shares
    with the new article (None: unknown; see :func:`match`)."""

    article_id: int
    story_id: int
    signature: Signature | bytes
    published_at: datetime | None
    shared_keys: int | None = None

    def decoded(self) -> Signature:
        sig = self.signature
        return sig if isinstance(sig, Signature) else Signature.from_bytes(sig)


@dataclass(frozen=True, slots=True)
class Match:
    """The decision for a new article: join `story_id` because of `article_id`.

    level: "duplicate" (the same article) or "event" (another report of the same event);
    score: the similarity that decided (0..1); reason: it spelled out, for the store.
    copies: the other candidates that are copies of the new article by body containment,
    as (story_id, article_id), ascending.  The duplicate relation is transitive (A ~ B and
    A ~ C make B and C one article), so the store folds the stories among them into one
    (see :attr:`merge`)."""

    story_id: int
    article_id: int
    level: str
    score: float
    reason: str
    copies: tuple[tuple[int, int], ...] = ()

    @property
    def merge(self) -> tuple[int, ...]:
        """The stories to fold into `story_id`: those of :attr:`copies` but itself."""
        return tuple(sorted({s for s, _ in self.copies} - {self.story_id}))


# --------------------------------------------------------------------------- similarity


def _sample_containment(small: Signature, large: Signature) -> tuple[float, int]:
    """(|A ∩ B| / |A|, number of tests) for the smaller body A, from the bottom-k samples:
    only values both samples are complete up to are compared (Broder's bottom-k estimator
    restricted to a common threshold), so it is exact when both texts are short."""
    a, b = small.sample, large.sample
    if not a or not b:
        return 0.0, 0
    tau = min(
        a[-1] if len(a) >= SAMPLE_K else _M64,
        b[-1] if len(b) >= SAMPLE_K else _M64,
    )
    tests = [x for x in a if x <= tau] if tau < a[-1] else a
    if not tests:
        return 0.0, 0
    return len(set(tests).intersection(b)) / len(tests), len(tests)


def _cosine(a: Signature, b: Signature) -> tuple[float, int, float]:
    """(weighted cosine of the event terms, shared terms, share of the smaller name set
    in common)."""
    if not a.terms or not b.terms:
        return 0.0, 0, 0.0
    wb = dict(zip(b.terms, b.weights, strict=True))
    dot = 0
    shared = 0
    names = 0
    for t, w in zip(a.terms, a.weights, strict=True):
        v = wb.get(t)
        if v is not None:
            dot += (w & _WMASK) * (v & _WMASK)
            shared += 1
            names += bool(w & v & _NAME)
    if not shared:
        return 0.0, 0, 0.0
    na = sum((w & _WMASK) ** 2 for w in a.weights)
    nb = sum((w & _WMASK) ** 2 for w in b.weights)
    small = min(sum(1 for w in a.weights if w & _NAME), sum(1 for w in b.weights if w & _NAME))
    return dot / math.sqrt(na * nb), shared, (names / small if small else 0.0)


def _shared_name_weight(a: Signature, b: Signature) -> int:
    """The weight of the heaviest name the two share (the lower of its two weights)."""
    wb = dict(zip(b.terms, b.weights, strict=True))
    best = 0
    for t, w in zip(a.terms, a.weights, strict=True):
        v = wb.get(t)
        if v is not None and w & v & _NAME:
            best = max(best, min(w & _WMASK, v & _WMASK))
    return best


def _one_subject_each(a: Signature, b: Signature) -> bool:
    """Two headlines that differ in exactly one term each, both rare names: one headline
    template about two subjects ("Quiznos|Sbarro files for Chapter 11 bankruptcy", #18)."""
    wa = dict(zip(a.terms, a.weights, strict=True))
    wb = dict(zip(b.terms, b.weights, strict=True))
    only_a = [w for t, w in wa.items() if t not in wb]
    only_b = [w for t, w in wb.items() if t not in wa]
    return len(only_a) == len(only_b) == 1 and all(
        w & _NAME and (w & _WMASK) >= ONE_NAME_WEIGHT for w in (*only_a, *only_b)
    )


@dataclass(frozen=True, slots=True)
class _Scores:
    lead: float  # containment of the shorter lead in the longer (exact)
    contain: float  # containment of the smaller body in the larger (bottom-k sample)
    tests: int  # how many sampled 8-grams that rests on
    terms: float  # weighted cosine of the event terms
    names: float  # share of the smaller name set in common
    shared_terms: int


def _scores(a: Signature, b: Signature) -> _Scores:
    short = min(len(a.lead), len(b.lead))
    lead = len(set(a.lead).intersection(b.lead)) / short if short else 0.0
    small, large = (a, b) if (a.n_body, a.sample) <= (b.n_body, b.sample) else (b, a)
    contain, tests = _sample_containment(small, large)
    cos, shared, names = _cosine(a, b)
    return _Scores(lead, contain, tests, cos, names, shared)


def score(
    a: Signature, b: Signature, hours_apart: float | None = None
) -> tuple[str | None, float, str]:
    """(level or None, score, reason) for one pair; the decision behind :func:`match`.
    `hours_apart`: how far apart the two were published, when both dates are known."""
    level, value, reason, _ = _score(a, b, hours_apart)
    return level, value, reason


def _score(
    a: Signature, b: Signature, hours_apart: float | None
) -> tuple[str | None, float, str, bool]:
    """:func:`score`, and whether the pair is a copy by body containment (the strongest
    evidence: enough to fold two stories into one, see `Match.merge`)."""
    s = _scores(a, b)
    small = min(a.n_body, b.n_body)
    sure = s.tests >= MIN_CONTAIN_TESTS and s.contain * s.tests >= MIN_CONTAIN_HITS - 1e-9
    if small >= MIN_DUP_SHINGLES and sure and s.contain >= DUP_CONTAIN:
        return (
            "duplicate",
            s.contain,
            f"body containment {s.contain:.2f} ({s.tests} samples)",
            True,
        )
    short_lead = min(len(a.lead), len(b.lead))
    # the same opening words, and: the shorter text is all lead (a summary-only copy), or
    # its body is contained in the longer, or the openings agree almost verbatim
    if (
        short_lead >= MIN_DUP_SHINGLES
        and s.lead >= DUP_LEAD
        and (
            small <= LEAD_TOKENS
            or (s.tests >= MIN_LEAD_TESTS and s.contain >= DUP_CONTAIN_LEAD)
            or s.lead >= DUP_LEAD_ALONE
        )
    ):
        return (
            "duplicate",
            s.lead,
            f"shared lead containment {s.lead:.2f}, body containment {s.contain:.2f}",
            False,
        )
    # headline-only items (few terms) share a verb and a topic across different events:
    # they must share names too (UCI: "Quiznos files for Chapter 11" vs "Sbarro files ...")
    # headline-only rules only when both are: a headline against a full text takes the full-
    # text rule (with either one short, short ECB+ articles joined the other event of their
    # topic at a cosine of 0.26 .. 0.34; EVENT_COSINE 0.41 was tuned with this rule)
    few = len(a.terms) < FEW_TERMS and len(b.terms) < FEW_TERMS
    if few and s.names < EVENT_NAMES_FEW:
        return None, max(s.contain, s.terms), "", False
    if few and _one_subject_each(a, b):
        return None, max(s.contain, s.terms), "", False
    if not few and s.names < EVENT_NAMES:
        return None, max(s.contain, s.terms), "", False
    bonus = TIME_BONUS * math.exp(-hours_apart / TIME_SCALE) if hours_apart is not None else 0.0
    if (
        few
        and s.shared_terms == 1
        and hours_apart is not None
        and hours_apart <= ONE_NAME_HOURS
        and s.terms >= ONE_NAME_COSINE
        and _shared_name_weight(a, b) >= ONE_NAME_WEIGHT
    ):
        return (
            "event",
            s.terms,
            f"one rare name in common, event terms weighted cosine {s.terms:.2f}, "
            f"{hours_apart:.1f} h apart",
            False,
        )
    if (
        s.terms >= (EVENT_COSINE_FEW if few else EVENT_COSINE) - bonus
        and s.shared_terms >= MIN_SHARED_TERMS
    ):
        when = f", {hours_apart:.1f} h apart" if hours_apart is not None else ""
        return (
            "event",
            s.terms,
            f"event terms weighted cosine {s.terms:.2f} ({s.shared_terms} shared), "
            f"names overlap {s.names:.2f}{when}",
            False,
        )
    return None, max(s.contain, s.terms), "", False


_LEVEL_RANK = {"duplicate": 0, "event": 1}
_DUP_KEYS = 2  # a candidate sharing fewer index keys is assumed not to be a copy (see match)


def _hours(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    try:
        return abs((a - b).total_seconds()) / 3600
    except TypeError:  # naive against aware
        return None


class _Query:
    """What the pre-check needs of the new article, computed once per :func:`match`."""

    __slots__ = ("n_terms", "norm2", "terms", "w2")

    def __init__(self, sig: Signature) -> None:
        self.w2 = {t: (w & _WMASK) ** 2 for t, w in zip(sig.terms, sig.weights, strict=True)}
        self.terms = frozenset(self.w2)
        self.n_terms = len(sig.terms)
        self.norm2 = sum(self.w2.values())


def _candidate_terms(c: Candidate) -> tuple[int, ...]:
    sig = c.signature
    if isinstance(sig, Signature):
        return sig.terms
    _, _, ns, nl, na, nt = _HEAD.unpack_from(sig, 0)
    return _u32s(nt).unpack_from(sig, _HEAD.size + 4 * ns + 2 * nl + 4 * na)


def min_shared_keys(sig: Signature) -> int:
    """The fewest index keys a candidate must share with `sig` to possibly match: without
    event terms only a copy can match, and the pre-check (see :func:`_may_match`) takes a
    copy to share _DUP_KEYS keys; so the store need not even read the others."""
    return 1 if sig.terms else _DUP_KEYS


def _may_match(q: _Query, c: Candidate, published_at: datetime | None) -> bool:
    """False when `c` cannot be an event match (exact) nor a duplicate (see :func:`match`).

    Event: the cosine needs MIN_SHARED_TERMS shared terms (two headline-only items: or one,
    when published within ONE_NAME_HOURS), and by Cauchy-Schwarz it is at most sqrt(sum of
    the new article's squared weights over the shared terms / its squared norm) -- a bound
    from one side only, so nothing of the candidate but its term hashes and date is read."""
    if c.shared_keys is None or c.shared_keys >= _DUP_KEYS:
        return True
    terms = _candidate_terms(c)
    shared = q.terms.intersection(terms)
    if not shared or not q.norm2:
        return False
    few = q.n_terms < FEW_TERMS and len(terms) < FEW_TERMS  # as in _score
    if len(shared) < MIN_SHARED_TERMS:
        if not few:
            return False
        # a headline sharing one rare name, published within ONE_NAME_HOURS: scored in full
        hours = _hours(published_at, c.published_at)
        return hours is not None and hours <= ONE_NAME_HOURS
    w2 = q.w2
    bound2 = sum(w2[t] for t in shared) / q.norm2 * (1 + 1e-9)
    need = EVENT_COSINE_FEW if few else EVENT_COSINE
    if bound2 >= need * need:
        return True
    lenient = need - TIME_BONUS
    if lenient <= 0 or bound2 >= lenient * lenient:
        hours = _hours(published_at, c.published_at)
        if hours is not None:
            need -= TIME_BONUS * math.exp(-hours / TIME_SCALE)
            return need <= 0 or bound2 >= need * need
    return False


def match(
    sig: Signature,
    candidates: Sequence[Candidate],
    *,
    published_at: datetime | None = None,
    precheck: bool = True,
) -> Match | None:
    """The best candidate for `sig`, or None.  A duplicate beats any event match; then the
    higher score; ties go to the earliest article (smallest id) -- deterministic.
    `published_at` (the new article's date) lets closeness in time count for events.

    Pre-check (`precheck`, on by default): a candidate that shares fewer than two index keys
    and cannot reach the event threshold by the bound in :func:`_may_match` is skipped
    without decoding or scoring it.  The event part is exact; the
    duplicate part assumes a copy shares two keys (its smallest sampled 8-grams, or anchors
    of its lead): on the evaluation data no decision changes (``bench.dedup_eval``
    counts them).  Candidates whose `shared_keys` is unknown are always scored in full."""
    q = _Query(sig) if precheck else None
    best: tuple[int, float, int] | None = None
    found: Match | None = None
    copies: set[tuple[int, int]] = set()  # (story, article) of copies by body containment
    for c in candidates:
        if q is not None and not _may_match(q, c, published_at):
            continue
        hours = _hours(published_at, c.published_at)
        level, value, reason, copy = _score(sig, c.decoded(), hours)
        if level is None:
            continue
        if copy:
            copies.add((c.story_id, c.article_id))
        key = (_LEVEL_RANK[level], -value, c.article_id)
        if best is None or key < best:
            best = key
            found = Match(c.story_id, c.article_id, level, round(value, 4), reason)
    if found is not None:
        copies.discard((found.story_id, found.article_id))
        if copies:
            found = dataclasses.replace(found, copies=tuple(sorted(copies)))
    return found
