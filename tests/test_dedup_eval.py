"""The evaluation harness (bench.dedup_eval): its metrics, and a small run on real data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench import dedup_baseline, dedup_eval  # the repo root is on sys.path (`pythonpath`)
from bench.dedup_data import load_ecb_leads
from bench.dedup_eval import Doc, Metrics
from bench.dedup_metrics import SPLITS, mean_details, pair_details
from bench.variants import TRANSFORMS, variant

ROOT = Path(__file__).resolve().parents[1]

DATA = ROOT.parent / "shared" / "newsdata"


@pytest.mark.parametrize(
    ("gold", "pred", "p", "r", "b3p", "b3r"),
    [
        (["a", "a", "b"], ["x", "x", "y"], 1.0, 1.0, 1.0, 1.0),  # perfect
        (["a", "a", "b"], ["x", "y", "z"], 1.0, 0.0, 1.0, 4 / 6),  # all split
        (["a", "a", "b"], ["x", "x", "x"], 1 / 3, 1.0, 5 / 9, 1.0),  # all merged
        (["a", "b", "c"], ["x", "y", "z"], 1.0, 1.0, 1.0, 1.0),  # singletons: no pairs
    ],
)
def test_metrics(
    gold: list[str], pred: list[str], p: float, r: float, b3p: float, b3r: float
) -> None:
    m = dedup_eval.metrics(gold, pred)
    assert m.precision == pytest.approx(p)
    assert m.recall == pytest.approx(r)
    assert m.b3_precision == pytest.approx(b3p)
    assert m.b3_recall == pytest.approx(b3r)


def test_variants_are_deterministic_and_change_the_text() -> None:
    import random

    text = "\n\n".join(
        f"Paragraph {k} says the council met on Tuesday to discuss the harbour plan. "
        f"Members voted {k} times before agreeing."
        for k in range(6)
    )
    for name, fn in TRANSFORMS.items():
        out = fn("Council backs harbour plan", text, random.Random(1))
        assert out == fn("Council backs harbour plan", text, random.Random(1)), name
        assert out != ("Council backs harbour plan", text), name
    assert variant("T", text, random.Random(3)) == variant("T", text, random.Random(3))


def test_missing_data_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert dedup_eval.main(["--data", str(tmp_path)]) == 2
    assert "evaluation data missing" in capsys.readouterr().err


T0 = datetime(2014, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hours", "gold", "pred", "p", "r"),
    [
        # two crawls of one event under two labels: the cross-crawl pair is not judged
        ([0, 0, 30, 30], ["a", "a", "b", "b"], ["x", "x", "x", "x"], 1.0, 1.0),
        ([0, 0, 0.5, 30], ["a", "a", "b", "b"], ["x", "x", "x", "y"], 1 / 3, 1.0),
        ([0, 0, 30, 30], ["a", "a", "b", "b"], ["x", "y", "z", "z"], 1.0, 0.5),
    ],
)
def test_pair_metrics_within_a_horizon(
    hours: list[float], gold: list[str], pred: list[str], p: float, r: float
) -> None:
    docs = [
        Doc(str(i), "", "", g, T0 + timedelta(hours=h))
        for i, (h, g) in enumerate(zip(hours, gold, strict=True))
    ]
    m = dedup_eval.pair_metrics_within(docs, gold, pred, timedelta(hours=1))
    assert (m.precision, m.recall) == (pytest.approx(p), pytest.approx(r))


# two items with one headline the labels split (label noise), joined as copies; two with
# different headlines joined at the event level, rightly; one left alone
DETAIL_DOCS = [
    Doc("0", "Bank fails!", "", "g1", T0, split="test"),
    Doc("1", "bank FAILS", "", "g2", T0, split="test"),
    Doc("2", "Storm hits coast", "", "g3", T0 + timedelta(hours=3), split="test"),
    Doc("3", "Coast braces for storm", "", "g3", T0 + timedelta(hours=3), split="tune"),
    Doc("4", "Storm damage counted", "", "g3", T0 + timedelta(hours=30), split="tune"),
]
DETAIL_STORY = ["s1", "s1", "s2", "s2", "s5"]
DETAIL_DUP = ["d1", "d1", "d2", "d3", "d5"]


def test_pair_details_split_story_pairs_by_headline_and_level() -> None:
    got = pair_details(DETAIL_DOCS, DETAIL_STORY, DETAIL_DUP, ["c1", "c1", "c2", "c3", "c4"])
    assert list(got) == list(SPLITS) == ["test", "tune", "all"]  # held-out first
    d = got["all"]
    assert (d.same_headline_pairs, d.same_headline_precision) == (1, 0.0)
    assert (d.other_pairs, d.other_precision) == (1, 1.0)
    assert d.gold_split_same_headline == 1
    assert (d.copy_pairs, d.copy_precision, d.copy_vs_copies) == (1, 0.0, 1.0)
    assert (d.event_pairs, d.event_precision) == (1, 1.0)
    # the pair (2, 3) crosses splits: only "all" sees it
    assert got["test"].other_pairs == 0 and got["test"].same_headline_pairs == 1
    assert got["tune"].other_pairs == 0 and got["tune"].copy_pairs == 0
    assert mean_details([got, got]) == got


def test_pair_details_within_a_horizon_and_without_copy_labels() -> None:
    story = ["s", "s", "s", "s", "s"]  # everything in one story
    got = pair_details(DETAIL_DOCS, story, DETAIL_DUP, None, timedelta(hours=1))["all"]
    # pairs within an hour: (0, 1) and (2, 3); the 3 h and 30 h gaps are not judged
    assert (got.same_headline_pairs, got.other_pairs) == (1, 1)
    assert got.copy_vs_copies is None
    everything = pair_details(DETAIL_DOCS, story, DETAIL_DUP)["all"]
    assert everything.same_headline_pairs + everything.other_pairs == 10
    assert everything.other_precision == pytest.approx(3 / 9)


def test_by_split_and_mean() -> None:
    docs = [Doc("1", "", "", "a", split="tune"), Doc("2", "", "", "a", split="tune"),
            Doc("3", "", "", "b", split="test"), Doc("4", "", "", "b", split="test")]  # fmt: skip
    m = dedup_eval.by_split(docs, ["a", "a", "b", "b"], ["x", "x", "y", "z"])
    assert (m["tune"].recall, m["test"].recall, m["all"].recall) == (1.0, 0.0, 0.5)
    mean = dedup_eval.mean_metrics([m, m])
    assert mean["all"] == m["all"] and isinstance(mean["all"], Metrics)


def _m(p: float, r: float) -> Metrics:
    return Metrics(p, r, 0.0, 0.0, 0.0, 0.0, 0, 0)


def test_matched_precision_takes_the_highest_recall_at_our_precision_per_split() -> None:
    ts = dedup_baseline.BASELINE_THRESHOLDS
    # precision rises and recall falls with the threshold; "test" reaches 0.9 only at 0.5
    sweep = {
        t: {"tune": _m(min(0.95, t + 0.2), 1 - t), "test": _m(0.9 if t >= 0.5 else 0.5, 1 - t)}
        for t in ts
    }
    ours = {"tune": _m(0.8, 0.3), "test": _m(0.9, 0.6)}
    got = dedup_baseline.matched_precision(sweep, ours)
    tune, test = got["tune"], got["test"]
    assert tune is not None and tune[0] == pytest.approx(0.6)  # the first t with P >= 0.8
    assert test is not None and test[0] == pytest.approx(0.5)
    assert dedup_baseline.matched_precision(sweep, {"tune": _m(0.99, 0.1)}) == {"tune": None}
    note = dedup_baseline.matched_note(ours, got)
    assert note.startswith("target: tf-idf at matched precision")
    assert "tune ours 0.800/0.300 vs tf-idf t=0.60 0.800/0.400" in note


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/newsdata absent")
def test_small_run_on_real_data() -> None:
    results = dedup_eval.run(DATA, limit=120)
    assert [r.level for r in results] == ["duplicate", "duplicate", "event", "event", "event"]
    for r in results:
        assert r.n_docs > 0
        assert list(r.ours) == ["test", "tune", "all"]
        assert list(r.details) == ["test", "tune", "all"]
        for m in r.ours.values():
            assert 0.0 <= m.precision <= 1.0 and 0.0 <= m.recall <= 1.0
    bbc_dup = results[0]
    assert bbc_dup.ours["all"].precision >= 0.95 and bbc_dup.ours["all"].recall >= 0.8
    assert results[2].baseline  # the tf-idf baseline is computed beside ours
    assert any("tune" in k for k in results[2].baseline)  # its threshold: tuning split only
    for r in results[2:]:  # one matched-precision line per event data set, and the tuned one
        assert sum(n.startswith("target: tf-idf at matched precision") for n in r.notes) == 1
        assert sum(n.startswith("informational: recall against tfidf@") for n in r.notes) == 1
    assert results[0].story and results[2].details["all"].copy_vs_copies is not None
    assert "ECB+ lead" in results[4].name
    text = "\n".join(dedup_eval._fmt(r) for r in results)
    assert "story pairs by headline: identical" in text and "story pairs by level" in text


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/newsdata absent")
def test_ecb_leads_are_first_sentences_with_the_cluster_labels() -> None:
    leads = load_ecb_leads(DATA, None)
    assert len(leads) > 900 and all(d.title and not d.text for d in leads)
    assert len({d.gold for d in leads}) > 80 and {d.split for d in leads} == {"tune", "test"}


def test_run_index_applies_the_no_chains_rule() -> None:
    """Single links (the store before #18) chain a Sbarro report into a Mt. Gox story
    through "Mt. Gox files for Chapter 11 bankruptcy"; with the rule (the store's decision,
    the default) the Sbarro reports make their own story."""
    heads = [
        ("Mt. Gox bitcoin exchange files for bankruptcy in Tokyo", "gox"),
        ("Bitcoin exchange Mt. Gox seeks bankruptcy protection in Tokyo court", "gox"),
        ("Mt. Gox files for Chapter 11 bankruptcy", "gox"),
        ("Sbarro files for Chapter 11 bankruptcy", "sbarro"),
        ("Pizza chain Sbarro files for bankruptcy a second time", "sbarro"),
    ]
    docs = [Doc(str(i), t, "", g, T0 + timedelta(minutes=2 * i)) for i, (t, g) in enumerate(heads)]
    single_link = dedup_eval.ChainRule(single_link=True)
    _, single, _ = dedup_eval.run_index(docs, window=timedelta(days=3), chains=single_link)
    assert len(set(single)) == 1  # the chain
    _, ruled, _ = dedup_eval.run_index(docs, window=timedelta(days=3))
    assert ruled == ["0", "0", "0", "3", "3"]


def test_a_what_if_event_threshold_is_set_for_the_run_only() -> None:
    """Two undated council reports at an event cosine of ~0.33: apart at the store's
    threshold (0.41), one story when the what-if threshold is 0.3, and the module's
    threshold is back afterwards."""
    from ingest.dedupe import _match

    before = _match.EVENT_COSINE
    docs = [
        Doc("0", "Kirkwall harbour council approves ferry timetable", "Kirkwall harbour council "
            "approves ferry timetable. Councillors discussed "
            "lighthouse repairs, fishing quotas, salmon farms, tourism grants, school buses, "
            "broadband masts, peat cutting, wind turbines, museum roofs, library hours, pier "
            "tolls, seabird surveys.", "a"),
        Doc("1", "Kirkwall harbour council approves budget", "Kirkwall harbour council approves "
            "budget. Auditors questioned pension "
            "deficits, payroll software, consultancy invoices, vehicle leases, energy tariffs, "
            "insurance premiums, catering contracts, printing costs, travel claims.", "b"),
    ]  # fmt: skip
    assert dedup_eval.run_index(docs, chains=dedup_eval.ChainRule())[1] == ["0", "1"]
    rule = dedup_eval.ChainRule(event_cosine=0.3)
    assert dedup_eval.run_index(docs, chains=rule)[1] == ["0", "0"]
    assert before == _match.EVENT_COSINE
    assert rule.label().endswith("event cos 0.3")
