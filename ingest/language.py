"""Article language: the declared tag normalized, else detected from the text.

Normalization (BCP 47 casing, the shape downstream filters expect):

    "en"      -> "en"          "EN-us"  -> "en-US"       "en_GB" -> "en-GB"
    "zh-hant-tw" -> "zh-Hant-TW"   "pt-br" -> "pt-BR"    "x-klingon" / "" / "??" -> None

Only a tag with a 2-3 letter primary subtag is kept (optionally a 4-letter script and a
2-letter or 3-digit region; further subtags are dropped); the region is kept, not dropped, because en-US vs en-GB and pt-PT vs
pt-BR matter to readers; `primary(tag)` gives "en" for grouping.

Detection (`detect`) uses py3langid, whose model ships inside the package. It is imported on
first use only (its model costs ~0.5 s and tens of MB to load, which a run whose feeds all
declare their language never pays) and only for texts of at least `MIN_DETECT_CHARS`
characters; the answer is kept only when its normalized probability is >= `MIN_PROB`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

__all__ = ["MIN_DETECT_CHARS", "MIN_PROB", "detect", "normalize_language", "primary"]

MIN_DETECT_CHARS = 200
MIN_PROB = 0.80
DETECT_SAMPLE_CHARS = 1000  # enough for a sure answer; the cost grows with the length
_TAG = re.compile(r"^([a-z]{2,3})(?:-([a-z]{4}))?(?:-([a-z]{2}|\d{3}))?(?:-.*)?$", re.I)


@lru_cache(maxsize=256)
def normalize_language(tag: str | None) -> str | None:
    """A declared language tag in canonical casing, or None when it is not a usable tag."""
    if not tag:
        return None
    t = tag.strip().replace("_", "-")
    t = t.split(",")[0].split(";")[0].strip()  # "en-us, fr" / "en;q=0.8"
    m = _TAG.match(t)
    if not m:
        return None
    lang, script, region = m.groups()
    out = lang.lower()
    if out in ("und", "mul", "zxx", "xx"):
        return None
    if script:
        out += "-" + script.capitalize()
    if region:
        out += "-" + region.upper()
    return out


def primary(tag: str | None) -> str | None:
    """ "en-US" -> "en"."""
    return tag.split("-")[0] if tag else None


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import _load_identifier

    return _load_identifier(norm_probs=True)


def detect(text: str) -> str | None:
    """The language of `text` (ISO 639-1) when it is long enough and the model is sure;
    None otherwise, or when py3langid is not installed."""
    if len(text) < MIN_DETECT_CHARS:
        return None
    try:
        ident = _identifier()
    except ImportError:
        return None
    lang, prob = ident.classify(text[:DETECT_SAMPLE_CHARS])
    return str(lang) if float(prob) >= MIN_PROB else None
