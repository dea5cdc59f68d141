"""Real English news text for the bench farm's items, read at run time from ../shared/newsdata.

The text is third-party (BBC News, ECB+, UCI News Aggregator headlines; see that folder's
README): it is read where it lies each time the farm starts and never copied into the
repository or written anywhere but the farm's memory. Where the folder is absent,
`load_corpus` raises `NewsDataMissingError` and the bench says so and stops.

An item is what a news site's feed carries, built from that text:

- a headline (a real one: the lead article's own title, or a UCI headline) and a body of two
  or three runs of consecutive sentences, each run from another article;
- in each, one word in every REPLACE_EVERY (6) is swapped for a word drawn from elsewhere in
  the corpus. 50,000 items of ~8 sentences draw on ~65,000 sentences, so each sentence would
  recur in ~6 items, and story dedup would rightly call those items copies of one another
  (half the articles of a 300-feed farm folded into other stories). With a swapped word in
  every 8-word window no two items share an 8-gram by chance, while the words, their
  frequencies, the names and the sentence shapes stay those of real news: the signature,
  language and matching work is that of real text. Wire copies are swapped once, the same
  way for every carrier, and stay copies;
- page debris as feeds carry it (see ../shared/seed-article.txt): a photo caption printed
  twice, "Share this article", "Subscribe to our newsletter", "Related News", "Load more";
- a share (`wire_share`, 10 %) of wire copies: one agency story carried by several feeds
  (about WIRE_CARRIERS each), each copy with its own dateline style and debris.

Everything is drawn from a seeded `random.Random`: the same (seed, feed, item) gives the same
text on every run and for both tools of the bench.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path

__all__ = ["DEFAULT_DATA", "Corpus", "NewsDataMissingError", "NewsText", "load_corpus"]

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "newsdata"
WIRE_CARRIERS = 4  # feeds carrying one wire story, on average
_SENTENCE_END = re.compile(r"(?<=[.!?\"”])\s+(?=[\"“A-Z0-9])")
_DEBRIS = (
    "Share this article",
    "Subscribe to our newsletter",
    "Related News",
    "Load more",
    "Advertisement",
    "Follow us on social media",
    "Sign up for our daily briefing",
)
_WIRES = ("Reuters", "AP", "AFP", "PA")
REPLACE_EVERY = 6  # < the story signature's 8-word grams: every gram holds a swapped word


class NewsDataMissingError(RuntimeError):
    """../shared/newsdata (or the folder given) is absent or has none of its files."""


@dataclass(frozen=True, slots=True)
class Corpus:
    docs: tuple[tuple[str, tuple[str, ...]], ...]  # (title, sentences) of each full text
    headlines: tuple[str, ...]  # every headline (full texts' titles and UCI's)


def _sentences(text: str) -> list[str]:
    out: list[str] = []
    for line in text.splitlines():
        out += [s.strip() for s in _SENTENCE_END.split(line) if len(s.strip()) > 3]
    return out


def load_corpus(data: Path = DEFAULT_DATA) -> Corpus:
    """Every full-text article of BBC News and ECB+ as sentences, and every headline."""
    bbc = data / "bbc_news" / "bbc_news_2225.csv"
    ecb = data / "ecb_plus" / "ecbplus_documents.csv"
    uci = data / "uci_news_aggregator" / "uci_news_random_sample_4224.csv"
    if not bbc.is_file() and not ecb.is_file():
        raise NewsDataMissingError(
            f"{data} has no bbc_news/ nor ecb_plus/ articles: the bench builds its items from "
            "real news text read there at run time (third-party, never copied into the repo)"
        )
    csv.field_size_limit(1 << 24)
    docs: list[tuple[str, tuple[str, ...]]] = []
    if bbc.is_file():
        with bbc.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                sents = _sentences(row["text"])
                if len(sents) >= 4:
                    docs.append((row["title"].strip(), tuple(sents)))
    if ecb.is_file():
        with ecb.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                sents = [s.strip() for s in row["text"].splitlines() if len(s.strip()) > 3]
                if len(sents) >= 4:
                    title = " ".join(row["first_sentence"].split()[:12]).rstrip(",.;:")
                    docs.append((title, tuple(sents)))
    headlines = [t for t, _ in docs]
    if uci.is_file():
        with uci.open(encoding="utf-8", newline="") as f:
            headlines += [r["TITLE"].strip() for r in csv.DictReader(f) if r["TITLE"].strip()]
    return Corpus(tuple(docs), tuple(headlines))


class NewsText:
    """Item text for a farm of `feeds` x `items`: `item(rnd)` gives (title, html)."""

    def __init__(
        self, corpus: Corpus, *, feeds: int, items: int, seed: int = 1, wire_share: float = 0.1
    ) -> None:
        self.corpus = corpus
        self.seed = seed
        self.wire_share = wire_share
        self.wire_stories = max(1, round(feeds * items * wire_share / WIRE_CARRIERS))

    def item(self, rnd: random.Random) -> tuple[str, str]:
        """(title, description HTML) of one item; `rnd` is the item's own generator."""
        if rnd.random() < self.wire_share:
            story = rnd.randrange(self.wire_stories)
            title, paras = self._story(random.Random(f"wire:{self.seed}:{story}"))
            agency = _WIRES[story % len(_WIRES)]
            style = rnd.randrange(3)
            if style == 0:
                paras[0] = f"({agency}) - {paras[0]}"
            elif style == 1:
                paras.append(f"Reporting by {agency} staff; editing by the desk.")
        else:
            title, paras = self._story(rnd)
        return title, self._html(rnd, paras)

    def _story(self, rnd: random.Random) -> tuple[str, list[str]]:
        docs = self.corpus.docs
        lead_title, lead = docs[rnd.randrange(len(docs))]
        title = lead_title if rnd.random() < 0.5 else rnd.choice(self.corpus.headlines)
        words = title.split()
        if len(words) > 2:  # one word swapped: headlines recur less
            words[rnd.randrange(1, len(words))] = self._word(rnd)
        paras = [self._run(rnd, lead)]
        for _ in range(rnd.randint(1, 2)):
            paras.append(self._run(rnd, docs[rnd.randrange(len(docs))][1]))
        return " ".join(words), paras

    def _word(self, rnd: random.Random) -> str:
        """A word drawn from a random sentence of the corpus (punctuation stripped)."""
        docs = self.corpus.docs
        sents = docs[rnd.randrange(len(docs))][1]
        words = sents[rnd.randrange(len(sents))].split()
        return words[rnd.randrange(len(words))].strip(".,;:!?\"'“”()") or "the"

    def _run(self, rnd: random.Random, sents: tuple[str, ...]) -> str:
        n = min(len(sents), rnd.randint(2, 4))
        start = rnd.randrange(len(sents) - n + 1)
        words = " ".join(sents[start : start + n]).split()
        for i in range(rnd.randrange(REPLACE_EVERY), len(words), REPLACE_EVERY):
            words[i] = self._word(rnd)
        return " ".join(words)

    def _html(self, rnd: random.Random, paras: list[str]) -> str:
        blocks = [escape(p, quote=False) for p in paras]
        if rnd.random() < 0.4:  # a photo caption, printed twice as pages do
            _, sents = self.corpus.docs[rnd.randrange(len(self.corpus.docs))]
            caption = escape(" ".join(rnd.choice(sents).split()[:12]), quote=False)
            at = rnd.randrange(len(blocks) + 1)
            blocks[at:at] = [caption, caption]
        for line in rnd.sample(_DEBRIS, rnd.randint(0, 3)):
            blocks.insert(rnd.randrange(len(blocks) + 1), line)
        return "".join(f"<p>{b}</p>" for b in blocks)
