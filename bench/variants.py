"""How outlets republish an article: transforms that build duplicate variants (issue #5).

Each transform takes (title, text, rng) and returns a new (title, text).  They model what
happens to a wire story or a syndicated article on its way into other feeds:

| name        | what it does                                                                 |
|-------------|------------------------------------------------------------------------------|
| boilerplate | page debris around the text: "Advertisement", share prompts, a newsletter box, |
|             | "Related stories" links, a copyright footer (before, after, or both)          |
| caption     | one or two photo captions with a credit inserted between paragraphs           |
| headline    | another headline: a tag ("UPDATE 2-", "LIVE:"), words dropped, or the first   |
|             | clause of the lead used as the headline                                       |
| dateline    | a dateline and agency in front ("LONDON (Wire) - ") and/or a credit line at   |
|             | the end ("Reporting by ...; editing by ...")                                   |
| light_edit  | copy-editing: ~3 % of words changed, one sentence dropped, house style for      |
|             | numbers and quotes                                                            |
| summary     | summary-only copy: the first paragraph or first 2-4 sentences (at least 25      |
|             | words), often ending in "..." or "Read more"                                   |
| revision    | a later revision: a paragraph added ("Update: ..."), one sentence rewritten   |
|             | (never a paragraph's only one), a paragraph of the second half removed       |
| reorder     | two paragraphs swapped (a web producer's re-cut)                               |

`variant(title, text, rng)` applies one to three of them, as a copy seen in the wild often
carries several.  Everything is deterministic given the `random.Random` passed in.  The
boilerplate, caption, headline and credit strings are our own words.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

__all__ = ["TRANSFORMS", "Transform", "paragraphs", "sentences", "variant"]

Transform = Callable[[str, str, random.Random], tuple[str, str]]

_DEBRIS_BEFORE = [
    "Advertisement",
    "Share this article",
    "Share on Facebook Share on X Email this story",
    "Listen to this article - 4 min",
    "Skip to main content",
    "Our journalism relies on readers like you. Subscribe today.",
]
_DEBRIS_AFTER = [
    "Sign up for our morning newsletter and get the day's top stories in your inbox.",
    "Related stories: Markets close higher | Weather warning for the weekend | Your letters",
    "Copyright 2024 The Daily Courier. All rights reserved.",
    "Comments are closed on this article.",
    "Follow us on social media for the latest updates.",
    "This story was produced by our partners and is republished with permission.",
]
_CAPTIONS = [
    "Image caption: The scene on the day, seen from across the street (Photo: Staff).",
    "Photo: Archive picture, used for illustration (Agency).",
    "Pictured: Officials speaking to reporters earlier this week. Credit: Pool photographer.",
    "Image source, Getty Images. Image caption, Crowds gathered outside the building.",
]
_DATELINES = ["LONDON (Wire) - ", "NEW YORK, (Newswire) - ", "PARIS - ", "BRUSSELS (Agency) -- "]
_CREDITS = [
    "(Reporting by Ana Lopez; editing by Tom Reed)",
    "Additional reporting by staff writers.",
    "- Agency copy, via the wire desk.",
]
_UPDATES = [
    "Update: officials said later on the same day that further details would follow.",
    "This article has been updated with a statement issued after publication.",
    "Correction: an earlier version of this story misstated a date.",
]
_TAGS = ["UPDATE 2-", "LIVE: ", "Breaking: ", "WRAPUP 1-", "Analysis: "]
_SYNONYMS = {
    "said": "stated",
    "says": "states",
    "big": "large",
    "help": "assist",
    "buy": "purchase",
    "show": "indicate",
    "start": "begin",
    "but": "however",
    "about": "around",
    "people": "individuals",
    "also": "as well",
    "very": "highly",
}

_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“‘'])")


def paragraphs(text: str) -> list[str]:
    """Paragraphs (blank-line separated, else one per line)."""
    parts = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    if len(parts) <= 1:
        parts = [p.strip() for p in text.splitlines() if p.strip()]
    return parts or [text.strip()]


def sentences(text: str) -> list[str]:
    return [s for s in _SENT.split(" ".join(text.split())) if s]


def _join(paras: list[str]) -> str:
    return "\n\n".join(paras)


def boilerplate(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    where = rng.choice(["before", "after", "both"])
    paras = paragraphs(text)
    if where in ("before", "both"):
        paras = rng.sample(_DEBRIS_BEFORE, rng.randint(1, 3)) + paras
    if where in ("after", "both"):
        paras = paras + rng.sample(_DEBRIS_AFTER, rng.randint(1, 3))
    return title, _join(paras)


def caption(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    paras = paragraphs(text)
    for cap in rng.sample(_CAPTIONS, rng.randint(1, 2)):
        paras.insert(rng.randint(0, len(paras)), cap)
    return title, _join(paras)


def headline(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    words = title.split()
    how = rng.choice(["tag", "drop", "lead"])
    if how == "tag" or len(words) < 4:
        return rng.choice(_TAGS) + title, text
    if how == "drop":
        keep = sorted(rng.sample(range(len(words)), max(2, len(words) * 2 // 3)))
        return " ".join(words[i] for i in keep), text
    first = sentences(text)[:1] or [title]
    return " ".join(first[0].split()[:10]).rstrip(",.;:"), text


def dateline(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    how = rng.choice(["front", "credit", "both"])
    if how in ("front", "both"):
        text = rng.choice(_DATELINES) + text.lstrip()
    if how in ("credit", "both"):
        text = text.rstrip() + "\n\n" + rng.choice(_CREDITS)
    return title, text


def light_edit(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    paras = [sentences(p) for p in paragraphs(text)]
    flat = [(i, j) for i, p in enumerate(paras) for j in range(len(p))]
    if len(flat) > 4:
        i, j = rng.choice(flat[1:])
        del paras[i][j]
    out = []
    for p in paras:
        words = " ".join(p).split()
        for k, w in enumerate(words):
            if rng.random() < 0.03:
                bare = w.lower().strip(",.;:")
                if bare in _SYNONYMS:
                    words[k] = w.lower().replace(bare, _SYNONYMS[bare])
                elif w.isdigit() and len(w) == 4:
                    words[k] = w  # years stay
                elif len(w) > 3:
                    words[k] = w[:-1] if rng.random() < 0.5 else w + w[-1]  # a typo
        line = " ".join(words).replace('"', "“", 1).replace(" per cent", "%")
        if line:
            out.append(line)
    return title, _join(out)


def summary(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    paras = paragraphs(text)
    if rng.random() < 0.5 and len(paras[0].split()) >= 25:
        body = paras[0]
    else:
        sents = sentences(text)
        n = rng.randint(2, 4)
        body = " ".join(sents[:n])
        while len(body.split()) < 25 and n < len(sents):
            n += 1
            body = " ".join(sents[:n])
    return title, body + rng.choice(["", " ...", " […]", "\n\nRead more", " Continue reading."])


def revision(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    paras = paragraphs(text)
    if len(paras) > 3:
        del paras[rng.randint(len(paras) // 2, len(paras) - 1)]
    k = rng.randrange(len(paras))
    sents = sentences(paras[k])
    if len(sents) >= 2:
        sents[rng.randrange(len(sents))] = "Officials confirmed the details on " + rng.choice(
            ["Monday.", "Tuesday.", "Wednesday.", "Thursday.", "Friday."]
        )
        paras[k] = " ".join(sents)
    paras.insert(rng.randint(1, len(paras)), rng.choice(_UPDATES))
    return title, _join(paras)


def reorder(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    paras = paragraphs(text)
    if len(paras) >= 3:
        i, j = rng.sample(range(1, len(paras)), 2)
        paras[i], paras[j] = paras[j], paras[i]
    return title, _join(paras)


TRANSFORMS: dict[str, Transform] = {
    "boilerplate": boilerplate,
    "caption": caption,
    "headline": headline,
    "dateline": dateline,
    "light_edit": light_edit,
    "summary": summary,
    "revision": revision,
    "reorder": reorder,
}


_ORDER = [
    "headline", "dateline", "light_edit", "revision", "reorder", "summary", "boilerplate", "caption"
]  # fmt: skip


def variant(title: str, text: str, rng: random.Random) -> tuple[tuple[str, ...], str, str]:
    """One republished copy: (names of the transforms applied, title, text).  Transforms are
    applied in `_ORDER`: edits of the copy first, then the summary an outlet's feed carries,
    then the page debris around it."""
    names = rng.sample(sorted(TRANSFORMS), rng.choice([1, 1, 2, 2, 3]))
    names.sort(key=_ORDER.index)
    for name in names:
        title, text = TRANSFORMS[name](title, text, rng)
    return tuple(names), title, text
