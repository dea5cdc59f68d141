"""Cross-outlet story grouping: signatures, LSH keys and the match decision (issue #5).

Pure and deterministic: no I/O beyond reading a static word-frequency list once, no
randomness, no process-salted `hash()`.  The store keeps the keys in an indexed table
(``storage.story_index``) and hands back a handful of candidates; :func:`match` decides.

    signature(title, text) -> Signature -> band_keys(sig) -> [int64]   (index lookup / insert)
    match(sig, candidates, published_at=...) -> Match("duplicate" | "event", ...) | None

`match` first runs a pre-check on each candidate (its term hashes and the number of index
keys it shares, both read without decoding the rest): most are rejected in ~2 us instead of
a ~25 us decode and full score (see :func:`match`).

What a signature holds (SIGNATURE_VERSION 5, at most ~2.6 KB serialized):

- ``sample``: the SAMPLE_K smallest 30-bit hashes of the text's word 8-grams (a bottom-k
  sketch; the title's when there is no text).  Two samples compared below a common
  threshold estimate the *containment* of the shorter text in the longer (exact when both
  are short, i.e. for most news articles at SAMPLE_K = 512): a copy in other boilerplate,
  a summary-only copy, a cut, a reordered text.  At 160 values the estimate's noise
  (+-0.05 around the 0.5 threshold) merged two different ECB+ articles; older signatures
  with fewer values still compare (below the common threshold).
- ``lead``: 16-bit hashes of the 3-word shingles of the first LEAD_TOKENS words, and
  ``anchors``: the first few of them picked by their own hash (1 in 8, holding a content
  word), which every copy of the same opening picks too -- keys that survive truncation.
- ``terms`` / ``weights``: the MAX_TERMS heaviest content words of the headline and the
  first EVENT_WORDS words of the text, weighted by a static idf prior (see :func:`_idf`:
  rare words and names weigh most) times a sublinear term frequency; flags mark names
  (capitalised words, numbers) and headline words.

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

Keys are signed 64-bit integers (SQLite INTEGER), hashed with a seed per kind and
SIGNATURE_VERSION: BODY_KEYS smallest 8-gram values + up to 8 anchors + 3 rarest names
(all names, up to HEADLINE_NAME_KEYS, of a headline-only item) + up to 6 pairs of the 4
rarest terms (~23 keys).

Cost: pure Python + xxhash (no numpy: the cron process tree must stay small): each
shingle and 8-gram is hashed as its words joined by newlines, ~230 us per BBC article and
~90 us per farm article (mostly invented words: no scoring, see :func:`_terms`); the
idf prior is read once from the `wordfreq` package's small English list (~29k words, 3 MB, 30 ms)
without importing wordfreq itself; without it every word weighs the same.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import importlib.util
import math
import os
import re
import struct
import unicodedata
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate, repeat

import xxhash

__all__ = [
    "CANDIDATES",
    "SAMPLE_K",
    "Candidate",
    "Match",
    "Signature",
    "band_keys",
    "match",
    "min_shared_keys",
    "score",
    "signature",
]

# --------------------------------------------------------------------------- parameters
# Thresholds were chosen on the tuning split of bench/dedup_eval.py (BBC odd rows, ECB+ odd
# topics, UCI stories of one hash parity) and are reported on the held-out split as well.

SIGNATURE_VERSION = 6  # 6: headline name keys; 5: pair keys; 4: pure-Python hashing
SHINGLE = 3  # words per lead shingle
GRAM = 8  # words per sampled body n-gram
BODY_WORDS = 1500  # words of the text that are hashed (cost bound for very long texts)
SAMPLE_K = 512  # bottom-k sample of the body's word 8-grams
BODY_KEYS = 6  # index keys: the smallest sampled values
LEAD_TOKENS = 100  # words of the text that make up the "lead"
ANCHOR_MASK = 7  # a lead shingle is an anchor when (hash >> 8) & ANCHOR_MASK == 0 (1 in 8)
MAX_ANCHORS = 8  # anchor keys per article: the first ones of the lead, in text order
EVENT_WORDS = 150  # words of the text (after the title) that feed the event terms
EVENT_KEYS = 3  # event keys: the rarest names of the article
PAIR_TERMS = 4  # pair keys: the unordered pairs of the article's rarest event terms (6)
MAX_TERMS = 40  # heaviest event terms kept
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
TIME_SCALE = 0.25  # hours over which that bonus decays (exp(-gap / scale)); 6 h before v6:
# UCI headlines 15 .. 60 minutes apart it grouped at a cosine of 0.15 .. 0.4 were mostly wrong
MIN_EVENT_ENTITIES = 2
FEW_TERMS = 20  # fewer event terms than this: a headline-only item
EVENT_NAMES_FEW = 0.2  # names overlap also needed then (UCI: "Quiznos" / "Sbarro files for ...")
MIN_SHARED_TERMS = 2  # shared event terms, at least
# headline-only items published within ONE_NAME_HOURS of each other may share a single
# term when it is a rare name (weight >= ONE_NAME_WEIGHT, i.e. idf prior >= 4: "Sbarro",
# "Snowden", not "Apple") and the cosine reaches ONE_NAME_COSINE (UCI tuning split: 3 h and
# 0.25 before; 15 minutes and 0.15 merge fewer wrong pairs and find more right ones); a
# headline-only item is keyed by all its names, up to HEADLINE_NAME_KEYS, since another
# headline matches it only through a shared name
ONE_NAME_HOURS = 0.25
ONE_NAME_WEIGHT = 20
ONE_NAME_COSINE = 0.15
HEADLINE_NAME_KEYS = 8
IDF_TOP = 8.0  # a word's weight: IDF_TOP - zipf frequency (wordfreq scale, "the" = 7.7)
IDF_UNKNOWN = 5.5  # ... for words missing from the list (zipf < 3: rare words, names)
IDF_MIN = 0.3
MAX_UNKNOWN_SHARE = 0.6  # more content words unknown to the prior than this: no event terms
W_SCALE = 5.0  # quantization of weights into 6 bits (1..63)

_M64 = (1 << 64) - 1
_NAME = 0x40  # weight flags
_TITLE = 0x80
_WMASK = 0x3F

_TR = str.maketrans({c: " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"})  # ASCII: fast path
_UNI_PUNCT = re.compile(r"[^\w\s]")
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

_HEAD = struct.Struct("<BIHHHH")  # version, n_body, counts of sample, lead, anchors, terms


@dataclass(frozen=True, slots=True)
class Signature:
    """A compact, serializable sketch of one article (see the module docstring)."""

    n_body: int  # 3-word shingles of the body (a length)
    sample: tuple[int, ...]  # the SAMPLE_K smallest 30-bit 8-gram values, ascending
    lead: tuple[int, ...]  # sorted distinct 16-bit hashes of the lead shingles
    anchors: tuple[int, ...]  # up to MAX_ANCHORS sampled 32-bit lead shingles, text order
    terms: tuple[int, ...]  # sorted distinct 32-bit hashes of the heaviest event terms
    weights: tuple[int, ...]  # per term: weight (6 bits) | _NAME | _TITLE

    @property
    def names(self) -> tuple[int, ...]:
        return tuple(t for t, w in zip(self.terms, self.weights, strict=True) if w & _NAME)

    def term_weights(self) -> dict[int, int]:
        """The event terms and their weights (flags masked off): the vector the event
        cosine compares."""
        return {t: w & _WMASK for t, w in zip(self.terms, self.weights, strict=True)}

    def to_bytes(self) -> bytes:
        """Header (version, body count, part lengths), then u32 sample, u16 lead, u32
        anchors, u32 terms, u8 weights."""
        return b"".join(
            (
                _HEAD.pack(
                    SIGNATURE_VERSION,
                    self.n_body,
                    len(self.sample),
                    len(self.lead),
                    len(self.anchors),
                    len(self.terms),
                ),
                array("I", self.sample).tobytes(),
                array("H", self.lead).tobytes(),
                array("I", self.anchors).tobytes(),
                array("I", self.terms).tobytes(),
                bytes(self.weights),
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        """Inverse of :meth:`to_bytes`. Raises ValueError on bytes it did not write (which
        includes signatures of another SIGNATURE_VERSION)."""
        head = _check(data)
        _, n_body, ns, nl, na, nt = head
        values = _parts(ns, nl, na, nt).unpack_from(data, _HEAD.size)
        a, b, c, d = ns, ns + nl, ns + nl + na, ns + nl + na + nt
        return cls(n_body, values[:a], values[a:b], values[b:c], values[c:d], values[d:])

    @classmethod
    def with_bytes(cls, sig: Signature | bytes) -> tuple[Signature, bytes]:
        """`sig` and its serialized form, whichever of the two it is given as."""
        if isinstance(sig, bytes):
            return cls.from_bytes(sig), sig
        return sig, sig.to_bytes()

    @staticmethod
    def valid_bytes(data: bytes) -> bool:
        """Whether :meth:`from_bytes` would accept `data` (header and size only: cheap)."""
        try:
            _check(data)
        except ValueError:
            return False
        return True


def _check(data: bytes) -> tuple[int, int, int, int, int, int]:
    try:
        head: tuple[int, int, int, int, int, int] = _HEAD.unpack_from(data, 0)
    except struct.error as exc:
        raise ValueError(f"truncated signature ({len(data)} bytes): {exc}") from None
    version, _, ns, nl, na, nt = head
    if version != SIGNATURE_VERSION:
        raise ValueError(f"unknown signature version {version}")
    size = _HEAD.size + 4 * ns + 2 * nl + 4 * na + 5 * nt
    if len(data) != size:
        raise ValueError(f"signature has {len(data)} bytes, expected {size}")
    return head


@functools.lru_cache(maxsize=512)
def _parts(ns: int, nl: int, na: int, nt: int) -> struct.Struct:
    """The body of a serialized signature with these part lengths, as one Struct."""
    return struct.Struct(f"<{ns}I{nl}H{na}I{nt}I{nt}B")


@functools.lru_cache(maxsize=128)
def _u32s(n: int) -> struct.Struct:
    return struct.Struct(f"<{n}I")


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


# --------------------------------------------------------------------------- word weights

_IDF: dict[str, float] | None = None


def _load_idf() -> dict[str, float]:
    """IDF_TOP - zipf frequency for the ~29k words of wordfreq's small English list, read
    straight from its data file ("cB" format: lists of words per centibel of frequency)
    so that wordfreq itself (85 ms of imports) is not loaded.  Empty when unavailable:
    every word then weighs IDF_UNKNOWN."""
    out: dict[str, float] = {}
    try:
        import msgpack  # type: ignore[import-untyped]

        spec = importlib.util.find_spec("wordfreq")
        dirs = list(spec.submodule_search_locations or []) if spec else []
        if not dirs:
            return out
        path = os.path.join(dirs[0], "data", "small_en.msgpack.gz")
        with gzip.open(path) as fh:
            data = msgpack.unpackb(fh.read(), raw=False)
        if not (isinstance(data[0], dict) and data[0].get("format") == "cB"):
            return out
        for cb, words in enumerate(data[1:]):
            weight = max(IDF_MIN, IDF_TOP - (9.0 - cb / 100))
            for w in words:
                out.setdefault(w, weight)
    except (ImportError, OSError, ValueError, TypeError, IndexError):  # pragma: no cover
        return {}
    return out


def _idf() -> dict[str, float]:
    """The idf prior, plus 0.0 for the words that are never event terms: stop words and
    single letters (see :func:`_is_content`), so one lookup settles both; every lone ASCII
    character but a digit is among them (so only a non-ASCII one can be unknown)."""
    global _IDF
    if _IDF is None:
        idf = _load_idf()
        for w in list(idf):
            if not _is_content(w):
                idf[w] = 0.0
        idf.update(dict.fromkeys(_STOP, 0.0))
        for c in map(chr, range(128)):  # lone ASCII characters: never terms either
            if not c.isdigit():
                idf.setdefault(c, 0.0)
        _IDF = idf
    return _IDF


# --------------------------------------------------------------------------- signature

_h64 = xxhash.xxh3_64_intdigest


def _is_content(w: str) -> bool:
    return w not in _STOP and (len(w) > 1 or w.isdigit())


def _body(
    words: list[str], joined: str | None = None
) -> tuple[int, tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(n_body, sample, lead, anchors) of the (lower-cased) body words; `joined`: the words
    joined by single newlines, when the caller has it.

    Pure Python + xxhash, no numpy (the cron process tree must stay small): the words are
    encoded once, each followed by a newline, and a shingle's or 8-gram's hash is xxh3-64 of
    its slice of those bytes (words hold no whitespace, so a slice is unambiguous).
    Sampled values keep 30 bits, which CPython sorts on its fast single-digit path."""
    if not words:
        return 0, (), (), ()
    text = ("\n".join(words) if joined is None else joined) + "\n"
    buf = text.encode()
    sizes = map(len, words) if len(buf) == len(text) else map(len, map(str.encode, words))
    starts = list(accumulate([n + 1 for n in sizes], initial=0))  # a word + its newline
    h64 = _h64
    n_words = len(words)
    if n_words < SHINGLE:
        lead_sh = [h64(buf)]
    else:
        lead_starts = starts[: LEAD_TOKENS + 1]
        lead_sh = [h64(buf[a:b]) for a, b in zip(lead_starts, lead_starts[SHINGLE:], strict=False)]
    if n_words < GRAM:  # too short for an 8-gram: its shingles stand in
        sample = tuple(sorted({h >> 34 for h in lead_sh}))
    else:
        sample = _sample(buf, starts, n_words - GRAM + 1)
    lead = tuple(sorted({h >> 48 for h in lead_sh}))
    anchors: list[int] = []
    stop = _STOP
    bits = _ANCHOR_BITS  # h & bits == 0: (h >> 8) & ANCHOR_MASK == 0
    for i in [i for i, h in enumerate(lead_sh) if not h & bits]:
        for w in words[i : i + SHINGLE]:  # the shingle holds a content word (_is_content)
            if w not in stop and (len(w) > 1 or w.isdigit()):
                break
        else:
            continue
        v = lead_sh[i] >> 32
        if v not in anchors:
            anchors.append(v)
            if len(anchors) == MAX_ANCHORS:
                break
    return max(1, n_words - SHINGLE + 1), sample, lead, tuple(anchors)


_ANCHOR_BITS = ANCHOR_MASK << 8
_KEEP = SAMPLE_K + 16  # smallest 8-gram values looked at (with repeats) for SAMPLE_K distinct


def _cut(n: int) -> int:
    """A value about _KEEP + 4 sd of `n` uniform 30-bit 8-gram values fall under."""
    return ((_KEEP + 4 * math.isqrt(_KEEP) + 32) << 30) // n


def _sample(buf: bytes, starts: list[int], n: int) -> tuple[int, ...]:
    """The bottom-k sample of the `n` 8-grams of `buf` (word boundaries `starts`): the
    distinct values among the _KEEP smallest (with repeats), at most SAMPLE_K of them.

    A long text keeps only the values under a cut that about _KEEP + 4 sd of them fall
    under (30-bit hashes are uniform), so it sorts ~660 values, not up to 1500; when fewer
    than _KEEP fall under it (repeated text; a near-impossible draw) all are hashed again
    and sorted: the _KEEP smallest are the same either way."""
    h64 = _h64
    pairs = zip(starts, starts[GRAM:], strict=False)
    if n <= _KEEP:  # all of them: distinct, ascending
        return tuple(sorted({h64(buf[a:b]) >> 34 for a, b in pairs})[:SAMPLE_K])
    cut = _cut(n)
    grams = [g for a, b in pairs if (g := h64(buf[a:b]) >> 34) < cut]
    if len(grams) < _KEEP:  # a text repeating itself (or a near-impossible draw)
        grams = [h64(buf[a:b]) >> 34 for a, b in zip(starts, starts[GRAM:], strict=False)]
    grams.sort()
    return tuple(dict.fromkeys(grams[:_KEEP]))[:SAMPLE_K]


_LOG_N = 64
_LOG_TF = [0.0] + [1.0 + math.log(n) for n in range(1, _LOG_N)]  # 1 + log(tf), tabulated


_UNKNOWN = -1.0  # the prior of a word missing from the list (all others are >= 0.0)


def _lone_chars(words: list[str], priors: list[float]) -> int:
    """How many of `words` are lone non-digit characters unknown to the prior (`priors`:
    theirs): never content words (see :func:`_is_content`)."""
    unknown = [w for w, x in zip(words, priors, strict=True) if x < 0.0]
    if not unknown or min(map(len, unknown)) > 1:
        return 0
    return sum(1 for w in unknown if len(w) < 2 and not w.isdigit())


_GUESS_WORDS = 16  # the opening words that guess whether a text is mostly unknown words...
_GUESS_UNKNOWN = 5  # ... when this many of them are (then the rule is decided first)


def _rejected(tf: Counter[str], ascii_only: bool) -> bool:
    """The MAX_UNKNOWN_SHARE rule of :func:`_terms` for the distinct words of `tf`, on
    counts of their priors alone (no scoring).  `ascii_only`: all the words are ASCII, so none
    is a lone character unknown to the prior (:func:`_idf` holds every ASCII one)."""
    words = list(tf)
    # all floats, so that counting them is cheap; 0.0: a stop word or a lone letter
    priors = list(map(_idf().get, words, repeat(_UNKNOWN)))
    unknown = priors.count(_UNKNOWN)
    lone = 0 if ascii_only or not unknown else _lone_chars(words, priors)
    content = len(priors) - priors.count(0.0) - lone  # the words _terms scores
    return bool(content) and unknown - lone > content * MAX_UNKNOWN_SHARE


def _terms(
    title: list[str], text: list[str], raw: Callable[[], set[str]], ascii_only: bool = False
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The MAX_TERMS heaviest content words of the headline and the opening: idf prior x
    (1 + log tf), quantized to 6 bits, with the name flag (a capitalised or upper-case
    form, or a number, occurs among the words as written: `raw()`) and the headline flag.

    A text whose opening words are mostly unknown to the prior (another language,
    invented words) has the MAX_UNKNOWN_SHARE rule decided first, by :func:`_rejected`,
    and is not scored when the rule rejects it.  The guess only picks the faster way:
    both give the same result (English text is scored in one pass, which is cheaper than
    deciding first).  `ascii_only`: see :func:`_rejected`."""
    tf = Counter(title)
    tf.update(text)
    get = _idf().get
    opening = (title[:_GUESS_WORDS] + text[:_GUESS_WORDS])[:_GUESS_WORDS]
    if list(map(get, opening)).count(None) >= _GUESS_UNKNOWN and _rejected(tf, ascii_only):
        return (), ()
    logs = _LOG_TF
    scored = []
    unknown = 0
    for w, n in tf.items():
        x = get(w)
        if x is None:
            if len(w) < 2 and not w.isdigit():
                continue
            x = IDF_UNKNOWN
            unknown += 1
        elif not x:
            continue
        scored.append((-x * (logs[n] if n < _LOG_N else 1.0 + math.log(n)), w))
    if scored and unknown > len(scored) * MAX_UNKNOWN_SHARE:
        # mostly words the rarity prior does not know (another language, made-up words, or
        # no word list installed): every word would look rare, so event-level grouping
        # would merge unrelated reports. Precision first: no event terms, duplicates only.
        return (), ()
    if not scored:
        return (), ()
    scored.sort()
    del scored[MAX_TERMS:]
    forms = raw()
    heads = set(title)
    top = []
    for neg, w in scored:
        h = _h64(w.encode())
        flag = round(-neg * W_SCALE)
        flag = 1 if flag < 1 else _WMASK if flag > _WMASK else flag
        if w.isdigit() or w.capitalize() in forms or w.upper() in forms:
            flag |= _NAME
        if w in heads:
            flag |= _TITLE
        top.append((h >> 32, flag))
    top.sort()
    return tuple(h for h, _ in top), tuple(f for _, f in top)


def _words(text: str, limit: int = -1) -> tuple[str, list[str], str]:
    """(the text with punctuation blanked, its first `limit` words (all: -1) lower-cased,
    those joined by newlines).  `raw.split()` gives the words as written."""
    if text.isascii():
        # ASCII: blanking and lower-casing commute and keep every offset, so the text is
        # split once, already lower-cased
        raw = text.translate(_TR)
        words = raw.lower().split(None, limit)
        if limit >= 0:
            del words[limit:]
        return raw, words, "\n".join(words)
    raw = _UNI_PUNCT.sub(" ", unicodedata.normalize("NFKC", text))
    # lower() only after blanking: it can yield characters that are not word characters
    # ("İ" -> "i" + a combining dot)
    parts = raw.split(None, limit)
    if limit >= 0:
        del parts[limit:]
    joined = "\n".join(parts).lower()
    return raw, joined.split("\n") if joined else [], joined


def signature(title: str, text: str) -> Signature:
    """The signature of one article from its headline and plain text (no HTML)."""
    title_raw, title_words, title_joined = _words(title)
    text_raw, text_words, text_joined = _words(text, BODY_WORDS)
    if text_words:
        n_body, sample, lead, anchors = _body(text_words, text_joined)
    else:
        n_body, sample, lead, anchors = _body(title_words, title_joined)

    def forms() -> set[str]:  # the words as written, for the name flags
        out = set(title_raw.split())
        out.update(text_raw.split(None, EVENT_WORDS)[:EVENT_WORDS])
        return out

    plain = title.isascii() and text.isascii()
    terms, weights = _terms(title_words, text_words[:EVENT_WORDS], forms, plain)
    return Signature(n_body, sample, lead, anchors, terms, weights)


# --------------------------------------------------------------------------- LSH keys

_SEEDS = {k: xxhash.xxh32_intdigest(f"v{SIGNATURE_VERSION}:{k}".encode()) << 8 for k in
          ("body", "anchor", "event", "pair")}  # fmt: skip
_U32 = struct.Struct("<I").pack
_SIGN = 1 << 63


def _keys(seed: int, values: Iterable[int]) -> list[int]:
    """The index keys of `values` (u32) of the kind whose seed is `seed`: xxh3-64 of the
    value's 4 little-endian bytes, as a signed 64-bit integer (fits SQLite INTEGER)."""
    h64, pack = _h64, _U32
    return [h - _M64 - 1 if (h := h64(pack(v), seed)) >= _SIGN else h for v in values]


def band_keys(sig: Signature) -> list[int]:
    """The index keys of a signature, deduplicated, in a stable order.

    - body: the BODY_KEYS smallest sampled 8-gram values (a copy shares most of them);
    - anchor: one key per anchor shingle of the lead (a summary-only copy, a copy with
      page debris around it: containment, which the smallest values of a long text miss);
    - event: the EVENT_KEYS rarest names (heaviest weight, then hash): another write-up of
      the same event shares its names, not its sentences;
    - pair: one key per unordered pair of the PAIR_TERMS heaviest (rarest) event terms, names
      or not (up to 6): far more selective than one word, so a headline-only report sharing
      two rare words with an earlier one finds it even when its names are common;
    - headline-only items (fewer than FEW_TERMS terms) get event keys on all their names
      (up to HEADLINE_NAME_KEYS, rarest first), even a single one, instead: two headlines
      are an event only when they share a name, and two headlines of one event often share
      one or two names and little else -- not always the rarest (keyed on their 2 .. 3
      rarest only, UCI recall on the tuning split was 0.45 instead of 0.51).  (Keys on
      their rarest terms, names or not, were tried: +0.01 UCI recall, but ECB+ event
      precision fell under 0.95.)
    An empty body yields no body keys (nothing to find it by)."""
    seeds = _SEEDS
    keys = _keys(seeds["body"], sig.sample[:BODY_KEYS])
    keys += _keys(seeds["anchor"], sig.anchors)
    # the terms, rarest (heaviest) first, then by hash; the weight's flags ride along
    rarest = sorted([(-(w & _WMASK), t, w) for t, w in zip(sig.terms, sig.weights, strict=True)])
    names = [t for _, t, w in rarest if w & _NAME]
    if len(sig.terms) < FEW_TERMS:  # headline-only: its event match needs a shared name
        keys += _keys(seeds["event"], names[:HEADLINE_NAME_KEYS])
    elif len(names) >= MIN_EVENT_ENTITIES:
        keys += _keys(seeds["event"], names[:EVENT_KEYS])
    top = sorted([t for _, t, _ in rarest[:PAIR_TERMS]])
    keys += _keys(
        seeds["pair"],
        [(a * 0x9E3779B1 ^ b) & 0xFFFFFFFF for i, a in enumerate(top) for b in top[i + 1 :]],
    )
    return list(dict.fromkeys(keys))


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
    without decoding or scoring it (~1 us instead of ~20).  The event part is exact; the
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
