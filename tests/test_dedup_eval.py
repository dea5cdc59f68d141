"""The evaluation harness (bench.dedup_eval): its metrics, and a small run on real data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(ROOT))

from bench import dedup_eval  # noqa: E402
from bench.variants import TRANSFORMS, variant  # noqa: E402

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


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/newsdata absent")
def test_small_run_on_real_data() -> None:
    results = dedup_eval.run(DATA, limit=120)
    assert [r.level for r in results] == ["duplicate", "duplicate", "event", "event"]
    for r in results:
        assert r.n_docs > 0
        assert 0.0 <= r.ours.precision <= 1.0 and 0.0 <= r.ours.recall <= 1.0
    bbc_dup = results[0]
    assert bbc_dup.ours.precision >= 0.95 and bbc_dup.ours.recall >= 0.8
    assert results[2].baseline  # the tf-idf baseline is computed beside ours
