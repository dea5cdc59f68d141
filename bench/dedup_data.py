"""The labelled news of ../shared/newsdata as `Doc`s for bench.dedup_eval (read, never copied).

    load_bbc / load_ecb / load_ecb_leads / load_uci (root, limit) -> [Doc]
    ecb_duplicate_gold(docs), with_variants(docs, share, rng)

Every split is fixed, so the held-out figures stay held out: BBC rows alternate (odd rows of
the file tune, even rows are held out), ECB+ topics too (odd topics tune, even are held out),
UCI stories go by the parity of xxh32 of their label. Samples, variants and arrival orders
come from random.Random(SEED).
"""

from __future__ import annotations

import csv
import random
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import xxhash

from bench.variants import variant

__all__ = [
    "SEED",
    "DataMissingError",
    "Doc",
    "ecb_duplicate_gold",
    "links_to_labels",
    "load_bbc",
    "load_ecb",
    "load_ecb_leads",
    "load_uci",
    "norm_words",
    "with_variants",
]

SEED = 20240501
csv.field_size_limit(1 << 24)
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Doc:
    key: str
    title: str
    text: str
    gold: str
    published_at: datetime | None = None
    kind: str = "original"  # or the transforms that made a variant, "+"-joined
    split: str = "tune"  # "tune" (thresholds were chosen on it) or "test" (held out)


def links_to_labels(n: int, links: Sequence[tuple[int, int]]) -> list[str]:
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in links:
        parent[find(i)] = find(j)
    return [str(find(i)) for i in range(n)]


class DataMissingError(Exception):
    pass


def _read(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataMissingError(f"{path}: not found")
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def norm_words(text: str) -> str:
    return " ".join(_TOKEN.findall(text.lower()))


def _reuse_links(texts: Sequence[str], share: float = 0.5) -> list[tuple[int, int]]:
    """Pairs of texts where >= `share` of the shorter one's distinct 8-word sequences
    (lower-cased, punctuation stripped) occur verbatim in the other: the same article carried
    twice.  An exact rule, independent of the sketches it is used to judge."""
    sets = []
    for t in texts:
        w = norm_words(t).split()
        sets.append({" ".join(w[i : i + 8]) for i in range(max(0, len(w) - 7))})
    holders: dict[str, list[int]] = defaultdict(list)
    for i, grams in enumerate(sets):
        for g in grams:
            holders[g].append(i)
    shared: Counter[tuple[int, int]] = Counter()
    for ids in holders.values():
        if 1 < len(ids) <= 50:  # a sequence in 50+ texts is boilerplate, not content
            for x in range(len(ids)):
                for y in range(x + 1, len(ids)):
                    shared[ids[x], ids[y]] += 1
    return [
        (j, i)
        for (i, j), n in shared.items()
        if n >= share * max(1, min(len(sets[i]), len(sets[j])))
    ]


def _gold_groups(keys: Sequence[str], links: Sequence[tuple[int, int]]) -> list[str]:
    labels = links_to_labels(len(keys), links)
    first: dict[str, str] = {}
    return [first.setdefault(lab, k) for lab, k in zip(labels, keys, strict=True)]


def load_bbc(root: Path, limit: int | None) -> list[Doc]:
    rows = _read(root / "bbc_news" / "bbc_news_2225.csv")
    split = {r["doc_id"]: ("tune", "test")[i % 2] for i, r in enumerate(rows)}  # every other row
    if limit:
        rows = random.Random(SEED).sample(rows, min(limit, len(rows)))
    # BBC's real duplicates are one gold group each: the same text under two ids (138 groups
    # after normalising case and punctuation); the same headline over a revised text (27
    # pairs, e.g. "News Corp eyes video games market", 224 and 302 words: one article and a
    # later, longer version of it); half the 8-word sequences of one verbatim in the other.
    links = _reuse_links([r["text"] for r in rows])
    seen: dict[str, int] = {}
    for i, r in enumerate(rows):
        for k in (f"text:{norm_words(r['text'])}", f"title:{norm_words(r['title'])}"):
            if k in seen:
                links.append((i, seen[k]))
            seen.setdefault(k, i)
    gold = _gold_groups([r["doc_id"] for r in rows], links)
    return [
        Doc(r["doc_id"], r["title"], r["text"], g, split=split[r["doc_id"]])
        for r, g in zip(rows, gold, strict=True)
    ]


def ecb_duplicate_gold(docs: Sequence[Doc]) -> list[Doc]:
    """ECB+ with duplicate-level gold: each article its own group, except real copies (the
    same wire text under other headlines: half the 8-word sequences verbatim, see above)."""
    links = _reuse_links([d.text for d in docs])
    gold = _gold_groups([d.key for d in docs], links)
    return [replace(d, gold=g) for d, g in zip(docs, gold, strict=True)]


def load_ecb(root: Path, limit: int | None) -> list[Doc]:
    rows = _read(root / "ecb_plus" / "ecbplus_documents.csv")
    if limit:
        topics = sorted({r["topic"] for r in rows}, key=int)[: max(1, limit // 12)]
        rows = [r for r in rows if r["topic"] in topics]
    docs = []
    for r in rows:
        lines = [ln for ln in r["text"].splitlines() if ln.strip()]
        # ECB+ has no headlines: the first sentence stands in for one.  The 60 articles of
        # one line keep it as their text too (else the gold rule, which reads the text, saw
        # two copies of one sentence as two empty, different articles)
        title = lines[0] if lines else ""
        text = "\n".join(lines[1:]) or title
        split = "tune" if int(r["topic"]) % 2 else "test"  # odd topics tune, even held out
        docs.append(Doc(r["doc_id"], title, text, r["cluster_id"], split=split))
    return docs


def load_ecb_leads(root: Path, limit: int | None) -> list[Doc]:
    """A second same-event set of short news texts: ECB+ articles cut to their first
    sentence (ECB+ has no headlines; its lead sentence is the short text a headline-and-
    teaser feed carries), with the same cluster labels and topic split. The same events
    as the full texts, so not independent of them; but it asks the headline-only rules
    (the UCI shape, where chains were seen) on other news and on labels that are not
    crawl batches. No labelled same-event set of short texts ships in a package here."""
    return [
        replace(d, key=f"{d.key}:lead", title=d.title, text="")
        for d in load_ecb(root, limit)
        if d.title
    ]


def load_uci(root: Path, limit: int | None) -> list[Doc]:
    rows = _read(root / "uci_news_aggregator" / "uci_news_random_sample_4224.csv")
    if limit:
        stories = sorted({r["STORY"] for r in rows})
        keep = set(random.Random(SEED).sample(stories, min(len(stories), limit // 2)))
        rows = [r for r in rows if r["STORY"] in keep]
    rows.sort(key=lambda r: (int(r["TIMESTAMP"]), r["ID"]))
    return [
        Doc(
            r["ID"],
            r["TITLE"],
            "",
            r["STORY"],
            datetime.fromtimestamp(int(r["TIMESTAMP"]) / 1000, UTC),
            split=("tune", "test")[xxhash.xxh32_intdigest(r["STORY"].encode()) % 2],
        )
        for r in rows
    ]


def with_variants(docs: Sequence[Doc], share: float, rng: random.Random) -> list[Doc]:
    """The originals plus 1-3 variants of a `share` of them, shuffled (fixed seed)."""
    out = list(docs)
    for d in docs:
        if rng.random() >= share or len(d.text.split()) < 40:
            continue
        for k in range(rng.randint(1, 3)):
            names, title, text = variant(d.title, d.text, rng)
            out.append(replace(d, key=f"{d.key}~{k}", title=title, text=text, kind="+".join(names)))
    rng.shuffle(out)
    return out
