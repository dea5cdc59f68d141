"""Golden records: real captures from ../shared/corpus through parse + normalize, compared
with tests/golden/<name>.expected.json (written by tests/golden/make_golden.py, reviewed by
hand). The feeds are not copied into the repository: a case is skipped when its source is
absent. After an intended change: rerun make_golden.py, review the diff, commit both.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(GOLDEN))

import make_golden  # noqa: E402

CASES = sorted(p.name.removesuffix(".expected.json") for p in GOLDEN.glob("*.expected.json"))


def test_there_are_a_dozen_cases_of_different_formats() -> None:
    assert len(CASES) >= 12
    assert set(CASES) == set(make_golden.CASES)
    formats = {
        json.loads((GOLDEN / f"{c}.expected.json").read_text())["feed"]["format"] for c in CASES
    }
    assert {"rss20", "atom10", "rss10", "json10", "json11"} <= formats


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    expected: dict[str, Any] = json.loads(
        (GOLDEN / f"{name}.expected.json").read_text(encoding="utf-8")
    )
    if not (make_golden.CORPUS / expected["source"]).exists():
        pytest.skip(f"../shared/corpus/{expected['source']} is absent")
    actual = json.loads(json.dumps(make_golden.build(name), ensure_ascii=False))
    assert actual["feed"] == expected["feed"]
    assert len(actual["articles"]) == len(expected["articles"])
    for got, want in zip(actual["articles"], expected["articles"], strict=True):
        assert got == want, f"{name}: {want['identity']}"
