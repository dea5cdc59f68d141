"""Cross-outlet story grouping: signatures, LSH band keys and the match decision (issue #5).

Pure and deterministic: no I/O, no randomness, no process-salted `hash()`.  The store keeps
the band keys in an indexed table (``storage.story_index``) and hands back a handful of
candidates; :func:`match` decides.

    signature(title, text) -> Signature -> band_keys(sig) -> [int64]   (index lookup / insert)
    match(sig, candidates) -> Match("duplicate" | "event", score, reason) | None

What a signature holds (all 32-bit xxh3 hashes, ~0.6 KB serialized):

- ``body``: a one-permutation MinHash (64 bins, optimal densification) of the word 3-shingles
  of the text (of the title when there is no text).  Estimates Jaccard; with the shingle count
  ``n_body`` it also estimates containment (a summary-only copy inside a full text).
- ``lead``: the exact shingle hashes of the first ``LEAD_TOKENS`` words of the text.  A
  summary-only copy, or a copy with a dateline / credit line put in front, shares its lead.
- ``terms``: content words (stop words removed) of the title and the first words of the text,
  and ``entities``: capitalised words and numbers there -- for same-event grouping.
- ``title``: the content words of the headline alone.

Levels:

- "duplicate": the same article (other boilerplate, headline, dateline, light edits, a
  summary-only copy, a later revision): body Jaccard >= ``DUP_JACCARD``, or a shared lead
  (lead containment >= ``DUP_LEAD``) with the shorter text contained in the longer one.
- "event": another write-up of the same event, conservative (precision first): the two share
  enough specific words *and* names/numbers.  Thresholds were set on ECB+ / UCI in
  ``bench/dedup_eval.py``, which reports how well they do.

Band keys are signed 64-bit integers (SQLite INTEGER), namespaced by kind and band number so
two different bands can never collide by construction.
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

SIGNATURE_VERSION = 1
SHINGLE = 3  # words per shingle
BODY_BINS = 64  # one-permutation MinHash bins
BODY_ROWS = 3  # rows per LSH band over the body sketch
BODY_BANDS = 21  # 21 x 3 = 63 of the 64 bins
LEAD_TOKENS = 100  # words of the text that make up the "lead"
LEAD_ROWS = 2  # lead bands: MinHash of the lead shingles
LEAD_BANDS = 10
EVENT_WORDS = 80  # words of the text (after the title) that feed the event terms
EVENT_ROWS = 2  # event bands: MinHash of the event terms
EVENT_BANDS = 6
MAX_TERMS = 64
MAX_ENTITIES = 48

DUP_JACCARD = 0.45  # body Jaccard (estimated) for a duplicate
DUP_LEAD = 0.6  # containment of the shorter lead in the longer (exact)
DUP_LEAD_ALONE = 0.9  # ... enough on its own (a summary of a long text: Jaccard is too noisy)
DUP_CONTAIN = 0.5  # containment of the shorter body in the longer (with a shared lead)
MIN_DUP_SHINGLES = 8  # below this a body is too short to call a copy on its own
EVENT_TERMS = 0.30  # cosine of the event-term sets
EVENT_ENTITIES = 0.40  # overlap coefficient of the entity sets
EVENT_SCORE = 0.40  # combined score (see _event_score)
MIN_EVENT_ENTITIES = 2
FEW_TERMS = 12  # fewer event terms than this: a headline-only item
EVENT_TERMS_FEW = 0.7  # terms cosine and names overlap both needed for headline-only items
MIN_SHARED_TERMS = 3  # headlines share "Apple" and "iPhone" across many stories

_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1
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


@dataclass(frozen=True, slots=True)
class Signature:
    """A compact, serializable sketch of one article (see the module docstring)."""

    n_body: int  # distinct body shingles
    body: tuple[int, ...]  # BODY_BINS 32-bit MinHash values
    lead: tuple[int, ...]  # sorted distinct 32-bit hashes of the lead shingles
    terms: tuple[int, ...]  # sorted distinct 32-bit hashes of event terms
    entities: tuple[int, ...]  # sorted distinct 32-bit hashes of names and numbers
    title: tuple[int, ...]  # sorted distinct 32-bit hashes of headline content words

    def to_bytes(self) -> bytes:
        """Version byte, the body count, then each part as a u16 length + u32 values."""
        parts = [struct.pack("<BI", SIGNATURE_VERSION, self.n_body)]
        for values in (self.body, self.lead, self.terms, self.entities, self.title):
            parts.append(struct.pack(f"<H{len(values)}I", len(values), *values))
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        """Inverse of :meth:`to_bytes`. Raises ValueError on bytes it did not write."""
        try:
            version, n_body = struct.unpack_from("<BI", data, 0)
            if version != SIGNATURE_VERSION:
                raise ValueError(f"unknown signature version {version}")
            pos = 5
            fields: list[tuple[int, ...]] = []
            for _ in range(5):
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


def _h32(s: str) -> int:
    return xxhash.xxh32_intdigest(s.encode())


def _tokens(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text))


def _shingles(words: Sequence[str]) -> list[int]:
    if len(words) < SHINGLE:
        return [_h32(" ".join(words))] if words else []
    return [
        xxhash.xxh3_64_intdigest(" ".join(words[i : i + SHINGLE]).encode())
        for i in range(len(words) - SHINGLE + 1)
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
    (Shrivastava 2017): each 64-bit hash goes to bin h % BODY_BINS and keeps its top bits;
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


def _minhash(values: Iterable[int], k: int, salt: str) -> list[int]:
    """k independent minimums over a small set (lead shingles, event terms)."""
    items = list(values)
    out = []
    for i in range(k):
        seed = xxhash.xxh32_intdigest(f"{salt}:{i}".encode())
        out.append(min(xxhash.xxh32_intdigest(v.to_bytes(4, "little"), seed) for v in items))
    return out


def _content(words: Iterable[str]) -> list[str]:
    return [w for w in words if w not in _STOP and not (len(w) == 1 and not w.isdigit())]


def signature(title: str, text: str) -> Signature:
    """The signature of one article from its headline and plain text (no HTML)."""
    title_raw = _tokens(title)
    text_raw = _tokens(text)
    title_words = [w.lower() for w in title_raw]
    text_words = [w.lower() for w in text_raw]
    body_words = text_words if text_words else title_words
    body_sh = _shingles(body_words)
    n_body = len(set(body_sh))
    body = _oph(body_sh)
    lead = sorted({h & _M32 for h in _shingles(body_words[:LEAD_TOKENS])})

    ev_raw = title_raw + text_raw[:EVENT_WORDS]
    terms = sorted({_h32(w) for w in _content(w.lower() for w in ev_raw)})[:MAX_TERMS]
    ents = sorted(
        {
            _h32(w.lower())
            for w in ev_raw
            if _CAP.match(w) and w.lower() not in _STOP and (len(w) > 1 or w.isdigit())
        }
    )[:MAX_ENTITIES]
    title_terms = sorted({_h32(w) for w in _content(title_words)})
    return Signature(n_body, body, tuple(lead), tuple(terms), tuple(ents), tuple(title_terms))


# --------------------------------------------------------------------------- LSH keys


def _key(kind: str, band: int, values: Sequence[int]) -> int:
    """A signed 64-bit key for one band (fits SQLite INTEGER)."""
    raw = struct.pack(f"<{len(values)}I", *values)
    h = xxhash.xxh3_64_intdigest(raw, seed=xxhash.xxh32_intdigest(f"{kind}:{band}".encode()))
    return h - (1 << 64) if h >= 1 << 63 else h


def band_keys(sig: Signature) -> list[int]:
    """The LSH band keys of a signature, deduplicated, in a stable order.

    - body: BODY_BANDS bands of BODY_ROWS bins (found at Jaccard ~0.3 and up);
    - lead: LEAD_BANDS bands of LEAD_ROWS over a MinHash of the lead shingles;
    - event: EVENT_BANDS bands of EVENT_ROWS over a MinHash of the event terms.
    An empty body yields no body keys (nothing to find it by)."""
    keys: list[int] = []
    if sig.n_body:
        for b in range(BODY_BANDS):
            keys.append(_key("body", b, sig.body[b * BODY_ROWS : (b + 1) * BODY_ROWS]))
    if sig.lead:
        mh = _minhash(sig.lead, LEAD_BANDS * LEAD_ROWS, "lead")
        for b in range(LEAD_BANDS):
            keys.append(_key("lead", b, mh[b * LEAD_ROWS : (b + 1) * LEAD_ROWS]))
    if len(sig.terms) >= 2:
        mh = _minhash(sig.terms, EVENT_BANDS * EVENT_ROWS, "event")
        for b in range(EVENT_BANDS):
            keys.append(_key("event", b, mh[b * EVENT_ROWS : (b + 1) * EVENT_ROWS]))
    return list(dict.fromkeys(keys))


# --------------------------------------------------------------------------- similarity


def _inter(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    return len(set(a).intersection(b))


def _body_jaccard(a: Signature, b: Signature) -> float:
    if not a.n_body or not b.n_body:
        return 0.0
    return sum(1 for x, y in zip(a.body, b.body, strict=True) if x == y) / BODY_BINS


def _containment(j: float, n_small: int, n_large: int) -> float:
    """|A ∩ B| / |A| for the smaller set A, from the Jaccard estimate and the set sizes."""
    if n_small <= 0:
        return 0.0
    return min(1.0, j * (n_small + n_large) / ((1.0 + j) * n_small))


@dataclass(frozen=True, slots=True)
class _Scores:
    jaccard: float
    lead: float  # containment of the shorter lead in the longer (exact)
    contain: float
    terms: float
    entities: float
    shared_terms: int


def _scores(a: Signature, b: Signature) -> _Scores:
    j = _body_jaccard(a, b)
    short = min(len(a.lead), len(b.lead))
    lead = _inter(a.lead, b.lead) / short if short else 0.0
    small, large = sorted((a.n_body, b.n_body))
    contain = _containment(j, small, large)
    ti = _inter(a.terms, b.terms)
    terms = ti / math.sqrt(len(a.terms) * len(b.terms)) if a.terms and b.terms else 0.0
    ne = min(len(a.entities), len(b.entities))
    ents = _inter(a.entities, b.entities) / ne if ne >= MIN_EVENT_ENTITIES else 0.0
    return _Scores(j, lead, contain, terms, ents, ti)


def _event_score(s: _Scores) -> float:
    return math.sqrt(s.terms * s.entities)


def score(a: Signature, b: Signature) -> tuple[str | None, float, str]:
    """(level or None, score, reason) for one pair; the decision behind :func:`match`."""
    s = _scores(a, b)
    small = min(a.n_body, b.n_body)
    if small >= MIN_DUP_SHINGLES and s.jaccard >= DUP_JACCARD:
        return "duplicate", s.jaccard, f"body jaccard {s.jaccard:.2f}"
    short_lead = min(len(a.lead), len(b.lead))
    # the same opening words, and: the shorter text is all lead (a summary-only copy), or
    # its body is contained in the longer, or the openings agree almost verbatim
    if (
        short_lead >= MIN_DUP_SHINGLES
        and s.lead >= DUP_LEAD
        and (small <= LEAD_TOKENS or s.contain >= DUP_CONTAIN or s.lead >= DUP_LEAD_ALONE)
    ):
        return (
            "duplicate",
            s.lead,
            f"shared lead containment {s.lead:.2f}, body containment {s.contain:.2f}",
        )
    ev = _event_score(s)
    # headline-only items (few terms) share a name and a verb across different events:
    # stricter there (UCI: "Quiznos files for Chapter 11" vs "Sbarro files for Chapter 11")
    strict = min(len(a.terms), len(b.terms)) < FEW_TERMS
    if strict and (s.terms < EVENT_TERMS_FEW or s.entities < EVENT_TERMS_FEW):
        return None, max(s.jaccard, ev), ""
    if (
        s.terms >= EVENT_TERMS
        and s.entities >= EVENT_ENTITIES
        and ev >= EVENT_SCORE
        and s.shared_terms >= MIN_SHARED_TERMS
    ):
        return "event", ev, f"event terms cosine {s.terms:.2f}, names overlap {s.entities:.2f}"
    return None, max(s.jaccard, ev), ""


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
