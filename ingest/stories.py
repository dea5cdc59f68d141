"""Cross-outlet story grouping: signatures, LSH band keys and the match decision (issue #5).

Pure and deterministic: no I/O, no randomness, no process-salted `hash()`.  The store keeps
the band keys in an indexed table (``storage.story_index``) and hands back a handful of
candidates; :func:`match` decides.

    signature(title, text) -> Signature -> band_keys(sig) -> [int64]   (index lookup / insert)
    match(sig, candidates) -> Match("duplicate" | "event", score, reason) | None

What a signature holds (32-bit values, ~2.5 KB serialized; SIGNATURE_VERSION 2):

- ``body``: a one-permutation MinHash (64 bins, optimal densification) of the word 3-shingles
  of the text (of the title when there is no text): estimates Jaccard, and feeds the bands.
- ``sample``: the SAMPLE_K smallest hashes of the text's word 8-grams (a bottom-k sketch).
  Two samples compared below a common threshold estimate the *containment* of the shorter
  text in the longer (exact when both are short): a summary-only copy, a copy in page debris.
- ``lead``: the exact shingle hashes of the first ``LEAD_TOKENS`` words, and ``anchors``:
  the first few of them picked by their own hash (1 in 8, holding a content word), which
  every copy of the same opening picks too -- index keys that survive truncation.
- ``terms``: content words (stop words removed) of the title and the first EVENT_WORDS words
  of the text, ``entities``: capitalised words and numbers there, ``title``: headline words.

Levels (thresholds chosen on the tuning split of ``bench/dedup_eval.py``):

- "duplicate": the same article (other boilerplate, headline, dateline, light edits, a
  summary-only copy, a later revision, reordered paragraphs): body Jaccard >= DUP_JACCARD,
  or 8-gram containment of the shorter text >= DUP_CONTAIN_ALONE (on >= MIN_CONTAIN_TESTS
  sampled 8-grams; the evaluation calls two ECB+ texts copies at half their 8-grams), or a shared lead
  (lead containment >= DUP_LEAD) with the shorter text all lead or contained.
- "event": another write-up of the same event, conservative (precision first): event-term
  cosine >= EVENT_TERMS with >= MIN_SHARED_TERMS shared; headline-only items (fewer than
  FEW_TERMS terms) must also share most of their names (EVENT_NAMES_FEW).

Band keys are signed 64-bit integers (SQLite INTEGER), hashed with a seed per kind, band and
SIGNATURE_VERSION: 10 body bands + up to 8 anchors + 3 event keys (~20 rows per article).
"""

from __future__ import annotations

import math
import re
import struct
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import xxhash

__all__ = [
    "BODY_BANDS",
    "BODY_BINS",
    "BODY_ROWS",
    "Candidate",
    "Match",
    "Signature",
    "band_keys",
    "match",
    "score",
    "signature",
]

# --------------------------------------------------------------------------- parameters
# Thresholds were chosen on the tuning split of bench/dedup_eval.py (BBC odd rows, ECB+ odd
# topics, UCI stories of one hash parity) and are reported on the held-out split as well.

SIGNATURE_VERSION = 2
SHINGLE = 3  # words per shingle
BODY_WORDS = 1500  # words of the text that are shingled (cost bound for very long texts)
BODY_BINS = 64  # one-permutation MinHash bins
BODY_ROWS = 2  # rows per LSH band over the body sketch
BODY_BANDS = 10  # 10 x 2 = 20 of the 64 bins
SAMPLE_K = 256  # bottom-k sample of the body's word 8-grams (containment of a short copy)
LEAD_TOKENS = 100  # words of the text that make up the "lead"
ANCHOR_MASK = 7  # a lead shingle is an anchor when (hash >> 8) & ANCHOR_MASK == 0 (1 in 8)
MAX_ANCHORS = 8  # anchor keys per article: the first ones of the lead, in text order
EVENT_WORDS = 150  # words of the text (after the title) that feed the event terms
EVENT_KEYS = 3  # event keys: the smallest hashed names of the article
MAX_TERMS = 128
MAX_ENTITIES = 48

DUP_JACCARD = 0.65  # body Jaccard (estimated, 3-shingles) for a duplicate on its own
DUP_LEAD = 0.6  # containment of the shorter lead in the longer (exact)
DUP_LEAD_ALONE = 0.9  # ... enough on its own (a summary of a long text: Jaccard is too noisy)
DUP_CONTAIN = 0.5  # containment of the shorter body in the longer (with a shared lead)
DUP_CONTAIN_ALONE = 0.5  # ... enough on its own (a summary-only copy, a cut of the text)
MIN_CONTAIN_TESTS = 6  # sampled shingles the containment estimate must rest on
LEAD_SHORT = True  # a short text sharing the lead is a summary-only copy
MIN_LEAD_TESTS = 4
MIN_DUP_SHINGLES = 8  # below this a body is too short to call a copy on its own
EVENT_TERMS = 0.30  # cosine of the event-term sets (title + first EVENT_WORDS words)
MIN_EVENT_ENTITIES = 2
FEW_TERMS = 20  # fewer event terms than this: a headline-only item
EVENT_NAMES_FEW = 0.7  # names overlap also needed then (UCI: "Quiznos" / "Sbarro files for ...")
MIN_SHARED_TERMS = 2  # shared event terms, at least

_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1
_MIX = 0x9E3779B97F4A7C15
_MIX2 = 0xC2B2AE3D27D4EB4F
_EMPTY = _M32  # an empty bin (only when the whole body is empty)

_WORD = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)
_CAP = re.compile(r"^[A-Z0-9]")
_STOP_WORDS = """
a about above after again against all also am an and any are aren't as at be because been
before being below between both but by can could did do does doing down during each few for
from further had has have having he her here hers herself him himself his how i if in into
is it its itself just me more most my myself no nor not now of off on once only or other our
ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself yourselves
said says say told tell according also would could may might must shall one two new year
years time times last first next week day today yesterday tomorrow monday tuesday wednesday
thursday friday saturday sunday mr mrs ms dr s t re ve ll d m people get got go going make
made like many much well back still even us per cent percent news report reports reported
according update updated via read more share click
"""
_STOP = frozenset(_STOP_WORDS.split())


# --------------------------------------------------------------------------- records

_PARTS = 7  # tuple fields serialized after n_body


@dataclass(frozen=True, slots=True)
class Signature:
    """A compact, serializable sketch of one article (see the module docstring)."""

    n_body: int  # distinct body shingles
    body: tuple[int, ...]  # BODY_BINS 32-bit MinHash values
    sample: tuple[int, ...]  # the SAMPLE_K smallest 32-bit body shingle values, ascending
    lead: tuple[int, ...]  # sorted distinct 32-bit hashes of the lead shingles
    anchors: tuple[int, ...]  # up to MAX_ANCHORS sampled lead shingles, in text order
    terms: tuple[int, ...]  # sorted distinct 32-bit hashes of event terms
    entities: tuple[int, ...]  # sorted distinct 32-bit hashes of names and numbers
    title: tuple[int, ...]  # sorted distinct 32-bit hashes of headline content words

    def to_bytes(self) -> bytes:
        """Version byte, the body count, then each part as a u16 length + u32 values."""
        parts = [struct.pack("<BI", SIGNATURE_VERSION, self.n_body)]
        for values in (
            self.body,
            self.sample,
            self.lead,
            self.anchors,
            self.terms,
            self.entities,
            self.title,
        ):
            parts.append(struct.pack(f"<H{len(values)}I", len(values), *values))
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        """Inverse of :meth:`to_bytes`. Raises ValueError on bytes it did not write (which
        includes signatures of another SIGNATURE_VERSION)."""
        try:
            version, n_body = struct.unpack_from("<BI", data, 0)
            if version != SIGNATURE_VERSION:
                raise ValueError(f"unknown signature version {version}")
            pos = 5
            fields: list[tuple[int, ...]] = []
            for _ in range(_PARTS):
                (count,) = struct.unpack_from("<H", data, pos)
                pos += 2
                fields.append(struct.unpack_from(f"<{count}I", data, pos))
                pos += 4 * count
        except struct.error as exc:
            raise ValueError(f"truncated signature ({len(data)} bytes): {exc}") from None
        if pos != len(data):
            raise ValueError(f"signature has {len(data) - pos} trailing bytes")
        if len(fields[0]) != BODY_BINS:
            raise ValueError(f"signature body has {len(fields[0])} bins, expected {BODY_BINS}")
        return cls(n_body, *fields)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An already stored article the index found for a new one."""

    article_id: int
    story_id: int
    signature: Signature
    published_at: datetime | None


@dataclass(frozen=True, slots=True)
class Match:
    """The decision for a new article: join `story_id` because of `article_id`.

    level: "duplicate" (the same article) or "event" (another report of the same event);
    score: the similarity that decided (0..1); reason: it spelled out, for the store."""

    story_id: int
    article_id: int
    level: str
    score: float
    reason: str


# --------------------------------------------------------------------------- signature

_WORD_CACHE: dict[str, int] = {}
_WORD_CACHE_MAX = 200_000


def _wh(word: str) -> int:
    """64-bit hash of one (lower-cased) word, memoized: news vocabulary repeats."""
    h = _WORD_CACHE.get(word)
    if h is None:
        if len(_WORD_CACHE) >= _WORD_CACHE_MAX:
            _WORD_CACHE.clear()
        h = _WORD_CACHE[word] = xxhash.xxh3_64_intdigest(word.encode())
    return h


def _h32(s: str) -> int:
    return _wh(s) >> 32


def _tokens(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text))


def _shingles(words: Sequence[str]) -> list[int]:
    """64-bit hashes of the word 3-shingles, in text order (one for a text of 1-2 words)."""
    if len(words) < SHINGLE:
        return [_wh(" ".join(words))] if words else []
    return [
        xxhash.xxh3_64_intdigest(f"{a} {b} {c}".encode())
        for a, b, c in zip(words, words[1:], words[2:], strict=False)
    ]


# fixed pseudo-random probe order for the densification of empty bins
_PROBE = tuple(
    tuple(
        xxhash.xxh32_intdigest(f"probe:{b}:{a}".encode()) % BODY_BINS
        for a in range(1, 4 * BODY_BINS)
    )
    for b in range(BODY_BINS)
)


def _oph(hashes: Iterable[int]) -> tuple[int, ...]:
    """One-permutation MinHash (Li, Owen & Zhang 2012) with optimal densification
    (Shrivastava 2017): each 64-bit hash goes to bin h % BODY_BINS and keeps its top 32 bits;
    an empty bin borrows from a bin chosen by a fixed probe sequence.  O(n), pure Python."""
    bins = [_M64] * BODY_BINS
    for h in hashes:
        b = h % BODY_BINS
        v = h >> 32
        if v < bins[b]:
            bins[b] = v
    if _M64 not in bins:
        return tuple(bins)
    if all(v == _M64 for v in bins):
        return (_EMPTY,) * BODY_BINS
    out = list(bins)
    for b, v in enumerate(bins):
        if v == _M64:
            for a, j in enumerate(_PROBE[b]):
                if bins[j] != _M64:
                    # mix in the attempt so borrowed values differ from the donor's own
                    out[b] = xxhash.xxh32_intdigest(f"{bins[j]}:{a}".encode())
                    break
            else:  # pragma: no cover - 255 probes of a non-empty sketch all missed
                out[b] = next(x for x in bins if x != _M64)
    return tuple(out)


def _sample(hashes: Sequence[int]) -> tuple[int, ...]:
    """The SAMPLE_K smallest 32-bit hashes of the body's word 8-grams, each made of the
    3-shingle hashes at offsets 0, 3 and 5 (no rehashing of text): long n-grams survive a
    verbatim copy, light edits and page debris around it, but not a rewrite of the facts."""
    if len(hashes) <= 5:
        return tuple(sorted({h >> 32 for h in hashes}))
    grams = {
        ((a ^ (b * _MIX) ^ (c * _MIX2)) & _M64) >> 32
        for a, b, c in zip(hashes, hashes[3:], hashes[5:], strict=False)
    }
    return tuple(sorted(grams)[:SAMPLE_K])


def _is_content(w: str) -> bool:
    return w not in _STOP and (len(w) > 1 or w.isdigit())


def _anchors(words: Sequence[str], hashes: Sequence[int]) -> tuple[int, ...]:
    """The first MAX_ANCHORS lead shingles chosen by their own hash (1 in ANCHOR_MASK + 1)
    that hold a content word: the same shingle is chosen in every copy, so a summary-only
    copy and the full text share the anchors of their common opening."""
    out: list[int] = []
    for i, h in enumerate(hashes):
        if (h >> 8) & ANCHOR_MASK == 0 and any(_is_content(w) for w in words[i : i + SHINGLE]):
            v = h >> 32
            if v not in out:
                out.append(v)
                if len(out) == MAX_ANCHORS:
                    break
    return tuple(out)


def signature(title: str, text: str) -> Signature:
    """The signature of one article from its headline and plain text (no HTML)."""
    title_raw = _tokens(title)
    text_raw = _tokens(text)
    title_words = [w.lower() for w in title_raw]
    text_words = [w.lower() for w in text_raw[:BODY_WORDS]]
    body_words = text_words if text_words else title_words
    body_sh = _shingles(body_words)
    n_body = len(set(body_sh))
    body = _oph(body_sh)
    sample = _sample(body_sh)
    n_lead = max(0, min(len(body_words), LEAD_TOKENS) - SHINGLE + 1) or len(body_sh[:1])
    lead_sh = body_sh[:n_lead]
    lead = sorted({h >> 32 for h in lead_sh})
    anchors = _anchors(body_words, lead_sh)

    ev_raw = title_raw + text_raw[:EVENT_WORDS]
    ev_words = title_words + text_words[:EVENT_WORDS]
    content = {w: _h32(w) for w in set(ev_words) if _is_content(w)}  # each word once
    terms = sorted(set(content.values()))[:MAX_TERMS]
    ents = sorted(
        {
            content[low]
            for w, low in zip(ev_raw, ev_words, strict=True)
            if low in content and _CAP.match(w)
        }
    )[:MAX_ENTITIES]
    title_terms = sorted({content[w] for w in title_words if w in content})
    return Signature(
        n_body,
        body,
        tuple(sample),
        tuple(lead),
        anchors,
        tuple(terms),
        tuple(ents),
        tuple(title_terms),
    )


# --------------------------------------------------------------------------- LSH keys


def _key(kind: str, band: int, values: Sequence[int]) -> int:
    """A signed 64-bit key for one band (fits SQLite INTEGER)."""
    raw = struct.pack(f"<{len(values)}I", *values)
    h = xxhash.xxh3_64_intdigest(raw, seed=_SEEDS[kind] + band)
    return h - (1 << 64) if h >= 1 << 63 else h


_SEEDS = {k: xxhash.xxh32_intdigest(f"v{SIGNATURE_VERSION}:{k}".encode()) << 8 for k in
          ("body", "anchor", "event")}  # fmt: skip


def band_keys(sig: Signature) -> list[int]:
    """The LSH band keys of a signature, deduplicated, in a stable order.

    - body: BODY_BANDS bands of BODY_ROWS bins (found at Jaccard ~0.3 and up);
    - anchor: one key per anchor shingle of the lead (a summary-only copy, a copy with
      page debris around it: containment, which Jaccard bands miss);
    - event: one key per name among the EVENT_KEYS smallest hashed names (another write-up
      of the same event shares its names, not its sentences).
    An empty body yields no body keys (nothing to find it by)."""
    keys: list[int] = []
    if sig.n_body:
        for b in range(BODY_BANDS):
            keys.append(_key("body", b, sig.body[b * BODY_ROWS : (b + 1) * BODY_ROWS]))
    for v in sig.anchors:
        keys.append(_key("anchor", 0, (v,)))
    if len(sig.entities) >= MIN_EVENT_ENTITIES:
        for v in sig.entities[:EVENT_KEYS]:
            keys.append(_key("event", 0, (v,)))
    return list(dict.fromkeys(keys))


# --------------------------------------------------------------------------- similarity


def _inter(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    return len(set(a).intersection(b))


def _body_jaccard(a: Signature, b: Signature) -> float:
    if not a.n_body or not b.n_body:
        return 0.0
    return sum(1 for x, y in zip(a.body, b.body, strict=True) if x == y) / BODY_BINS


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
    tests = [x for x in a if x <= tau]
    if not tests:
        return 0.0, 0
    return len(set(tests).intersection(b)) / len(tests), len(tests)


@dataclass(frozen=True, slots=True)
class _Scores:
    jaccard: float
    lead: float  # containment of the shorter lead in the longer (exact)
    contain: float  # containment of the smaller body in the larger (bottom-k sample)
    tests: int  # how many sampled shingles that rests on
    terms: float
    entities: float
    shared_terms: int


def _scores(a: Signature, b: Signature) -> _Scores:
    j = _body_jaccard(a, b)
    short = min(len(a.lead), len(b.lead))
    lead = _inter(a.lead, b.lead) / short if short else 0.0
    small, large = (a, b) if (a.n_body, a.sample) <= (b.n_body, b.sample) else (b, a)
    contain, tests = _sample_containment(small, large)
    ti = _inter(a.terms, b.terms)
    terms = ti / math.sqrt(len(a.terms) * len(b.terms)) if a.terms and b.terms else 0.0
    ne = min(len(a.entities), len(b.entities))
    ents = _inter(a.entities, b.entities) / ne if ne >= MIN_EVENT_ENTITIES else 0.0
    return _Scores(j, lead, contain, tests, terms, ents, ti)


def score(a: Signature, b: Signature) -> tuple[str | None, float, str]:
    """(level or None, score, reason) for one pair; the decision behind :func:`match`."""
    s = _scores(a, b)
    small = min(a.n_body, b.n_body)
    if small >= MIN_DUP_SHINGLES and s.jaccard >= DUP_JACCARD:
        return "duplicate", s.jaccard, f"body jaccard {s.jaccard:.2f}"
    sure = s.tests >= MIN_CONTAIN_TESTS
    if small >= MIN_DUP_SHINGLES and sure and s.contain >= DUP_CONTAIN_ALONE:
        return (
            "duplicate",
            s.contain,
            f"body containment {s.contain:.2f} ({s.tests} samples), jaccard {s.jaccard:.2f}",
        )
    short_lead = min(len(a.lead), len(b.lead))
    # the same opening words, and: the shorter text is all lead (a summary-only copy), or
    # its body is contained in the longer, or the openings agree almost verbatim
    if (
        short_lead >= MIN_DUP_SHINGLES
        and s.lead >= DUP_LEAD
        and (
            (LEAD_SHORT and small <= LEAD_TOKENS)
            or (s.tests >= MIN_LEAD_TESTS and s.contain >= DUP_CONTAIN)
            or s.lead >= DUP_LEAD_ALONE
        )
    ):
        return (
            "duplicate",
            s.lead,
            f"shared lead containment {s.lead:.2f}, body containment {s.contain:.2f}",
        )
    # headline-only items (few terms) share a verb and a topic across different events:
    # they must share names too (UCI: "Quiznos files for Chapter 11" vs "Sbarro files ...")
    strict = min(len(a.terms), len(b.terms)) < FEW_TERMS
    if strict and s.entities < EVENT_NAMES_FEW:
        return None, max(s.jaccard, s.terms), ""
    if s.terms >= EVENT_TERMS and s.shared_terms >= MIN_SHARED_TERMS:
        return (
            "event",
            s.terms,
            f"event terms cosine {s.terms:.2f} ({s.shared_terms} shared), "
            f"names overlap {s.entities:.2f}",
        )
    return None, max(s.jaccard, s.terms), ""


_LEVEL_RANK = {"duplicate": 0, "event": 1}


def match(sig: Signature, candidates: Sequence[Candidate]) -> Match | None:
    """The best candidate for `sig`, or None.  A duplicate beats any event match; then the
    higher score; ties go to the earliest article (smallest id) -- deterministic."""
    best: tuple[int, float, int] | None = None
    found: Match | None = None
    for c in candidates:
        level, value, reason = score(sig, c.signature)
        if level is None:
            continue
        key = (_LEVEL_RANK[level], -value, c.article_id)
        if best is None or key < best:
            best = key
            found = Match(c.story_id, c.article_id, level, round(value, 4), reason)
    return found
