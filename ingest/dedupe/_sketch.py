"""An article's story signature from its headline and plain text.

    signature(title, text) -> Signature   (what it holds: `ingest.dedupe._signature`)

Pure and deterministic: no I/O beyond reading a static word-frequency list once, no
randomness, no process-salted `hash()`.  The words are blanked of punctuation and
lower-cased (`_words`); the body's 8-grams are sampled and its lead shingled (`_body`,
`_sample`); the event terms are weighed by a static idf prior (`_idf`) and term frequency
(`_terms`).

Cost: pure Python + xxhash (no numpy: the cron process tree must stay small): each
shingle and 8-gram is hashed as its words joined by newlines (a farm article, mostly
invented words, costs less than a real one: no scoring, see :func:`_terms`); the idf prior
is read once from the `wordfreq` package's small English list without importing wordfreq
itself (its imports are slow); without it every word weighs the same.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from itertools import accumulate, repeat

import xxhash

from ._signature import _NAME, _TITLE, _WMASK, LEAD_TOKENS, SAMPLE_K, Signature

__all__ = ["signature"]

# Parameters were chosen on the tuning split of bench/dedup_eval.py (BBC odd rows, ECB+ odd
# topics, UCI stories of one hash parity) and are reported on the held-out split as well.
SHINGLE = 3  # words per lead shingle
GRAM = 8  # words per sampled body n-gram
BODY_WORDS = 1500  # words of the text that are hashed (cost bound for very long texts)
ANCHOR_MASK = 7  # a lead shingle is an anchor when (hash >> 8) & ANCHOR_MASK == 0 (1 in 8)
MAX_ANCHORS = 8  # anchor keys per article: the first ones of the lead, in text order
EVENT_WORDS = 150  # words of the text (after the title) that feed the event terms
MAX_TERMS = 40  # heaviest event terms kept
IDF_TOP = 8.0  # a word's weight: IDF_TOP - zipf frequency (wordfreq scale, "the" = 7.7)
IDF_UNKNOWN = 5.5  # ... for words missing from the list (zipf < 3: rare words, names)
IDF_MIN = 0.3
MAX_UNKNOWN_SHARE = 0.6  # more content words unknown to the prior than this: no event terms
W_SCALE = 5.0  # quantization of weights into 6 bits (1..63)

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


# --------------------------------------------------------------------------- word weights

_IDF: dict[str, float] | None = None


def _load_idf() -> dict[str, float]:
    """IDF_TOP - zipf frequency for the ~29k words of wordfreq's small English list, read
    straight from its data file ("cB" format: lists of words per centibel of frequency)
    so that wordfreq itself (slow imports) is not loaded.  Empty when unavailable:
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
