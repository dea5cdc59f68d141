"""Stored timestamps: one textual form, read back exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.timeutil import from_iso, to_iso


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24T22:45:33Z", datetime(2026, 11, 24, 22, 45, 33, tzinfo=UTC)),
        ("2026-11-24T22:45:33+00:00", datetime(2026, 11, 24, 22, 45, 33, tzinfo=UTC)),
        ("2026-11-24T23:45:33+01:00", datetime(2026, 11, 24, 22, 45, 33, tzinfo=UTC)),
        ("2026-11-24T22:45:33", datetime(2026, 11, 24, 22, 45, 33, tzinfo=UTC)),  # naive: UTC
        ("2026-11-24T22:45:33.250Z", datetime(2026, 11, 24, 22, 45, 33, 250000, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_from_iso_reads_every_form_as_utc(text: str | None, expected: datetime | None) -> None:
    got = from_iso(text)
    assert got == expected
    if got is not None:
        assert got.utcoffset() == timedelta(0)


def test_to_iso_round_trips() -> None:
    dt = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    text = to_iso(dt)
    assert text == "2026-03-28T23:30:00Z"
    assert from_iso(text) == dt
