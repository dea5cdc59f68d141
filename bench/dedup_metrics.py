"""Scores of a grouping against labels, for bench.dedup_eval (pure).

    metrics(gold, pred) -> Metrics                 pairwise and B-cubed P / R / F1
    pair_metrics_within(docs, gold, pred, horizon) the same, pairs dated within `horizon` only
    by_split(docs, gold, pred, horizon)            {"test", "tune", "all"} -> Metrics
    pair_details(docs, labels, horizon)            {"test", "tune", "all"} -> PairDetail

`PairDetail` splits the predicted same-story pairs two ways. By headline: pairs whose
headlines are identical (after case and punctuation) against the rest -- where labels
disagree with an identical headline, the label is suspect (UCI labels are crawl batches),
so precision is given for both parts and the count of gold-split identical pairs beside.
By level: pairs that are copies (one duplicate group, `duplicate_of`) against pairs joined
at the event level only, each judged against the event labels, and copies also against the
copy labels where the data has them.

Pairwise figures count item pairs; B-cubed averages, over items, the share of an item's
predicted group that shares its label (precision) and of its labelled group that was
predicted with it (recall): one big wrong merge costs B-cubed precision in proportion to
the items it misleads, where pairwise precision counts it quadratically.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bench.dedup_data import Doc, norm_words

__all__ = [
    "SPLITS",
    "Metrics",
    "PairDetail",
    "by_split",
    "mean_details",
    "mean_metrics",
    "metrics",
    "pair_details",
    "pair_metrics_within",
]


@dataclass(frozen=True, slots=True)
class Metrics:
    precision: float
    recall: float
    f1: float
    b3_precision: float
    b3_recall: float
    b3_f1: float
    pairs_gold: int
    pairs_pred: int


# the held-out split first: it is the figure that counts; "tune" is where the thresholds of
# ingest.dedupe (and the baseline's) were chosen, "all" is both
SPLITS = ("test", "tune", "all")


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def metrics(gold: Sequence[str], pred: Sequence[str]) -> Metrics:
    """Pairwise precision/recall/F1 and B-cubed over two labelings of the same items."""
    cells = Counter(zip(gold, pred, strict=True))
    g_size = Counter(gold)
    p_size = Counter(pred)
    tp = sum(n * (n - 1) // 2 for n in cells.values())
    pg = sum(n * (n - 1) // 2 for n in g_size.values())
    pp = sum(n * (n - 1) // 2 for n in p_size.values())
    p = tp / pp if pp else 1.0
    r = tp / pg if pg else 1.0
    b3p = b3r = 0.0
    for (g, q), n in cells.items():
        b3p += n * n / p_size[q]
        b3r += n * n / g_size[g]
    total = len(gold) or 1
    b3p, b3r = b3p / total, b3r / total
    return Metrics(p, r, _f1(p, r), b3p, b3r, _f1(b3p, b3r), pg, pp)


def pair_metrics_within(
    docs: Sequence[Doc], gold: Sequence[str], pred: Sequence[str], horizon: timedelta
) -> Metrics:
    """Pairwise figures over the pairs dated within `horizon` of each other only (the pairs
    the labels can judge, see UCI_HORIZON); B-cubed over all items as usual."""
    order = sorted(range(len(docs)), key=lambda i: docs[i].published_at or datetime.min)
    tp = pg = pp = 0
    lo = 0
    for x, i in enumerate(order):
        when = docs[i].published_at
        assert when is not None
        while docs[order[lo]].published_at < when - horizon:  # type: ignore[operator]
            lo += 1
        for j in order[lo:x]:
            g, q = gold[i] == gold[j], pred[i] == pred[j]
            tp += g and q
            pg += g
            pp += q
    full = metrics(gold, pred)
    p = tp / pp if pp else 1.0
    r = tp / pg if pg else 1.0
    return replace(full, precision=p, recall=r, f1=_f1(p, r), pairs_gold=pg, pairs_pred=pp)


def by_split(
    docs: Sequence[Doc],
    gold: Sequence[str],
    pred: Sequence[str],
    horizon: timedelta | None = None,
) -> dict[str, Metrics]:
    """Metrics over the tuning items, the held-out items and all (pairs within each)."""
    out = {}
    for name in SPLITS:
        idx = [i for i, d in enumerate(docs) if name == "all" or d.split == name]
        g, q = [gold[i] for i in idx], [pred[i] for i in idx]
        if horizon is None:
            out[name] = metrics(g, q)
        else:
            out[name] = pair_metrics_within([docs[i] for i in idx], g, q, horizon)
    return out


def mean_metrics(runs: Sequence[dict[str, Metrics]]) -> dict[str, Metrics]:
    """Field-wise mean of per-split figures over several runs (arrival orders)."""
    out = {}
    for k in runs[0]:
        ms = [r[k] for r in runs]
        mean = {f: sum(getattr(m, f) for m in ms) / len(ms) for f in Metrics.__dataclass_fields__}
        counts = {f: int(mean.pop(f)) for f in ("pairs_gold", "pairs_pred")}
        out[k] = replace(ms[0], **mean, **counts)
    return out


# --------------------------------------------------------------------------- pair details


def _pairs2(n: int) -> int:
    return n * (n - 1) // 2


class _Agreement:
    """How many item pairs agree on each set of labelings ("story", "gold", ...): all pairs,
    or only those dated within `horizon` of each other."""

    def __init__(
        self,
        labels: Mapping[str, Sequence[str]],
        dates: Sequence[datetime | None] | None = None,
        horizon: timedelta | None = None,
    ) -> None:
        self.labels = labels
        self.names = list(labels)
        self.masks: Counter[int] | None = None
        if horizon is not None:
            assert dates is not None
            self.masks = self._windowed(dates, horizon)

    def _windowed(self, dates: Sequence[datetime | None], horizon: timedelta) -> Counter[int]:
        cols = [self.labels[n] for n in self.names]
        order = sorted(range(len(dates)), key=lambda i: dates[i] or datetime.min)
        masks: Counter[int] = Counter()
        lo = 0
        for x, i in enumerate(order):
            when = dates[i]
            assert when is not None
            while dates[order[lo]] < when - horizon:  # type: ignore[operator]
                lo += 1
            for j in order[lo:x]:
                masks[sum(1 << k for k, col in enumerate(cols) if col[i] == col[j])] += 1
        return masks

    def agree(self, *names: str) -> int:
        """Pairs with equal labels in every one of `names`."""
        if self.masks is not None:
            want = sum(1 << self.names.index(n) for n in names)
            return sum(c for m, c in self.masks.items() if m & want == want)
        cells = Counter(zip(*(self.labels[n] for n in names), strict=True))
        return sum(_pairs2(c) for c in cells.values())


@dataclass(frozen=True, slots=True)
class PairDetail:
    """The predicted same-story pairs of one split, split by headline and by level (see the
    module docstring). A precision is 1.0 over no pairs; `*_pairs` say how many there were.
    `copy_vs_copies`: precision of the copy pairs against copy labels (None: the data has
    none)."""

    same_headline_pairs: float
    same_headline_precision: float
    other_pairs: float
    other_precision: float
    gold_split_same_headline: float  # pairs with identical headlines the labels split
    copy_pairs: float
    copy_precision: float
    copy_vs_copies: float | None
    event_pairs: float
    event_precision: float


def _ratio(num: int, den: int) -> float:
    return num / den if den else 1.0


def _detail(agree: _Agreement, has_copies: bool) -> PairDetail:
    a = agree.agree
    story, hits = a("story"), a("story", "gold")
    same, same_hits = a("story", "title"), a("story", "title", "gold")
    copies, copy_hits = a("story", "dup"), a("story", "dup", "gold")
    return PairDetail(
        same_headline_pairs=same,
        same_headline_precision=_ratio(same_hits, same),
        other_pairs=story - same,
        other_precision=_ratio(hits - same_hits, story - same),
        gold_split_same_headline=a("title") - a("title", "gold"),
        copy_pairs=copies,
        copy_precision=_ratio(copy_hits, copies),
        copy_vs_copies=_ratio(a("story", "dup", "copy"), copies) if has_copies else None,
        event_pairs=story - copies,
        event_precision=_ratio(hits - copy_hits, story - copies),
    )


def pair_details(
    docs: Sequence[Doc],
    story: Sequence[str],
    dup: Sequence[str],
    copies: Sequence[str] | None = None,
    horizon: timedelta | None = None,
) -> dict[str, PairDetail]:
    """Per split, the predicted same-story pairs (`story` labels) by headline and by level
    (`dup`: predicted copy groups), judged against each Doc's `gold` and, when given, the
    copy labels `copies`; pairs dated within `horizon` only when given."""
    out = {}
    for name in SPLITS:
        idx = [i for i, d in enumerate(docs) if name == "all" or d.split == name]
        labels = {
            "story": [story[i] for i in idx],
            "gold": [docs[i].gold for i in idx],
            "title": [norm_words(docs[i].title) or f"\0{i}" for i in idx],
            "dup": [dup[i] for i in idx],
        }
        if copies is not None:
            labels["copy"] = [copies[i] for i in idx]
        dates = [docs[i].published_at for i in idx]
        out[name] = _detail(_Agreement(labels, dates, horizon), copies is not None)
    return out


def mean_details(runs: Sequence[dict[str, PairDetail]]) -> dict[str, PairDetail]:
    """Field-wise mean over several runs (arrival orders)."""
    out = {}
    for k in runs[0]:
        ds = [r[k] for r in runs]
        fields: dict[str, float | None] = {}
        for f in PairDetail.__dataclass_fields__:
            vals = [getattr(d, f) for d in ds]
            fields[f] = None if vals[0] is None else sum(vals) / len(vals)
        out[k] = PairDetail(**fields)  # type: ignore[arg-type]
    return out
