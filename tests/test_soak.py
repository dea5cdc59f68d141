"""The soak's judgments (bench/soak.py), table-tested: what counts as a lock error shown to
an operator, a schedule outside its bounds, the RSS slope. The soak itself runs in CI beside
`make test` (.ci/run, 3 minutes) and for an hour with `make soak`."""

from __future__ import annotations

import pytest

from bench.soak import lock_errors, other_errors, rss_slope, schedule_faults


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Error: data/ingest.db: database is locked", 1),
        ("2026-12-04 ERROR tick failed: the database file is busy", 1),
        ("Error: postgresql://u@h/db: deadlock detected", 1),
        ("could not obtain lock on row in relation feeds", 1),
        ("skipped http://a/f.xml: another run holds it until 2026-12-04 14:24:12Z", 0),
        ("3 feeds: 3 ok, 0 not modified, 0 unchanged, 0 failed; 5 new, 0 updated articles", 0),
        ("failed http://a/f.xml: the server answered 503 Service Unavailable", 0),
    ],
)
def test_lock_errors_are_the_lines_an_operator_reads_as_locking(text: str, found: int) -> None:
    assert len(lock_errors(text)) == found


def test_other_errors_are_tracebacks_store_errors_and_failed_ticks() -> None:
    text = "\n".join(
        [
            "Traceback (most recent call last):",
            "Error: data/ingest.db: the disk is full",
            "2026-12-04 10:00:00,000 ERROR tick failed: x; the next tick will try again",
            "2026-12-04 10:00:00,000 WARNING fetch",
            "1 feed: 1 ok; 0 new, 0 updated articles in 0.1 s",
        ]
    )
    assert len(other_errors(text)) == 3


def test_a_schedule_outside_its_bounds_is_named() -> None:
    rows = [
        ("f1", "2026-12-04T10:00:00Z", "ok", "2026-12-04T10:00:05Z"),  # 5 s: inside 2..10
        ("f1", "2026-12-04T10:00:06Z", "ok", "2026-12-04T10:00:36Z"),  # 30 s: too long
        ("f2", "2026-12-04T10:00:00Z", "error", "2026-12-04T10:01:10Z"),  # 70 s <= 60 * 1.25
        ("f2", "2026-12-04T10:01:10Z", "error", "2026-12-04T10:03:00Z"),  # 110 s: too long
        ("f3", "2026-12-04T10:00:00Z", "ok", "2026-12-04T10:00:00Z"),  # 0 s: too soon
        ("f4", "2026-12-04T10:00:00Z", "ok", None),
    ]
    faults, intervals, late = schedule_faults(rows, lo=2, hi=10, cap=60)
    assert [f.split(" at ")[0] for f in faults] == ["f1", "f2", "f3", "f4"]
    assert "next poll in 30 s" in faults[0] and "no next poll" in faults[3]
    assert intervals == [5.0, 30.0, 0.0]
    assert late == [1.0, 0.0]  # f1 came 1 s after its poll was due, f2 on time


@pytest.mark.parametrize(
    ("samples", "slope"),
    [
        ([(0.0, 10.0), (1.0, 60.0), (2.0, 61.0), (3.0, 61.0), (4.0, 61.0)], 0.0),  # warm-up
        ([(0.0, 10.0), (1.0, 20.0), (2.0, 30.0), (3.0, 40.0)], 10.0),  # a leak
        ([(0.0, 10.0)], 0.0),
    ],
)
def test_the_rss_slope_leaves_out_the_warm_up(
    samples: list[tuple[float, float]], slope: float
) -> None:
    assert rss_slope(samples) == pytest.approx(slope, abs=1e-9)
