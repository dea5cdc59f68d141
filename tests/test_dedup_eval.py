"""The evaluation harness (bench.dedup_eval): its metrics, and a small run on real data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench import dedup_eval  # the repo root is on sys.path (pytest `pythonpath`)
from bench.dedup_eval import Doc, Metrics
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


def test_by_split_and_mean() -> None:
    docs = [Doc("1", "", "", "a", split="tune"), Doc("2", "", "", "a", split="tune"),
            Doc("3", "", "", "b", split="test"), Doc("4", "", "", "b", split="test")]  # fmt: skip
    m = dedup_eval.by_split(docs, ["a", "a", "b", "b"], ["x", "x", "y", "z"])
    assert (m["tune"].recall, m["test"].recall, m["all"].recall) == (1.0, 0.0, 0.5)
    mean = dedup_eval.mean_metrics([m, m])
    assert mean["all"] == m["all"] and isinstance(mean["all"], Metrics)


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/newsdata absent")
def test_small_run_on_real_data() -> None:
    results = dedup_eval.run(DATA, limit=120)
    assert [r.level for r in results] == ["duplicate", "duplicate", "event", "event"]
    for r in results:
        assert r.n_docs > 0
        assert set(r.ours) == {"tune", "test", "all"}
        for m in r.ours.values():
            assert 0.0 <= m.precision <= 1.0 and 0.0 <= m.recall <= 1.0
    bbc_dup = results[0]
    assert bbc_dup.ours["all"].precision >= 0.95 and bbc_dup.ours["all"].recall >= 0.8
    assert results[2].baseline  # the tf-idf baseline is computed beside ours
    assert any("tune" in k for k in results[2].baseline)  # its threshold: tuning split only
